"""What a portfolio is worth and how risky it is: value, P&L and allocation on a day, and the risk
of the current holdings over a period (buy and hold of today's quantities)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from pydantic import Field

from tools import metrics
from tools.builtin.args import DateRangeArgs, Day, Ticker, ToolArgs
from tools.builtin.portfolio import PortfolioName, find_portfolio, trades_of
from tools.builtin.prices import resolve_end
from tools.builtin.risk import risk_of_prices
from tools.holdings import EPSILON, positions
from tools.market.period import combined_notes, combined_source, common_window
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, ToolError


class ValueArgs(ToolArgs):
    portfolio: str = PortfolioName
    date: Day | None = Field(default=None, description="Value as of this day; default: latest.")


class PortfolioValue(ToolResult):
    portfolio: str
    market_value: float
    cost_basis: float
    unrealized_pnl: float
    realized_pnl: float

    def summary(self) -> str:
        lines = [
            f"portfolio {self.portfolio!r}: value {fmt_num(self.market_value)}, cost "
            f"{fmt_num(self.cost_basis)}, unrealised P&L {fmt_num(self.unrealized_pnl)}, "
            f"realised P&L {fmt_num(self.realized_pnl)}",
            "ticker,quantity,avg_cost,price,price_date,value,unrealized_pnl,pnl_pct,weight",
        ]
        for row in self.table or []:
            lines.append(
                f"{row['ticker']},{row['quantity']:g},{_plain(row['average_cost'])},"
                f"{_plain(row['price'])},{row['price_date']},{_plain(row['market_value'])},"
                f"{_plain(row['unrealized_pnl'])},{fmt_pct(row['pnl_pct'])},{fmt_pct(row['weight'])}"
            )
        return "\n".join(lines)


def _plain(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"  # no thousands separator inside CSV


def _load_positions(context: ToolContext, name: str) -> dict[str, object]:
    with context.database.session() as session:
        return positions(trades_of(find_portfolio(session, name)))  # type: ignore[return-value]


def portfolio_value(args: ValueArgs, context: ToolContext) -> PortfolioValue:
    """Value of a portfolio's holdings on a day (default latest close): per holding quantity,
    average cost, price, market value, unrealised P&L and weight; totals and realised P&L."""
    book = _load_positions(context, args.portfolio)
    held = {t: p for t, p in book.items() if p.quantity > EPSILON}
    rows, notes, sources, dates = [], [], [], []
    for ticker, position in held.items():
        period = context.market.latest(ticker, args.date or context.today())
        price = float(period.series.bars["close"].iloc[-1])
        value = position.quantity * price
        rows.append(
            {
                "ticker": ticker,
                "quantity": position.quantity,
                "average_cost": position.average_cost,
                "price": price,
                "price_date": period.last_date.isoformat(),
                "market_value": value,
                "cost_basis": position.cost,
                "unrealized_pnl": value - position.cost,
                "pnl_pct": value / position.cost - 1.0 if position.cost > 0 else None,
            }
        )
        sources.append(period.source)
        dates.append(period.last_date)
        notes.extend(n for n in period.notes if n != period.start.note)
    total = sum(row["market_value"] for row in rows)
    for row in rows:
        row["weight"] = row["market_value"] / total if total > 0 else None
    if not held:
        notes.append("the portfolio holds nothing; add a buy with portfolio_add_transaction")
    cost = sum(row["cost_basis"] for row in rows)
    return PortfolioValue(
        portfolio=args.portfolio,
        market_value=total,
        cost_basis=cost,
        unrealized_pnl=total - cost,
        realized_pnl=sum(p.realized_pnl for p in book.values()),
        source=" | ".join(dict.fromkeys(sources)) or "portfolio database",
        as_of=max(dates) if dates else context.today(),
        notes=list(dict.fromkeys(notes)),
        table=rows,
    )


class PortfolioRiskArgs(DateRangeArgs):
    portfolio: str = PortfolioName
    benchmark: Ticker | None = Field(default="SPY", description="Benchmark for beta; null: none.")
    risk_free_rate: float = Field(default=0.0, ge=-0.05, le=0.5, description="Annual, decimal.")


class PortfolioRisk(ToolResult):
    portfolio: str
    start: date
    end: date
    total_return: float
    num_returns: int
    annualized_volatility: float | None
    max_drawdown: float
    drawdown_peak: date | None
    drawdown_trough: date | None
    drawdown_recovery: date | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    beta: float | None = None
    benchmark: str | None = None

    def summary(self) -> str:
        return (
            f"portfolio {self.portfolio!r} (current holdings, buy and hold) {self.start} to "
            f"{self.end}: return {fmt_pct(self.total_return)}, volatility "
            f"{fmt_pct(self.annualized_volatility)}, max drawdown {fmt_pct(self.max_drawdown)} "
            f"(peak {self.drawdown_peak}, trough {self.drawdown_trough}), Sharpe "
            f"{fmt_num(self.sharpe_ratio)}, Sortino {fmt_num(self.sortino_ratio)}"
            + (f", beta vs {self.benchmark} {fmt_num(self.beta)}" if self.benchmark else "")
        )


def portfolio_risk(args: PortfolioRiskArgs, context: ToolContext) -> PortfolioRisk:
    """Risk of a whole portfolio over a period, holding its current quantities throughout:
    return, annualised volatility, max drawdown with dates, Sharpe, Sortino, beta."""
    book = _load_positions(context, args.portfolio)
    held = {t: p.quantity for t, p in book.items() if p.quantity > EPSILON}
    if not held:
        raise ToolError(f"portfolio {args.portfolio!r} holds nothing; add a buy first")
    end = resolve_end(args, context)
    tickers = list(held)
    if args.benchmark:
        tickers.append(args.benchmark)
    periods = [context.market.period(ticker, args.start, end) for ticker in tickers]
    prices, notes = common_window(periods)
    # (days, holdings) -> one value series: sum of quantity x price
    values = pd.concat(
        [series * held[t] for t, series in zip(held, prices, strict=False)], axis=1
    ).sum(axis=1)
    risk = risk_of_prices(values, args.risk_free_rate)
    result = PortfolioRisk(
        portfolio=args.portfolio,
        start=values.index[0].date(),
        end=values.index[-1].date(),
        total_return=metrics.total_return(values),
        source=combined_source(periods),
        as_of=values.index[-1].date(),
        notes=combined_notes(periods, notes),
        **risk,
    )
    if args.benchmark:
        result.benchmark = periods[-1].ticker
        result.beta = metrics.beta(metrics.daily_returns(values), metrics.daily_returns(prices[-1]))
    return result
