"""Risk metrics of one ticker: volatility, max drawdown with dates, Sharpe, Sortino, and beta and
correlation against a benchmark."""

from __future__ import annotations

from datetime import date

import pandas as pd
from langchain_core.tools import BaseTool
from pydantic import Field

from tools import metrics
from tools.builtin.args import DateRangeArgs, Ticker
from tools.builtin.prices import ticker_and_benchmark
from tools.market.period import basis_note, combined_notes, combined_source, common_window
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, define_tool


class RiskArgs(DateRangeArgs):
    ticker: Ticker
    benchmark: Ticker | None = Field(
        default="SPY", description="Ticker for beta and correlation; null for none."
    )
    risk_free_rate: float = Field(
        default=0.0, ge=-0.05, le=0.5, description="Annual risk-free rate as a decimal (0.04 = 4%)."
    )


class RiskMetrics(ToolResult):
    ticker: str
    start: date
    end: date
    num_returns: int
    annualized_volatility: float | None
    max_drawdown: float
    drawdown_peak: date | None
    drawdown_trough: date | None
    drawdown_recovery: date | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    risk_free_rate: float
    benchmark: str | None = None
    beta: float | None = None
    correlation: float | None = None

    def summary(self) -> str:
        recovery = self.drawdown_recovery or "not recovered by the end"
        text = (
            f"{self.ticker} {self.start} to {self.end} ({self.num_returns} daily returns): "
            f"annualised volatility {fmt_pct(self.annualized_volatility)}; max drawdown "
            f"{fmt_pct(self.max_drawdown)}"
        )
        if self.drawdown_peak:
            text += (
                f" (peak {self.drawdown_peak}, trough {self.drawdown_trough}, recovery {recovery})"
            )
        text += (
            f"; Sharpe {fmt_num(self.sharpe_ratio)}, Sortino {fmt_num(self.sortino_ratio)} "
            f"(risk-free {fmt_pct(self.risk_free_rate)})"
        )
        if self.benchmark:
            text += (
                f"; vs {self.benchmark}: beta {fmt_num(self.beta)}, "
                f"correlation {fmt_num(self.correlation)}"
            )
        return text


def risk_of_prices(prices: pd.Series, risk_free_rate: float) -> dict[str, object]:
    """The benchmark-free metrics of one price series (shared with the portfolio tool)."""
    returns = metrics.daily_returns(prices)
    drawdown = metrics.max_drawdown(prices)
    return {
        "num_returns": len(returns),
        "annualized_volatility": metrics.annualized_volatility(returns),
        "max_drawdown": drawdown.depth,
        "drawdown_peak": drawdown.peak_date,
        "drawdown_trough": drawdown.trough_date,
        "drawdown_recovery": drawdown.recovery_date,
        "sharpe_ratio": metrics.sharpe_ratio(returns, risk_free_rate),
        "sortino_ratio": metrics.sortino_ratio(returns, risk_free_rate),
    }


def get_risk_metrics(args: RiskArgs, context: ToolContext) -> RiskMetrics:
    """Risk of a ticker between two dates from daily returns: annualised volatility, maximum
    drawdown with peak/trough/recovery dates, Sharpe and Sortino ratios, and beta and correlation
    against a benchmark (default SPY). Rates are decimals (0.2 = 20%)."""
    periods = ticker_and_benchmark(args.ticker, args.benchmark, args, context)
    prices, notes = common_window(periods)
    notes = combined_notes(periods, notes)
    if len(prices[0]) < 3:
        notes.append("fewer than 2 daily returns: volatility and ratios cannot be computed")
    note = basis_note(periods)
    if note:
        notes.append(note)
    result = RiskMetrics(
        ticker=periods[0].ticker,
        start=prices[0].index[0].date(),
        end=prices[0].index[-1].date(),
        risk_free_rate=args.risk_free_rate,
        source=combined_source(periods),
        as_of=prices[0].index[-1].date(),
        notes=notes,
        **risk_of_prices(prices[0], args.risk_free_rate),
    )
    if len(periods) > 1:
        own, bench = metrics.daily_returns(prices[0]), metrics.daily_returns(prices[1])
        result.benchmark = periods[1].ticker
        result.beta = metrics.beta(own, bench)
        result.correlation = metrics.correlation(own, bench)
    return result


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(get_risk_metrics, context)]
