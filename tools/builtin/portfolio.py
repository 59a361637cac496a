"""Portfolios in the database: create one, add or remove transactions (and so holdings), list.

Holdings are derived from transactions (tools.holdings); value, P&L, allocation and risk are in
tools.builtin.portfolio_report.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.tools import BaseTool
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.market_models import Portfolio, PortfolioTransaction
from tools.builtin.args import Day, Ticker, ToolArgs
from tools.holdings import Trade, positions
from tools.result import ToolResult, fmt_num
from tools.tool import ToolContext, ToolError, define_tool

PortfolioName = Field(min_length=1, max_length=100, description="Portfolio name.")


class CreateArgs(ToolArgs):
    name: str = PortfolioName
    notes: str = Field(default="", max_length=1000, description="Free text about the portfolio.")


class TransactionArgs(ToolArgs):
    portfolio: str = PortfolioName
    ticker: Ticker
    side: Literal["buy", "sell"]
    quantity: float = Field(gt=0, le=1e9, description="Number of shares.")
    price: float | None = Field(
        default=None, gt=0, le=1e7, description="Price per share; default: that day's close."
    )
    date: Day | None = Field(default=None, description="Trade date YYYY-MM-DD; default today.")


class RemoveArgs(ToolArgs):
    portfolio: str = PortfolioName
    transaction_id: int | None = Field(default=None, description="Remove this one transaction.")
    ticker: Ticker | None = Field(default=None, description="Remove every transaction of it.")


class PortfolioArgs(ToolArgs):
    portfolio: str = PortfolioName


class PortfolioChange(ToolResult):
    message: str

    def summary(self) -> str:
        return self.message


def find_portfolio(session: Session, name: str) -> Portfolio:
    portfolio = session.scalar(select(Portfolio).where(Portfolio.name == name))
    if portfolio is None:
        names = session.scalars(select(Portfolio.name).order_by(Portfolio.name)).all()
        known = ", ".join(names) if names else "none yet; create one with portfolio_create"
        raise ToolError(f"no portfolio named {name!r}; portfolios: {known}")
    return portfolio


def trades_of(portfolio: Portfolio) -> list[Trade]:
    return [
        Trade(t.ticker, t.side, t.quantity, t.price, t.trade_date) for t in portfolio.transactions
    ]


def _change(context: ToolContext, message: str, notes: list[str] | None = None) -> PortfolioChange:
    return PortfolioChange(
        message=message, source="portfolio database", as_of=context.today(), notes=notes or []
    )


def portfolio_create(args: CreateArgs, context: ToolContext) -> PortfolioChange:
    """Create an empty portfolio with a unique name."""
    with context.database.session() as session:
        if session.scalar(select(Portfolio).where(Portfolio.name == args.name)) is not None:
            raise ToolError(f"portfolio {args.name!r} already exists; use it or pick another name")
        session.add(Portfolio(name=args.name, notes=args.notes))
    return _change(context, f"created portfolio {args.name!r}")


def portfolio_add_transaction(args: TransactionArgs, context: ToolContext) -> PortfolioChange:
    """Record a buy or sell of a ticker in a portfolio (adds or reduces the holding). Without a
    price, that day's close is used; without a date, today."""
    wanted = args.date or context.today()
    notes: list[str] = []
    price = args.price
    trade_date = wanted
    if price is None:
        period = context.market.latest(args.ticker, wanted)
        price, trade_date = float(period.series.bars["close"].iloc[-1]), period.last_date
        notes.append(f"price is the close of {trade_date} from {period.source}")
        notes.extend(note for note in period.notes if note != period.start.note)
    with context.database.session() as session:
        portfolio = find_portfolio(session, args.portfolio)
        trade = Trade(args.ticker, args.side, args.quantity, price, trade_date)
        positions([*trades_of(portfolio), trade])  # raises if this would oversell
        record = PortfolioTransaction(
            ticker=args.ticker,
            side=args.side,
            quantity=args.quantity,
            price=price,
            trade_date=trade_date,
        )
        portfolio.transactions.append(record)
        session.flush()
        message = (
            f"recorded #{record.id}: {args.side} {args.quantity:g} {args.ticker} at "
            f"{fmt_num(price, 4)} on {trade_date} in {args.portfolio!r}"
        )
    return _change(context, message, notes)


def portfolio_remove(args: RemoveArgs, context: ToolContext) -> PortfolioChange:
    """Remove one transaction (by id) or a whole holding (every transaction of a ticker)."""
    if (args.transaction_id is None) == (args.ticker is None):
        raise ToolError("give exactly one of transaction_id or ticker")
    with context.database.session() as session:
        portfolio = find_portfolio(session, args.portfolio)
        doomed = [
            t
            for t in portfolio.transactions
            if t.id == args.transaction_id or (args.ticker and t.ticker == args.ticker)
        ]
        if not doomed:
            what = f"transaction #{args.transaction_id}" if args.ticker is None else args.ticker
            raise ToolError(f"{what} is not in portfolio {args.portfolio!r}")
        kept = [t for t in portfolio.transactions if t not in doomed]
        positions(Trade(t.ticker, t.side, t.quantity, t.price, t.trade_date) for t in kept)
        for record in doomed:
            portfolio.transactions.remove(record)
    return _change(context, f"removed {len(doomed)} transaction(s) from {args.portfolio!r}")


class TransactionList(ToolResult):
    portfolio: str

    def summary(self) -> str:
        lines = [f"transactions of {self.portfolio!r} (id,date,side,quantity,ticker,price):"]
        for row in self.table or []:
            lines.append(
                f"#{row['id']},{row['date']},{row['side']},{row['quantity']:g},{row['ticker']},"
                f"{row['price']}"
            )
        if not self.table:
            lines.append("none")
        return "\n".join(lines)


def portfolio_transactions(args: PortfolioArgs, context: ToolContext) -> TransactionList:
    """List a portfolio's transactions with their ids (needed to remove one)."""
    with context.database.session() as session:
        portfolio = find_portfolio(session, args.portfolio)
        rows = [
            {
                "id": t.id,
                "date": t.trade_date.isoformat(),
                "side": t.side,
                "quantity": t.quantity,
                "ticker": t.ticker,
                "price": t.price,
            }
            for t in portfolio.transactions
        ]
    return TransactionList(
        portfolio=args.portfolio, source="portfolio database", as_of=context.today(), table=rows
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    from tools.builtin.portfolio_report import portfolio_risk, portfolio_value

    functions = (
        portfolio_create,
        portfolio_add_transaction,
        portfolio_remove,
        portfolio_transactions,
        portfolio_value,
        portfolio_risk,
    )
    return [define_tool(function, context) for function in functions]
