"""Price, return, risk, compare, company and fundamentals tools, through the registry."""

from __future__ import annotations

import csv
import math
from datetime import date

import pytest


@pytest.fixture
def real(registry, snapshot):  # skips without HUIJIN_MARKET_SNAPSHOT
    return registry


def ok(registry, name, arguments):
    outcome = registry.call(name, arguments)
    assert not outcome.is_error, outcome.text
    assert outcome.result.source and outcome.result.as_of
    assert "source: " in outcome.text
    return outcome.result


def closes(snapshot_dir, ticker) -> dict[str, float]:
    """An independent reading of the CSV (csv module, no pandas) for cross-checks."""
    with (snapshot_dir / f"{ticker}.csv").open() as handle:
        return {row["date"]: float(row["close"]) for row in csv.DictReader(handle)}


def test_done_when_price_history(real):
    result = ok(
        real, "get_price_history", {"ticker": "AAPL", "start": "2024-01-02", "end": "2024-01-31"}
    )
    assert (
        result.num_bars == 21
        and result.start == date(2024, 1, 2)
        and result.end == date(2024, 1, 31)
    )
    assert result.first_close == 185.64
    assert "offline snapshot heliar-k/market-base" in result.source
    assert "not dividend-adjusted" in result.source
    assert result.table[0] == {
        "date": "2024-01-02",
        "open": 187.15,
        "high": 188.44,
        "low": 183.89,
        "close": 185.64,
        "adj_close": None,
        "volume": 82488700,
    }


def test_long_history_is_sampled_in_text_but_whole_in_the_table(real):
    outcome = real.call(
        "get_price_history", {"ticker": "JPM", "start": "2010-01-01", "end": "2020-12-31"}
    )
    assert not outcome.is_error
    assert len(outcome.result.table) > 2500
    assert "every" in outcome.text and len(outcome.text) < 4000


def test_quote_says_how_old_it_is(real):
    result = ok(real, "get_quote", {"ticker": "NVDA"})
    assert result.date == date(2026, 8, 21)
    assert any("days old" in note for note in result.notes)
    dated = ok(real, "get_quote", {"ticker": "AAPL", "date": "2024-01-03"})
    assert dated.close == 184.25 and dated.previous_close == 185.64
    assert dated.change_pct == pytest.approx(184.25 / 185.64 - 1)
    holiday = ok(real, "get_quote", {"ticker": "AAPL", "date": "2024-01-15"})
    assert holiday.date == date(2024, 1, 12)
    assert any("Martin Luther King" in note for note in holiday.notes)


def test_returns_match_an_independent_computation(real, snapshot_dir):
    result = ok(real, "get_returns", {"ticker": "NVDA", "start": "2025-01-02", "end": "2025-06-30"})
    nvda, spy = closes(snapshot_dir, "NVDA"), closes(snapshot_dir, "SPY")
    assert result.total_return == pytest.approx(nvda["2025-06-30"] / nvda["2025-01-02"] - 1)
    assert result.benchmark == "SPY"
    assert result.benchmark_total_return == pytest.approx(spy["2025-06-30"] / spy["2025-01-02"] - 1)
    assert result.excess_return == pytest.approx(
        result.total_return - result.benchmark_total_return
    )
    days = (date(2025, 6, 30) - date(2025, 1, 2)).days
    assert result.annualized_return == pytest.approx(
        (1 + result.total_return) ** (365.25 / days) - 1
    )
    assert not result.includes_dividends and "price return" in result.to_text()


def test_mixed_price_bases_are_called_out(real):
    result = ok(real, "get_returns", {"ticker": "JPM", "start": "2024-01-02", "end": "2024-12-31"})
    assert result.includes_dividends
    assert any("not like for like" in note for note in result.notes)


def test_one_day_period(real):
    result = ok(
        real,
        "get_returns",
        {"ticker": "AAPL", "start": "2024-01-02", "end": "2024-01-02", "benchmark": None},
    )
    assert result.total_return == 0.0 and result.annualized_return is None
    risk = ok(
        real, "get_risk_metrics", {"ticker": "AAPL", "start": "2024-01-02", "end": "2024-01-02"}
    )
    assert risk.annualized_volatility is None and risk.sharpe_ratio is None
    assert any("fewer than 2 daily returns" in note for note in risk.notes)


def test_huge_range_is_clamped_with_notes(real):
    result = ok(real, "get_returns", {"ticker": "MSFT", "start": "1900-01-01", "end": "2100-12-31"})
    assert result.start == date(2016, 6, 28)  # SPY's first day; MSFT's is one day earlier
    assert any("MSFT data starts on 2016-06-27" in note for note in result.notes)
    assert any("common window" in note for note in result.notes)
    assert any("ends on 2026-08-21" in note for note in result.notes)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"ticker": "ZZZZ", "start": "2024-01-02"}, "ZZZZ has no price file"),
        ({"ticker": "AAPL", "start": "2024-03-01", "end": "2024-01-01"}, "swap them"),
        ({"ticker": "AAPL", "start": "2030-01-01"}, "in the future"),
        ({"ticker": "AAPL", "start": "1800-01-01"}, "greater than or equal to 1900-01-01"),
        ({"ticker": "AAPL", "start": "01/02/2024"}, "start: Input should be a valid date"),
        ({"ticker": ["AAPL"], "start": "2024-01-02"}, "ticker: Input should be a valid string"),
        ({"ticker": "AAPL; DROP", "start": "2024-01-02"}, "ticker: String should match pattern"),
        ({"ticker": "HOOD", "start": "2019-01-01", "end": "2020-01-01"}, "data covers 2021-07-29"),
    ],
)
def test_bad_input_is_one_clear_error(real, arguments, expected):
    outcome = real.call("get_price_history", arguments)
    assert outcome.is_error and expected in outcome.text and "\n" not in outcome.text


