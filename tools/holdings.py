"""Portfolio accounting: positions from a list of transactions, average-cost method.

A buy adds quantity and cost; a sell removes quantity at the average cost and books the difference
to the sale price as realised P&L. Selling more than is held is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from tools.tool import ToolError

EPSILON = 1e-9


@dataclass(frozen=True)
class Trade:
    ticker: str
    side: str  # "buy" or "sell"
    quantity: float
    price: float
    trade_date: date


@dataclass
class Position:
    ticker: str
    quantity: float = 0.0
    cost: float = 0.0  # cost basis of the quantity still held
    realized_pnl: float = 0.0

    @property
    def average_cost(self) -> float | None:
        return self.cost / self.quantity if self.quantity > EPSILON else None


def positions(trades: Iterable[Trade]) -> dict[str, Position]:
    """Replay trades in date order (stable for same-day trades)."""
    book: dict[str, Position] = {}
    for trade in sorted(trades, key=lambda t: t.trade_date):
        position = book.setdefault(trade.ticker, Position(trade.ticker))
        if trade.side == "buy":
            position.quantity += trade.quantity
            position.cost += trade.quantity * trade.price
            continue
        if trade.quantity > position.quantity + EPSILON:
            raise ToolError(
                f"cannot sell {trade.quantity:g} {trade.ticker} on {trade.trade_date}: only "
                f"{position.quantity:g} held then; sell less or add the buy first"
            )
        average = position.cost / position.quantity
        position.realized_pnl += trade.quantity * (trade.price - average)
        position.cost -= trade.quantity * average
        position.quantity -= trade.quantity
        if position.quantity <= EPSILON:
            position.quantity, position.cost = 0.0, 0.0
    return book
