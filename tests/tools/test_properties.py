"""Property test: random argument payloads thrown at every tool never crash the registry and never
hang past the timeout; every outcome is a short text the model can read."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import load_settings
from tests.tools.conftest import make_context
from tools.discovery import build_registry
from tools.market.calendar import TradingCalendar
from tools.market.snapshot import SnapshotProvider

TIMEOUT_S = 5.0
MAX_CHARS = 2000

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
day_strings = st.one_of(
    st.dates(min_value=date(2023, 12, 25), max_value=date(2024, 1, 12)).map(date.isoformat),
    st.dates(min_value=date(2023, 12, 25), max_value=date(2024, 1, 12)).map(date.isoformat),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.sampled_from(["2024-13-01", "yesterday", "", "2024-01-02T10:00:00"]),
)
tickers = st.sampled_from(["AAA", "BBB", "GAP", "aaa", "AAA", "BBB", "ZZZ", "", "A" * 20, "^GSPC"])
expressions = st.one_of(
    st.text(alphabet="0123456789+-*/%().e ,sqrtlogminax", max_size=40),
    st.sampled_from(["9**9**9", "1/0", "(" * 50 + "1" + ")" * 50, "__import__('os')"]),
)


def value_for(name: str, spec: dict) -> st.SearchStrategy:
    """Plausible values for a parameter (so calls get past validation), mixed with junk."""
    kind = spec.get("type") or next((a.get("type") for a in spec.get("anyOf", [])), None)
    plausible: st.SearchStrategy
    if name in {"ticker", "benchmark"}:
        plausible = tickers
    elif name == "tickers":
        plausible = st.lists(tickers, max_size=8)
    elif spec.get("format") == "date" or name in {"start", "end", "date"}:
        plausible = day_strings
    elif name == "expression":
        plausible = expressions
    elif name in {"portfolio", "name"}:
        plausible = st.sampled_from(["p1", "p1", "p2", "", "x" * 200])
    elif name == "cashflows":
        plausible = st.lists(st.floats(min_value=-1e6, max_value=1e6), max_size=30)
    elif "enum" in spec:
        plausible = st.sampled_from(spec["enum"])
    elif kind in {"number", "integer"}:
        plausible = st.one_of(
            st.floats(min_value=0.001, max_value=0.2),
            st.floats(min_value=-2, max_value=400),
            st.integers(-5, 1000),
        )
    else:
        plausible = scalars
    return plausible


def payloads(schema: dict) -> st.SearchStrategy:
    parameters = schema["function"]["parameters"]
    properties = parameters.get("properties", {})
    required = set(parameters.get("required", []))
    good = {name: value_for(name, spec) for name, spec in properties.items()}
    # Mostly well-formed calls (required arguments present, plausible values) so the tools'
    # own code runs; the rest mix in junk values, missing and unknown keys.
    plausible = st.fixed_dictionaries(
        {n: v for n, v in good.items() if n in required},
        optional={n: v for n, v in good.items() if n not in required},
    )
    mixed = st.fixed_dictionaries({}, optional={n: st.one_of(v, scalars) for n, v in good.items()})
    shaped = st.one_of(plausible, plausible, mixed)
    junk = st.one_of(
        st.dictionaries(st.text(max_size=8), scalars, max_size=4),
        st.text(max_size=40),  # not JSON, or JSON that is not an object
        st.lists(scalars, max_size=3),
    )
    return st.one_of(shaped, shaped, shaped, junk)


@pytest.fixture(scope="module")
def property_registry(tmp_path_factory):
    from tests.tools.conftest import SYNTHETIC  # noqa: F401  (same data as the other tests)

    root = tmp_path_factory.mktemp("props")
    snapshot_dir = root / "snapshot"
    _write_snapshot(snapshot_dir)
    settings_ = load_settings(
        data_dir=root / "data",
        cache_dir=root / "cache",
        market_live=False,
        tool_timeout_s=TIMEOUT_S,
        tool_result_max_chars=MAX_CHARS,
        tool_modules=[],
        enabled_tools=None,
        disabled_tools=[],
    )
    context = make_context(settings_, SnapshotProvider(snapshot_dir), TradingCalendar())
    registry = build_registry(context)
    registry.call("portfolio_create", {"name": "p1"})
    registry.call(
        "portfolio_add_transaction",
        {"portfolio": "p1", "ticker": "AAA", "side": "buy", "quantity": 2, "date": "2024-01-03"},
    )
    yield registry
    context.close()


def _write_snapshot(directory):
    from tests.tools.conftest import SYNTHETIC

    directory.mkdir(parents=True)
    for ticker, rows in {**SYNTHETIC, "SPY": SYNTHETIC["BBB"]}.items():  # SPY: default benchmark
        lines = ["date,open,high,low,close,adj_close,volume"]
        lines += [f"{day},{p},{p},{p},{p},,1000" for day, p in rows]
        (directory / f"{ticker}.csv").write_text("\n".join(lines) + "\n")
    (directory / "companies.csv").write_text("ticker,name,sector,industry,source\nAAA,A,S,I,m\n")


def property_check(registry, name: str):
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(payload=payloads(registry.schema(name)))
    def check(payload):
        started = time.perf_counter()
        outcome = registry.call(name, payload)
        elapsed = time.perf_counter() - started
        assert isinstance(outcome.text, str) and outcome.text
        assert len(outcome.text) <= MAX_CHARS + 120
        assert elapsed < TIMEOUT_S + 1.0
        if outcome.is_error:
            assert outcome.text.startswith("error: ") and "Traceback" not in outcome.text
            assert f"{name} failed:" not in outcome.text, f"{name} crashed: {outcome.text}"
        else:
            assert outcome.result is not None and outcome.result.source

    return check


def test_every_tool_survives_random_payloads(property_registry):
    assert len(property_registry) >= 20
    for name in property_registry.names:
        property_check(property_registry, name)()