def test_risk_metrics_on_hand_made_prices(synthetic_registry):
    result = ok(
        synthetic_registry,
        "get_risk_metrics",
        {"ticker": "AAA", "start": "2024-01-02", "end": "2024-01-08", "benchmark": "BBB"},
    )
    returns = [0.1, -0.1, 22 / 99, -11 / 121]
    mean = sum(returns) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert result.num_returns == 4
    assert result.annualized_volatility == pytest.approx(std * math.sqrt(252))
    assert result.sharpe_ratio == pytest.approx(mean / std * math.sqrt(252))
    assert result.max_drawdown == pytest.approx(-0.10)
    assert (result.drawdown_peak, result.drawdown_trough, result.drawdown_recovery) == (
        date(2024, 1, 3),
        date(2024, 1, 4),
        date(2024, 1, 5),
    )
    assert result.beta == pytest.approx(2.0, abs=1e-6)
    assert result.correlation == pytest.approx(1.0, abs=1e-9)
    assert "test/synthetic" in result.source


def test_returns_on_hand_made_prices(synthetic_registry):
    result = ok(
        synthetic_registry,
        "get_returns",
        {"ticker": "AAA", "start": "2024-01-06", "end": "2024-01-08", "benchmark": "BBB"},
    )
    # 2024-01-06 is a Saturday: the base is Friday's close 121, so 110 / 121 - 1
    assert result.start == date(2024, 1, 5) and result.total_return == pytest.approx(110 / 121 - 1)
    assert result.benchmark_total_return == pytest.approx(-11 / 121 / 2, abs=1e-9)
    assert any("Saturday" in note for note in result.notes)


def test_compare_tickers(real):
    result = ok(
        real,
        "compare_tickers",
        {"tickers": ["AAPL", "MSFT", "JPM"], "start": "2024-01-02", "end": "2025-12-31"},
    )
    assert [row["ticker"] for row in result.table] == ["AAPL", "MSFT", "JPM"]
    assert result.end == date(2025, 10, 8)  # JPM's data ends; all are cut to the common window
    assert result.table[0]["correlation_with_first"] == pytest.approx(1.0)
    single = ok(real, "get_returns", {"ticker": "MSFT", "start": "2024-01-02", "end": "2025-10-08"})
    assert result.table[1]["total_return"] == pytest.approx(single.total_return)
    assert real.call(
        "compare_tickers", {"tickers": ["AAPL", "AAPL"], "start": "2024-01-02"}
    ).is_error


def test_company_profile_and_fundamentals(real):
    profile = ok(real, "get_company_profile", {"ticker": "brk-b"})
    assert profile.name == "Berkshire Hathaway" and profile.sector == "Financials"
    assert "companies.csv" in profile.source
    fundamentals = ok(real, "get_fundamentals", {"ticker": "AAPL", "years": 2})
    assert len(fundamentals.table) == 2 and fundamentals.as_of == date(2025, 9, 30)
    fy2024 = fundamentals.table[1]
    assert fy2024["total_revenue"] == 391_035_000_000
    assert fy2024["net_margin"] == pytest.approx(93_736_000_000 / 391_035_000_000)
    assert "391.04B" in fundamentals.summary()
    missing = real.call("get_fundamentals", {"ticker": "SPY"})
    assert missing.is_error and "fundamentals" in missing.text


def test_position_pnl_matches_an_independent_computation(real, snapshot_dir):
    arguments = {
        "tickers": ["NVDA", "KO"],
        "shares": [10, 5],
        "start": "2023-03-01",
        "end": "2024-03-01",
    }
    outcome = real.call("position_pnl", arguments)
    result = ok(real, "position_pnl", arguments)
    nvda, ko = closes(snapshot_dir, "NVDA"), closes(snapshot_dir, "KO")
    expected = 10 * (nvda["2024-03-01"] - nvda["2023-03-01"]) + 5 * (
        ko["2024-03-01"] - ko["2023-03-01"]
    )
    assert result.pnl == pytest.approx(expected)
    assert result.cost == pytest.approx(10 * nvda["2023-03-01"] + 5 * ko["2023-03-01"])
    assert outcome.text.startswith(f"profit/loss 2023-03-01 to 2024-03-01: {expected:,.2f} dollars")
    unpaired = real.call("position_pnl", {**arguments, "shares": [10]})
    assert unpaired.is_error and "one share count per ticker" in unpaired.text


def test_comparisons_say_who_won_and_by_how_much(real, snapshot_dir):
    period = {"start": "2024-01-02", "end": "2024-12-31"}
    outcome = real.call("compare_tickers", {"tickers": ["KO", "NVDA"], **period})
    nvda, ko = closes(snapshot_dir, "NVDA"), closes(snapshot_dir, "KO")
    gap = (ko["2024-12-31"] / ko["2024-01-02"] - nvda["2024-12-31"] / nvda["2024-01-02"]) * 100
    lines = outcome.text.splitlines()
    assert lines[1].startswith("highest total return: NVDA (")
    assert lines[2].startswith(f"KO minus NVDA: {gap:.2f} percentage points")
    returns = real.call("get_returns", {"ticker": "KO", "benchmark": "NVDA", **period})
    assert returns.text.splitlines()[1] == "higher total return: NVDA"
    assert f"({gap:.2f} percentage points)" in returns.text
