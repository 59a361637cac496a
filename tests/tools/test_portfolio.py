"""Portfolios in the database (SQLite and PostgreSQL), with hand-checked accounting."""

from __future__ import annotations

from datetime import date

import pytest

from tests.tools.conftest import make_context
from tools.discovery import build_registry
from tools.holdings import Trade, positions
from tools.market.snapshot import SnapshotProvider
from tools.tool import ToolError


def test_average_cost_accounting_by_hand():
    trades = [
        Trade("X", "buy", 10, 100.0, date(2024, 1, 2)),
        Trade("X", "buy", 10, 120.0, date(2024, 1, 3)),
        Trade("X", "sell", 5, 130.0, date(2024, 1, 4)),  # average cost 110 -> +100 realised
    ]
    book = positions(trades)["X"]
    assert book.quantity == 15 and book.cost == pytest.approx(1650.0)
    assert book.average_cost == pytest.approx(110.0)
    assert book.realized_pnl == pytest.approx(100.0)
    with pytest.raises(ToolError, match="only 15 held"):
        positions([*trades, Trade("X", "sell", 16, 1.0, date(2024, 1, 5))])
    assert positions([]) == {}


@pytest.fixture
def tools(settings, synthetic_dir, calendar, database):
    context = make_context(settings, SnapshotProvider(synthetic_dir), calendar, db=database)
    registry = build_registry(context)

    def call(name, arguments):
        outcome = registry.call(name, arguments)
        return outcome

    yield call
    context.close()


def ok(outcome):
    assert not outcome.is_error, outcome.text
    return outcome.result


def test_portfolio_lifecycle(tools):
    ok(tools("portfolio_create", {"name": "core"}))
    assert "already exists" in tools("portfolio_create", {"name": "core"}).text
    empty = ok(tools("portfolio_value", {"portfolio": "core"}))
    assert empty.market_value == 0 and any("holds nothing" in n for n in empty.notes)
    assert (
        "holds nothing"
        in tools("portfolio_risk", {"portfolio": "core", "start": "2024-01-02"}).text
    )

    # AAA closes 100 on 2024-01-02 (price taken from the data), BBB bought at a given price.
    bought = ok(
        tools(
            "portfolio_add_transaction",
            {
                "portfolio": "core",
                "ticker": "AAA",
                "side": "buy",
                "quantity": 10,
                "date": "2024-01-02",
            },
        )
    )
    assert "at 100.0000 on 2024-01-02" in bought.message
    ok(
        tools(
            "portfolio_add_transaction",
            {
                "portfolio": "core",
                "ticker": "BBB",
                "side": "buy",
                "quantity": 4,
                "price": 100,
                "date": "2024-01-02",
            },
        )
    )
    ok(
        tools(
            "portfolio_add_transaction",
            {
                "portfolio": "core",
                "ticker": "AAA",
                "side": "sell",
                "quantity": 5,
                "price": 121,
                "date": "2024-01-05",
            },
        )
    )
    oversold = tools(
        "portfolio_add_transaction",
        {
            "portfolio": "core",
            "ticker": "AAA",
            "side": "sell",
            "quantity": 6,
            "price": 1,
            "date": "2024-01-08",
        },
    )
    assert oversold.is_error and "only 5 held" in oversold.text

    value = ok(tools("portfolio_value", {"portfolio": "core", "date": "2024-01-08"}))
    rows = {row["ticker"]: row for row in value.table}
    # AAA: 5 left at cost 100, close 110 -> value 550, +50; BBB: 4 at 100, close 105.7955
    assert rows["AAA"]["market_value"] == pytest.approx(550.0)
    assert rows["AAA"]["unrealized_pnl"] == pytest.approx(50.0)
    assert rows["BBB"]["market_value"] == pytest.approx(4 * 105.7954545454)
    assert value.realized_pnl == pytest.approx(5 * 21.0)
    assert value.market_value == pytest.approx(550 + 4 * 105.7954545454)
    assert sum(row["weight"] for row in value.table) == pytest.approx(1.0)
    assert value.as_of == date(2024, 1, 8)

    listing = ok(tools("portfolio_transactions", {"portfolio": "core"}))
    assert [row["side"] for row in listing.table] == ["buy", "buy", "sell"]
    first_id = listing.table[0]["id"]
    # Removing the first buy would leave the sell uncovered: refused.
    refused = tools("portfolio_remove", {"portfolio": "core", "transaction_id": first_id})
    assert refused.is_error and "cannot sell" in refused.text
    ok(tools("portfolio_remove", {"portfolio": "core", "ticker": "AAA"}))
    after = ok(tools("portfolio_value", {"portfolio": "core", "date": "2024-01-08"}))
    assert [row["ticker"] for row in after.table] == ["BBB"]
    assert tools("portfolio_remove", {"portfolio": "core"}).is_error
    assert "no portfolio named 'other'" in tools("portfolio_value", {"portfolio": "other"}).text


def test_portfolio_risk_of_one_holding_equals_the_ticker_risk(tools):
    ok(tools("portfolio_create", {"name": "solo"}))
    ok(
        tools(
            "portfolio_add_transaction",
            {
                "portfolio": "solo",
                "ticker": "AAA",
                "side": "buy",
                "quantity": 3,
                "price": 1,
                "date": "2024-01-02",
            },
        )
    )
    period = {"start": "2024-01-02", "end": "2024-01-08", "benchmark": "BBB"}
    whole = ok(tools("portfolio_risk", {"portfolio": "solo", **period}))
    single = ok(tools("get_risk_metrics", {"ticker": "AAA", **period}))
    assert whole.annualized_volatility == pytest.approx(single.annualized_volatility)
    assert whole.max_drawdown == pytest.approx(single.max_drawdown)
    assert whole.beta == pytest.approx(2.0, abs=1e-6)
    assert whole.total_return == pytest.approx(0.10)
