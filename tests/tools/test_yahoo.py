"""The live path: yfinance is faked only at its network edge (`yfinance.Ticker`); parsing, the
database cache, the fallback to the snapshot and the fail-fast behaviour are the real code."""

from __future__ import annotations

import time
from datetime import date

import pandas as pd
import pytest
import yfinance
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from sqlalchemy import func, select

from core.db.market_models import MarketCacheEntry
from tests.tools.conftest import TODAY, make_context
from tools.discovery import build_registry
from tools.market.cache import MarketCache
from tools.market.service import MarketData
from tools.market.snapshot import SnapshotProvider
from tools.market.yahoo import YFinanceProvider, merge_statements, parse_history


def yahoo_frame(rows: list[tuple[str, float]]) -> pd.DataFrame:
    """The shape yfinance returns: tz-aware 'Date' index, capitalised columns."""
    index = pd.DatetimeIndex([pd.Timestamp(day) for day, _ in rows], name="Date")
    index = index.tz_localize("America/New_York")
    closes = [price for _, price in rows]
    return pd.DataFrame(
        {
            "Open": closes,
            "High": [p + 1 for p in closes],
            "Low": [p - 1 for p in closes],
            "Close": closes,
            "Adj Close": [p * 0.99 for p in closes],
            "Volume": [1_000_000] * len(rows),
        },
        index=index,
    )


class FakeYahoo:
    """Stands in for Yahoo's servers: answers from `frames`, or raises `error`, and counts calls."""

    def __init__(self) -> None:
        self.frames: dict[str, pd.DataFrame] = {}
        self.error: BaseException | None = None
        self.delay_s = 0.0
        self.calls: list[tuple[str, str]] = []

    def ticker_class(self) -> type:
        fake = self

        class Ticker:
            def __init__(self, symbol: str, session: object = None) -> None:
                self.symbol = symbol

            def _answer(self, what: str) -> None:
                fake.calls.append((what, self.symbol))
                time.sleep(fake.delay_s)
                if fake.error is not None:
                    raise fake.error

            def history(self, **kwargs: object) -> pd.DataFrame:
                self._answer("history")
                assert kwargs["auto_adjust"] is False and kwargs["raise_errors"] is True
                return fake.frames.get(self.symbol, pd.DataFrame())

            def get_info(self) -> dict:
                self._answer("info")
                return {"longName": "Live Corp", "sector": "Technology", "country": "US"}

            def get_income_stmt(self, freq: str) -> pd.DataFrame:
                self._answer("income")
                return pd.DataFrame(
                    {
                        pd.Timestamp("2024-12-31"): [100.0, 10.0],
                        pd.Timestamp("2023-12-31"): [90.0, None],
                    },
                    index=["Total Revenue", "Net Income"],
                )

            def get_balance_sheet(self, freq: str) -> pd.DataFrame:
                return pd.DataFrame({pd.Timestamp("2024-12-31"): [500.0]}, index=["Total Assets"])

        return Ticker


@pytest.fixture
def fake_yahoo(monkeypatch) -> FakeYahoo:
    fake = FakeYahoo()
    monkeypatch.setattr(yfinance, "Ticker", fake.ticker_class())
    return fake


@pytest.fixture
def live_context(settings, synthetic_dir, calendar, database, tmp_path):
    live = YFinanceProvider(timeout_s=0.5, cache_dir=tmp_path / "yf")
    context = make_context(
        settings, SnapshotProvider(synthetic_dir), calendar, live=live, db=database
    )
    yield context
    context.close()


ARGS = {"ticker": "LIVE", "start": "2024-01-02", "end": "2024-01-04"}


def test_live_answer_is_parsed_and_cached_in_the_database(fake_yahoo, live_context, database):
    fake_yahoo.frames["LIVE"] = yahoo_frame(
        [("2024-01-02", 10.0), ("2024-01-03", 11.0), ("2024-01-04", 12.0)]
    )
    registry = build_registry(live_context)
    first = registry.call("get_price_history", ARGS)
    assert not first.is_error, first.text
    assert first.result.source.startswith("Yahoo Finance via yfinance (live)")
    assert first.result.last_close == 12.0 and first.result.table[0]["adj_close"] == pytest.approx(
        9.9
    )
    assert fake_yahoo.calls == [("history", "LIVE")]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(MarketCacheEntry)) == 1
    # Asked again, even by a new process (a new MarketData on the same database): no request.
    market = MarketData(
        live=live_context.market.live,
        snapshot=None,
        cache=MarketCache(lambda: database),
        calendar=live_context.market.calendar,
        today=lambda: TODAY,
    )
    again = market.period("LIVE", date(2024, 1, 2), date(2024, 1, 4))
    assert fake_yahoo.calls == [("history", "LIVE")]
    assert "cached, fetched" in again.source
    # The live return uses adj_close (dividend-adjusted); the price history shows close.
    returns = registry.call("get_returns", {**ARGS, "benchmark": None})
    assert returns.result.includes_dividends
    assert returns.result.total_return == pytest.approx(12 / 10 - 1)


