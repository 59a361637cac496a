"""Returns over a period: total, annualised, and against a benchmark (SPY by default)."""

from __future__ import annotations

from datetime import date

from langchain_core.tools import BaseTool
from pydantic import Field

from tools import metrics
from tools.builtin.args import DateRangeArgs, Ticker
from tools.builtin.prices import ticker_and_benchmark
from tools.market.period import basis_note, combined_notes, combined_source, common_window
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, define_tool

SHORT_PERIOD_DAYS = 90


class ReturnsArgs(DateRangeArgs):
    ticker: Ticker
    benchmark: Ticker | None = Field(
        default="SPY", description="Ticker to compare against; null for none."
    )


class Returns(ToolResult):
    ticker: str
    start: date
    end: date
    start_price: float
    end_price: float
    total_return: float
    annualized_return: float | None
    benchmark: str | None = None
    benchmark_total_return: float | None = None
    benchmark_annualized_return: float | None = None
    excess_return: float | None = None
    includes_dividends: bool

    def summary(self) -> str:
        kind = "total return incl. dividends" if self.includes_dividends else "price return"
        text = (
            f"{self.ticker} {self.start} to {self.end}: {kind} {fmt_pct(self.total_return)} "
            f"({fmt_num(self.start_price)} -> {fmt_num(self.end_price)}), annualised "
            f"{fmt_pct(self.annualized_return)}"
        )
        if self.benchmark:
            text += (
                f"; {self.benchmark} {fmt_pct(self.benchmark_total_return)} (annualised "
                f"{fmt_pct(self.benchmark_annualized_return)}); excess vs {self.benchmark} "
                f"{fmt_pct(self.excess_return)}"
            )
            if self.excess_return is not None:
                text += f" ({self.excess_return * 100:.2f} percentage points)"
                if self.excess_return != 0:  # "which did better" answered on a line of its own
                    winner = self.ticker if self.excess_return > 0 else self.benchmark
                    text += f"\nhigher total return: {winner}"
        return text


def get_returns(args: ReturnsArgs, context: ToolContext) -> Returns:
    """Total price return (how much a ticker rose or fell, in percent) and annualised return
    between two dates, and the same for a benchmark (default SPY) over the same days, with the
    excess return. Rates are decimals (0.12 = 12%)."""
    periods = ticker_and_benchmark(args.ticker, args.benchmark, args, context)
    prices, notes = common_window(periods)
    notes = combined_notes(periods, notes)
    first, last = prices[0].index[0].date(), prices[0].index[-1].date()
    if (last - first).days < SHORT_PERIOD_DAYS:
        notes.append("annualised figures from a period under 3 months are not meaningful")
    note = basis_note(periods)
    if note:
        notes.append(note)
    total = metrics.total_return(prices[0])
    result = Returns(
        ticker=periods[0].ticker,
        start=first,
        end=last,
        start_price=float(prices[0].iloc[0]),
        end_price=float(prices[0].iloc[-1]),
        total_return=total,
        annualized_return=metrics.annualized_return(total, first, last),
        includes_dividends=periods[0].series.source.is_dividend_adjusted,
        source=combined_source(periods),
        as_of=last,
        notes=notes,
    )
    if len(periods) > 1:
        bench_total = metrics.total_return(prices[1])
        result.benchmark = periods[1].ticker
        result.benchmark_total_return = bench_total
        result.benchmark_annualized_return = metrics.annualized_return(bench_total, first, last)
        result.excess_return = total - bench_total
    return result


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(get_returns, context)]
