"""Question templates of the tool-use suite: how each kind of question is phrased, which tool a
correct agent calls, and how the gold answer is written. Numbers come from evals/suites/gold.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    name: str
    phrasings: tuple[str, ...]
    expected_tools: tuple[str, ...]  # what the intended solution calls
    acceptable_tools: tuple[str, ...] = ()  # other tools that also lead to the answer
    rel_tol: float = 1e-3
    is_percent: bool = False  # gold is a decimal rate, written as a percentage
    sign_free: bool = False  # a drawdown may be stated as a positive fall


TEMPLATES = {
    t.name: t
    for t in (
        Template(
            "price_on_date",
            (
                "What was {ticker}'s closing price on {day}?",
                "At what price did {ticker} close on {day}?",
            ),
            ("get_quote",),
            ("get_price_history",),
        ),
        Template(
            "total_return",
            (
                "What was the total price return of {ticker} from {start} to {end}?",
                "By how much did {ticker} rise or fall (in percent) between {start} and {end}?",
            ),
            ("get_returns",),
            ("get_price_history", "compare_tickers"),
            is_percent=True,
        ),
        Template(
            "max_drawdown",
            (
                "What was the maximum drawdown of {ticker} between {start} and {end}?",
                "How deep was {ticker}'s worst peak-to-trough fall from {start} to {end}?",
            ),
            ("get_risk_metrics",),
            ("compare_tickers",),
            is_percent=True,
            sign_free=True,
        ),
        Template(
            "beta_vs_spy",
            (
                "What was the beta of {ticker} against SPY from {start} to {end}, using daily "
                "returns?",
                "Using daily returns between {start} and {end}, what is {ticker}'s beta versus "
                "SPY?",
            ),
            ("get_risk_metrics",),
            rel_tol=5e-3,
        ),
        Template(
            "volatility",
            (
                "What was the annualised volatility of {ticker}'s daily returns from {start} to "
                "{end}?",
            ),
            ("get_risk_metrics",),
            ("compare_tickers",),
            rel_tol=5e-3,
            is_percent=True,
        ),
        Template(
            "higher_return",
            (
                "Which had the higher total return from {start} to {end}: {ticker} or {other}? "
                "Answer with the ticker.",
                "Between {start} and {end}, did {ticker} or {other} return more?",
            ),
            ("compare_tickers",),
            ("get_returns",),
        ),
        Template(
            "return_gap",
            (
                "From {start} to {end}, by how many percentage points did {ticker}'s total "
                "return differ from {other}'s ({ticker} minus {other})?",
            ),
            ("compare_tickers",),
            ("get_returns",),
            rel_tol=5e-3,
            is_percent=True,
        ),
        Template(
            "portfolio_pnl",
            (
                "I bought {qty} shares of {ticker} and {qty2} shares of {other} at the close on "
                "{start}. What was my profit or loss in dollars at the close on {end}?",
            ),
            ("position_pnl",),
            ("get_quote", "get_price_history", "calculate", "portfolio_value"),
        ),
        Template(
            "npv",
            (
                "A project costs ${cost:,} now and returns {flows} at the end of each of the next "
                "{years} years. What is its NPV at a {rate_pct}% annual discount rate?",
            ),
            ("tvm_npv",),
            ("calculate",),
        ),
        Template(
            "irr",
            (
                "An investment of ${cost:,} today pays {flows} at the end of each of the next "
                "{years} years. What is its internal rate of return?",
            ),
            ("tvm_irr",),
            rel_tol=1e-3,
            is_percent=True,
        ),
        Template(
            "loan_payment",
            (
                "What is the monthly payment on a ${principal:,} loan at {rate_pct}% annual "
                "interest over {years} years?",
            ),
            ("tvm_payment",),
            ("amortization_schedule", "calculate"),
        ),
        Template(
            "loan_interest",
            (
                "How much interest in total is paid on a ${principal:,} loan at {rate_pct}% a "
                "year, repaid monthly over {years} years?",
            ),
            ("amortization_schedule",),
            ("tvm_payment", "calculate"),
        ),
        Template(
            "savings_fv",
            (
                "If I deposit ${deposit:,} at the end of every month for {years} years at "
                "{rate_pct}% annual interest compounded monthly, how much will I have?",
            ),
            ("tvm_future_value",),
            ("calculate",),
        ),
    )
}
