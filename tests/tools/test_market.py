"""Snapshot provider, calendar and period selection on the real snapshot and a synthetic one."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from tools.market.calendar import SessionDate
from tools.market.period import select_period
from tools.market.provider import NoDataError
from tools.market.service import MarketData
from tools.market.snapshot import SnapshotProvider


def test_calendar_resolves_weekends_and_holidays(calendar):
    assert calendar.previous_session(date(2024, 1, 2)) == SessionDate(
        date(2024, 1, 2), date(2024, 1, 2)
    )
    holiday = calendar.previous_session(date(2024, 1, 15))
    assert holiday.session == date(2024, 1, 12)
    assert "Martin Luther King" in holiday.note and "used 2024-01-12" in holiday.note
    weekend = calendar.previous_session(date(2024, 1, 7))
    assert weekend.session == date(2024, 1, 5) and "Sunday" in weekend.note
    good_friday = calendar.previous_session(date(2024, 3, 29))
    assert good_friday.session == date(2024, 3, 28)
    far = calendar.previous_session(date(2099, 1, 3))  # beyond the calendar: weekend rule only
    assert far.session == date(2099, 1, 2)


def test_snapshot_bar_matches_the_documented_quote(snapshot):
    bars = snapshot.history("AAPL", date(2024, 1, 2), date(2024, 1, 2)).bars
    bar = bars.loc["2024-01-02"]
    # SOURCE.md: AAPL 2024-01-02 O/H/L/C = 187.15/188.44/183.89/185.64, volume 82,488,700
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (187.15, 188.44, 183.89, 185.64)
    assert bar["volume"] == 82488700


def test_price_bases_come_from_the_manifest(snapshot):
    aapl, jpm = snapshot.source_info("AAPL"), snapshot.source_info("JPM")
    assert not aapl.is_dividend_adjusted and "not dividend-adjusted" in aapl.price_basis
    assert "heliar-k/market-base" in aapl.label
    assert jpm.is_dividend_adjusted and "CarlosGBerreteaga/trading-ai" in jpm.label


def test_split_adjusted_prices_have_no_split_cliff(snapshot):
    # NVDA split 10:1 on 2024-06-10; split-adjusted closes must not drop ~90 % that day.
    bars = snapshot.history("NVDA", date(2024, 6, 1), date(2024, 6, 30)).bars
    assert bars.loc["2024-06-07", "close"] == pytest.approx(120.89)
    assert bars["close"].pct_change().loc["2024-06-03":"2024-06-14"].abs().max() < 0.2


def test_class_share_tickers_accept_dot_or_dash(snapshot):
    assert snapshot.history("BRK-B", date(2024, 1, 2), date(2024, 1, 3)).bars.equals(
        snapshot.history("brk.b", date(2024, 1, 2), date(2024, 1, 3)).bars
    )


def test_unknown_ticker_is_a_clear_error(snapshot):
    with pytest.raises(NoDataError, match="ZZZZ has no price file in the offline snapshot"):
        snapshot.history("ZZZZ", date(2024, 1, 2), date(2024, 1, 3))


def test_period_reports_holidays_data_end_and_data_start(snapshot, calendar):
    market = MarketData(live=None, snapshot=snapshot, cache=None, calendar=calendar)
    period = market.period("JPM", date(2024, 12, 25), date(2026, 1, 2))
    assert period.first_date == date(2024, 12, 24)
    assert period.last_date == date(2025, 10, 8)  # source B ends there
    assert any("Christmas" in note for note in period.notes)
    assert any("data ends on 2025-10-08" in note for note in period.notes)
    early = market.period("HOOD", date(2020, 1, 1), date(2021, 8, 31))
    assert early.first_date == date(2021, 7, 29)  # its IPO
    assert any("data starts on 2021-07-29" in note for note in early.notes)
    with pytest.raises(NoDataError, match="covers"):
        market.period("HOOD", date(2019, 1, 1), date(2020, 1, 1))


def test_a_missing_bar_uses_the_previous_one(synthetic_dir, calendar):
    provider = SnapshotProvider(synthetic_dir)
    series = provider.history("GAP", date(2024, 1, 1), date(2024, 1, 31))
    period = select_period(
        series,
        calendar.previous_session(date(2024, 1, 4)),
        calendar.previous_session(date(2024, 1, 4)),
    )
    assert period.last_date == date(2024, 1, 3)
    assert any("no GAP bar on 2024-01-04" in note for note in period.notes)


def test_fundamentals_and_profile_from_the_snapshot(snapshot):
    rows = {row["fiscal_year_end"]: row for row in snapshot.fundamentals("AAPL").rows}
    # SOURCE.md: AAPL FY2024-09-30 revenue 391,035,000,000 and net income 93,736,000,000 (10-K)
    assert rows["2024-09-30"]["total_revenue"] == 391_035_000_000
    assert rows["2024-09-30"]["net_income"] == 93_736_000_000
    assert snapshot.fundamentals("TSM").currency == "TWD"
    profile = snapshot.profile("MSFT")
    assert profile.name == "Microsoft" and profile.sector == "Information Technology"


def test_every_price_file_loads(snapshot, snapshot_dir):
    with (snapshot_dir / "manifest.csv").open() as handle:
        manifest = list(csv.DictReader(handle))
    for row in manifest:
        bars = snapshot.history(row["ticker"], date(2000, 1, 1), date(2030, 1, 1)).bars
        assert len(bars) == int(row["rows"]), row["ticker"]
        assert bars.index.is_monotonic_increasing
