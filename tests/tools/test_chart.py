from __future__ import annotations

import plotly.graph_objects as go
import pytest

from tools.chart_png import write_png


def test_chart_is_a_valid_plotly_figure_and_renders_to_png(synthetic_registry, tmp_path):
    outcome = synthetic_registry.call(
        "price_chart", {"tickers": ["AAA", "BBB"], "start": "2024-01-02", "end": "2024-01-08"}
    )
    assert not outcome.is_error, outcome.text
    result = outcome.result
    figure = go.Figure(result.figure)  # raises if the JSON is not a valid plotly figure
    assert [trace.name for trace in figure.data] == ["AAA", "BBB"]
    assert result.final_values["AAA"] == pytest.approx(110.0)  # rebased: 110 / 100 * 100
    assert "figure" not in outcome.text and "AAA 110.00" in outcome.text
    path = write_png(result.figure, tmp_path / "charts" / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raw = synthetic_registry.call(
        "price_chart",
        {"tickers": ["AAA"], "start": "2024-01-02", "end": "2024-01-08", "normalize": False},
    )
    assert raw.result.final_values == {"AAA": 110.0}