def test_network_down_falls_back_to_the_snapshot_and_stops_asking(fake_yahoo, live_context):
    fake_yahoo.error = CurlConnectionError("Failed to perform, curl: (6) Could not resolve host")
    registry = build_registry(live_context)
    outcome = registry.call("get_price_history", {**ARGS, "ticker": "AAA"})
    assert not outcome.is_error, outcome.text
    assert "offline snapshot test/synthetic" in outcome.result.source
    assert "live data unavailable (Yahoo Finance unreachable (ConnectionError))" in outcome.text
    assert len(fake_yahoo.calls) == 1
    registry.call("get_price_history", {**ARGS, "ticker": "BBB"})
    assert len(fake_yahoo.calls) == 1  # the first failure holds Yahoo off for a while


def test_a_slow_yahoo_is_abandoned_quickly(fake_yahoo, live_context):
    fake_yahoo.delay_s = 3.0
    started = time.perf_counter()
    outcome = build_registry(live_context).call("get_price_history", {**ARGS, "ticker": "AAA"})
    assert not outcome.is_error
    assert time.perf_counter() - started < 2.0
    assert "did not answer" in outcome.text


def test_unknown_everywhere_is_one_error_with_both_reasons(fake_yahoo, live_context):
    outcome = build_registry(live_context).call("get_price_history", {**ARGS, "ticker": "NOPE"})
    assert outcome.is_error
    assert "Yahoo Finance has no prices for NOPE" in outcome.text
    assert "NOPE has no price file in the offline snapshot" in outcome.text


def test_stale_cache_is_the_last_resort(fake_yahoo, live_context, database):
    fake_yahoo.frames["LIVE"] = yahoo_frame([("2024-01-02", 10.0), ("2024-01-03", 11.0)])
    live = live_context.market.live
    market = MarketData(
        live=live,
        snapshot=None,
        cache=MarketCache(lambda: database),
        calendar=live_context.market.calendar,
        cache_ttl_s=0,
        today=lambda: date(2024, 1, 4),
    )
    market.period("LIVE", date(2024, 1, 2), date(2024, 1, 3))
    fake_yahoo.error = CurlConnectionError("down")
    period = market.period("LIVE", date(2024, 1, 2), date(2024, 1, 3))
    assert period.last_date == date(2024, 1, 3)
    assert any("stale cache used" in note for note in period.notes)


def test_profile_and_fundamentals_live(fake_yahoo, live_context):
    registry = build_registry(live_context)
    profile = registry.call("get_company_profile", {"ticker": "LIVE"})
    assert profile.result.name == "Live Corp" and profile.result.details == {"country": "US"}
    fundamentals = registry.call("get_fundamentals", {"ticker": "LIVE"})
    assert not fundamentals.is_error, fundamentals.text
    newest = fundamentals.result.table[0]
    assert newest["fiscal_year_end"] == "2024-12-31"
    assert newest["total_revenue"] == 100.0 and newest["total_assets"] == 500.0
    assert newest["net_margin"] == pytest.approx(0.1)
    assert fundamentals.result.statements == ["income statement", "balance sheet"]
    assert (
        registry.call("get_fundamentals", {"ticker": "LIVE"}).result.table
        == fundamentals.result.table
    )


def test_parse_history_normalises_yahoo_frames():
    frame = yahoo_frame([("2024-01-03", 2.0), ("2024-01-02", 1.0), ("2024-01-03", 3.0)])
    parsed = parse_history("X", frame)
    assert list(parsed.columns) == ["open", "high", "low", "close", "adj_close", "volume"]
    assert parsed.index.tz is None and parsed.index.name == "date"
    assert list(parsed["close"]) == [1.0, 3.0]  # sorted, duplicates keep the last
    assert merge_statements(pd.DataFrame(), pd.DataFrame()) == []
