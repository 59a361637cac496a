from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.conftest import TODAY, offline_settings
from tests.core.conftest import database, postgres_url  # noqa: F401  (shared DB fixtures)
from tools.discovery import build_registry
from tools.market.cache import MarketCache
from tools.market.calendar import TradingCalendar
from tools.market.service import MarketData
from tools.market.snapshot import SnapshotProvider
from tools.registry import ToolRegistry
from tools.tool import ToolContext


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return TradingCalendar()


@pytest.fixture(scope="session")
def snapshot(snapshot_dir) -> SnapshotProvider:
    return SnapshotProvider(snapshot_dir)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return offline_settings(tmp_path, snapshot=None)


def make_context(settings, snapshot, calendar, live=None, db=None) -> ToolContext:
    context = ToolContext(settings, database=db, today=TODAY)
    market = MarketData(
        live=live,
        snapshot=snapshot,
        cache=MarketCache(lambda: context.database),
        calendar=calendar,
        today=lambda: TODAY,
    )
    context._market = market
    return context


@pytest.fixture
def context(request, settings, calendar) -> Iterator[ToolContext]:
    """Tools over the real snapshot when HUIJIN_MARKET_SNAPSHOT is set, else without market data
    (tests that need prices ask for the `snapshot` fixture, which skips without it)."""
    has_snapshot = bool(os.environ.get("HUIJIN_MARKET_SNAPSHOT"))
    snapshot = request.getfixturevalue("snapshot") if has_snapshot else None
    context = make_context(settings, snapshot, calendar)
    yield context
    context.close()


@pytest.fixture
def registry(context) -> ToolRegistry:
    return build_registry(context)


# -- a small hand-made snapshot, for exact arithmetic ------------------------------------------
SYNTHETIC = {
    # AAA: +10 %, -10 %, +22.2 %, -9.09 %; drawdown 110 -> 99 (-10 %), recovered at 121.
    "AAA": [
        ("2024-01-02", 100.0),
        ("2024-01-03", 110.0),
        ("2024-01-04", 99.0),
        ("2024-01-05", 121.0),
        ("2024-01-08", 110.0),
    ],
    # BBB: exactly half of AAA's daily returns, so beta(AAA on BBB) = 2 and correlation = 1.
    "BBB": [
        ("2024-01-02", 100.0),
        ("2024-01-03", 105.0),
        ("2024-01-04", 99.75),
        ("2024-01-05", 110.8333333333),
        ("2024-01-08", 105.7954545454),
    ],
    # GAP: no bar on 2024-01-04 (a trading day), to exercise missing days.
    "GAP": [("2024-01-02", 50.0), ("2024-01-03", 51.0), ("2024-01-05", 52.0)],
}


@pytest.fixture
def synthetic_dir(tmp_path) -> Path:
    directory = tmp_path / "snapshot"
    directory.mkdir()
    manifest = ["ticker,file,source_repo,start,end,price_basis"]
    for ticker, rows in SYNTHETIC.items():
        lines = ["date,open,high,low,close,adj_close,volume"]
        lines += [f"{day},{p},{p},{p},{p},,1000" for day, p in rows]
        (directory / f"{ticker}.csv").write_text("\n".join(lines) + "\n")
        basis = '"split-adjusted, NOT dividend-adjusted (test data)"'
        manifest.append(f"{ticker},{ticker}.csv,test/synthetic,{rows[0][0]},{rows[-1][0]},{basis}")
    (directory / "manifest.csv").write_text("\n".join(manifest) + "\n")
    (directory / "companies.csv").write_text(
        "ticker,name,sector,industry,source\nAAA,Triple A Inc.,Testing,Test Data,manual\n"
    )
    return directory


@pytest.fixture
def synthetic_registry(settings, synthetic_dir, calendar) -> Iterator[ToolRegistry]:
    context = make_context(settings, SnapshotProvider(synthetic_dir), calendar)
    yield build_registry(context)
    context.close()
