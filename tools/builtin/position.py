"""Profit or loss of shares bought on one day and valued on a later one, without a saved portfolio.

"I bought 10 AAPL and 5 MSFT on 2021-03-01, how much did I make?" is one of the commonest
questions an analyst types. With a saved portfolio it takes four calls (create, two buys, value),
which a small model does not chain reliably; this tool answers it in one call from the closes.
"""

from __future__ import annotations

from datetime import date
from typing import Self

from langchain_core.tools import BaseTool
from pydantic import Field, model_validator

from tools.builtin.args import DateRangeArgs, Ticker
from tools.builtin.prices import resolve_end
from tools.market.period import basis_note, combined_notes, combined_source
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, define_tool


class PositionArgs(DateRangeArgs):
    tickers: list[Ticker] = Field(min_length=1, max_length=10, description="1 to 10 tickers.")
    shares: list[float] = Field(
        min_length=1,
        max_length=10,
        description="Shares of each ticker, in the same order (negative for a short sale).",
    )

    @model_validator(mode="after")
    def _paired(self) -> Self:
        if len(self.tickers) != len(self.shares):
            raise ValueError(
                f"give one share count per ticker ({len(self.tickers)} tickers, "
                f"{len(self.shares)} share counts)"
            )
        return self


class PositionPnL(ToolResult):
    start: date
    end: date
    cost: float
    value: float
    pnl: float

    def summary(self) -> str:
        lines = [
            f"profit/loss {self.start} to {self.end}: {fmt_num(self.pnl)} dollars "
            f"(cost {fmt_num(self.cost)}, value {fmt_num(self.value)}, "
            f"{fmt_pct(self.pnl / self.cost if self.cost else None)})",
            "ticker,shares,buy_close,end_close,cost,value,pnl",
        ]
        for row in self.table or []:
            lines.append(
                f"{row['ticker']},{fmt_num(row['shares'], 4)},{fmt_num(row['buy_close'])},"
                f"{fmt_num(row['end_close'])},{fmt_num(row['cost'])},{fmt_num(row['value'])},"
                f"{fmt_num(row['pnl'])}"
            )
        return "\n".join(lines)


def position_pnl(args: PositionArgs, context: ToolContext) -> PositionPnL:
    """Profit or loss in dollars of shares of one or more tickers bought at the close on one day
    and valued at the close on a later day (default: the latest), with no saved portfolio: per
    ticker the buy and end closes, cost, value and profit/loss, and the totals."""
    end = resolve_end(args, context)
    periods = [context.market.period(ticker, args.start, end) for ticker in args.tickers]
    rows = []
    for period, shares in zip(periods, args.shares, strict=True):
        closes = period.series.bars["close"]
        buy, last = float(closes.iloc[0]), float(closes.iloc[-1])
        rows.append(
            {
                "ticker": period.ticker,
                "shares": shares,
                "buy_date": period.first_date.isoformat(),
                "buy_close": buy,
                "end_date": period.last_date.isoformat(),
                "end_close": last,
                "cost": shares * buy,
                "value": shares * last,
                "pnl": shares * (last - buy),
            }
        )
    notes = combined_notes(periods, [])
    note = basis_note(periods)
    if note:
        notes.append(note)
    last_day = max(period.last_date for period in periods)
    return PositionPnL(
        start=min(period.first_date for period in periods),
        end=last_day,
        cost=sum(row["cost"] for row in rows),
        value=sum(row["value"] for row in rows),
        pnl=sum(row["pnl"] for row in rows),
        source=combined_source(periods),
        as_of=last_day,
        notes=notes,
        table=rows,
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(position_pnl, context)]
