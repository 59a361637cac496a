"""Price history and quote: the daily bars of one ticker, and its latest close."""

from __future__ import annotations

import math
from datetime import date

from langchain_core.tools import BaseTool
from pydantic import Field

from tools.builtin.args import DateRangeArgs, Day, Ticker, ToolArgs
from tools.market.period import PricePeriod
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, ToolError, define_tool

MAX_TEXT_ROWS = 30


class PriceHistoryArgs(DateRangeArgs):
    ticker: Ticker


class PriceHistory(ToolResult):
    ticker: str
    start: date
    end: date
    num_bars: int
    first_close: float
    last_close: float
    change_pct: float
    high: float
    high_date: date
    low: float
    low_date: date
    price_basis: str

    def summary(self) -> str:
        head = (
            f"{self.ticker} daily prices {self.start} to {self.end} ({self.num_bars} bars): "
            f"close {fmt_num(self.first_close)} -> {fmt_num(self.last_close)} "
            f"({fmt_pct(self.change_pct)}); high {fmt_num(self.high)} on {self.high_date}, "
            f"low {fmt_num(self.low)} on {self.low_date}"
        )
        rows = self.table or []
        step = max(1, math.ceil(len(rows) / MAX_TEXT_ROWS))
        shown = rows[::step]
        if rows and shown[-1] is not rows[-1]:
            shown.append(rows[-1])
        lines = [head, "date,open,high,low,close,volume"]
        if step > 1:
            lines[1] += f" (every {step}th session shown; the full table is attached)"
        for row in shown:
            lines.append(
                f"{row['date']},{row['open']},{row['high']},{row['low']},{row['close']},"
                f"{row['volume']}"
            )
        return "\n".join(lines)


def period_table(period: PricePeriod) -> list[dict[str, object]]:
    rows = []
    for stamp, bar in period.series.bars.iterrows():
        row: dict[str, object] = {"date": stamp.date().isoformat()}
        for column in ("open", "high", "low", "close", "adj_close"):
            value = bar[column]
            row[column] = None if math.isnan(value) else round(float(value), 4)
        row["volume"] = None if math.isnan(bar["volume"]) else int(bar["volume"])
        rows.append(row)
    return rows


def resolve_end(args: DateRangeArgs, context: ToolContext) -> date:
    end = args.end or context.today()
    if args.start > end:
        raise ToolError(
            f"start {args.start} is in the future (today is {end}); pick an earlier start"
        )
    return end


def get_price_history(args: PriceHistoryArgs, context: ToolContext) -> PriceHistory:
    """Daily OHLCV prices of one ticker between two dates, with the period's change, high and low.
    Says which data source answered and how its prices are adjusted."""
    period = context.market.period(args.ticker, args.start, resolve_end(args, context))
    bars = period.series.bars
    close = bars["close"]
    return PriceHistory(
        ticker=period.ticker,
        start=period.first_date,
        end=period.last_date,
        num_bars=len(bars),
        first_close=float(close.iloc[0]),
        last_close=float(close.iloc[-1]),
        change_pct=float(close.iloc[-1] / close.iloc[0] - 1.0),
        high=float(bars["high"].max()),
        high_date=bars["high"].idxmax().date(),
        low=float(bars["low"].min()),
        low_date=bars["low"].idxmin().date(),
        price_basis=period.series.source.price_basis,
        source=period.source,
        as_of=period.last_date,
        notes=list(period.notes),
        table=period_table(period),
    )


class QuoteArgs(ToolArgs):
    ticker: Ticker
    date: Day | None = Field(
        default=None, description="Quote as of this day, YYYY-MM-DD; default: the latest."
    )


class Quote(ToolResult):
    ticker: str
    date: date
    close: float
    previous_close: float | None
    change: float | None
    change_pct: float | None
    open: float
    high: float
    low: float
    volume: int | None
    week52_high: float
    week52_low: float

    def summary(self) -> str:
        return (
            f"{self.ticker} close on {self.date}: {fmt_num(self.close)} "
            f"(change {fmt_num(self.change)}, {fmt_pct(self.change_pct)} vs previous close "
            f"{fmt_num(self.previous_close)}); open {fmt_num(self.open)}, high {fmt_num(self.high)}, "
            f"low {fmt_num(self.low)}, volume {self.volume if self.volume is not None else 'n/a'}; "
            f"52-week range {fmt_num(self.week52_low)} - {fmt_num(self.week52_high)}"
        )


def get_quote(args: QuoteArgs, context: ToolContext) -> Quote:
    """Closing price of a ticker on a given day (default: the latest close), with the day's change
    and the 52-week range. Offline, the latest close is the snapshot's last day, and the answer
    says so."""
    wanted = args.date or context.today()
    period = context.market.latest(args.ticker, wanted)
    bars = period.series.bars
    last = bars.iloc[-1]
    previous = float(bars["close"].iloc[-2]) if len(bars) > 1 else None
    close = float(last["close"])
    notes = [note for note in period.notes if note != period.start.note]  # start is arbitrary
    age = (wanted - period.last_date).days
    if args.date is None and age > 4:
        notes.append(f"the latest bar available is {age} days old ({period.last_date})")
    return Quote(
        ticker=period.ticker,
        date=period.last_date,
        close=close,
        previous_close=previous,
        change=None if previous is None else close - previous,
        change_pct=None if previous is None else close / previous - 1.0,
        open=float(last["open"]),
        high=float(last["high"]),
        low=float(last["low"]),
        volume=None if math.isnan(last["volume"]) else int(last["volume"]),
        week52_high=float(bars["high"].max()),
        week52_low=float(bars["low"].min()),
        source=period.source,
        as_of=period.last_date,
        notes=notes,
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(get_price_history, context), define_tool(get_quote, context)]


def ticker_and_benchmark(
    ticker: str, benchmark: str | None, args: DateRangeArgs, context: ToolContext
) -> list[PricePeriod]:
    """The ticker's period, then the benchmark's over the same dates (none when absent or equal)."""
    end = resolve_end(args, context)
    periods = [context.market.period(ticker, args.start, end)]
    if benchmark and benchmark != ticker:
        periods.append(context.market.period(benchmark, args.start, end))
    return periods
