"""Compare several tickers over one period: return, annualised return, volatility, max drawdown,
Sharpe, and correlation with the first ticker, on the days they all have."""

from __future__ import annotations

from datetime import date

from langchain_core.tools import BaseTool
from pydantic import Field

from tools import metrics
from tools.builtin.args import DateRangeArgs, Ticker
from tools.builtin.prices import resolve_end
from tools.market.period import basis_note, combined_notes, combined_source, common_window
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, ToolError, define_tool


class CompareArgs(DateRangeArgs):
    tickers: list[Ticker] = Field(min_length=2, max_length=10, description="2 to 10 tickers.")
    risk_free_rate: float = Field(
        default=0.0, ge=-0.05, le=0.5, description="Annual risk-free rate for Sharpe (decimal)."
    )


class Comparison(ToolResult):
    start: date
    end: date
    tickers: list[str]

    def headline(self) -> list[str]:
        """The ranking in words, so "which did better, and by how much" is answered without
        reading the table: the winner on its own line, then first-listed minus second."""
        rows = self.table or []
        if len(rows) < 2:
            return []
        best = max(rows, key=lambda row: row["total_return"])
        first, second = rows[0], rows[1]
        gap = (first["total_return"] - second["total_return"]) * 100
        return [
            f"highest total return: {best['ticker']} ({fmt_pct(best['total_return'])})",
            f"{first['ticker']} minus {second['ticker']}: {gap:.2f} percentage points "
            f"({fmt_pct(first['total_return'])} vs {fmt_pct(second['total_return'])})",
        ]

    def summary(self) -> str:
        lines = [
            f"comparison {self.start} to {self.end}",
            "ticker,total_return,annualized,volatility,max_drawdown,sharpe,corr_with_first",
        ]
        lines[1:1] = self.headline()
        for row in self.table or []:
            lines.append(
                f"{row['ticker']},{fmt_pct(row['total_return'])},{fmt_pct(row['annualized_return'])},"
                f"{fmt_pct(row['volatility'])},{fmt_pct(row['max_drawdown'])},"
                f"{fmt_num(row['sharpe'])},{fmt_num(row['correlation_with_first'])}"
            )
        return "\n".join(lines)


def compare_tickers(args: CompareArgs, context: ToolContext) -> Comparison:
    """Side-by-side performance and risk of 2-10 tickers over the same days: total and annualised
    return, annualised volatility, max drawdown, Sharpe ratio, correlation with the first."""
    tickers = list(dict.fromkeys(args.tickers))
    if len(tickers) < 2:
        raise ToolError("give at least two different tickers to compare")
    end = resolve_end(args, context)
    periods = [context.market.period(ticker, args.start, end) for ticker in tickers]
    prices, notes = common_window(periods)
    notes = combined_notes(periods, notes)
    note = basis_note(periods)
    if note:
        notes.append(note)
    first_returns = metrics.daily_returns(prices[0])
    rows = []
    for period, series in zip(periods, prices, strict=True):
        returns = metrics.daily_returns(series)
        total = metrics.total_return(series)
        rows.append(
            {
                "ticker": period.ticker,
                "total_return": total,
                "annualized_return": metrics.annualized_return(
                    total, series.index[0].date(), series.index[-1].date()
                ),
                "volatility": metrics.annualized_volatility(returns),
                "max_drawdown": metrics.max_drawdown(series).depth,
                "sharpe": metrics.sharpe_ratio(returns, args.risk_free_rate),
                "correlation_with_first": metrics.correlation(returns, first_returns),
            }
        )
    last = prices[0].index[-1].date()
    return Comparison(
        start=prices[0].index[0].date(),
        end=last,
        tickers=[p.ticker for p in periods],
        source=combined_source(periods),
        as_of=last,
        notes=notes,
        table=rows,
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(compare_tickers, context)]
