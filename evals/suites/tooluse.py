"""The project's own tool-use suite: questions an analyst asks, answerable with the built-in tools,
generated deterministically from the offline market snapshot and cash-flow maths.

    examples = build_suite(snapshot_dir, seed=0)   # >= 200 Examples, split train/dev/test

Every question names real trading days on which its tickers have bars, and only tickers whose
prices are as traded (not dividend-adjusted), so "the close on a day" is unambiguous. Gold
answers come from evals/suites/gold.py (pandas/numpy/scipy on the CSV files, never the tools);
each Example records the tool a correct agent calls (`expected_tools`) and other tools that also
lead there (metadata["acceptable_tools"]). Nothing of the snapshot is stored in the repository:
the suite is rebuilt from the snapshot and the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from evals.example import AnswerType, Example
from evals.suites import gold
from evals.suites.templates import TEMPLATES, Template

NAME = "tooluse"
SPLITS = (("train", 0.6), ("dev", 0.2), ("test", 0.2))
FIRST_DAY = date(2017, 1, 3)  # every as-traded ticker but the 2021 listings has data from here
BENCHMARK = "SPY"

Maker = Callable[[random.Random, gold.Snapshot, list[date]], tuple[dict[str, Any], float | str]]


def build_suite(
    snapshot_dir: Path, seed: int = 0, per_template: int = 18, split: str | None = None
) -> list[Example]:
    """Every question of the suite (or of one split), the same for the same snapshot and seed."""
    snapshot = gold.Snapshot(snapshot_dir)
    sessions = _sessions(snapshot)
    rng = random.Random(seed)
    examples: list[Example] = []
    for name, template in TEMPLATES.items():
        maker = MAKERS[name]
        for index in range(per_template):
            params, answer = maker(rng, snapshot, sessions)
            phrasing = template.phrasings[index % len(template.phrasings)]
            examples.append(
                _example(template, f"{NAME}-{name}-{index:03d}", phrasing, params, answer)
            )
    _assign_splits(examples, random.Random(seed + 1))
    return [e for e in examples if split is None or e.split == split]


def _sessions(snapshot: gold.Snapshot) -> list[date]:
    closes = snapshot.closes(BENCHMARK)
    return [stamp.date() for stamp in closes.index if stamp.date() >= FIRST_DAY]


def _assign_splits(examples: list[Example], rng: random.Random) -> None:
    # Split within each template so every split has every kind of question.
    by_template: dict[str, list[Example]] = {}
    for example in examples:
        by_template.setdefault(example.metadata["template"], []).append(example)
    for group in by_template.values():
        order = list(range(len(group)))
        rng.shuffle(order)
        bounds, start = [], 0.0
        for name, share in SPLITS:
            start += share
            bounds.append((name, round(start * len(group))))
        for rank, index in enumerate(order):
            group[index].split = next(name for name, bound in bounds if rank < bound)


def _example(
    template: Template, example_id: str, phrasing: str, params: dict[str, Any], answer: float | str
) -> Example:
    question = phrasing.format(**params)
    meta = {
        "template": template.name,
        "acceptable_tools": list(template.acceptable_tools),
        "rel_tol": template.rel_tol,
        "sign_free": template.sign_free,
        "params": {k: str(v) for k, v in params.items()},
        "reference_calls": reference_calls(template.name, params),
    }
    if isinstance(answer, str):  # a choice between two tickers
        meta["choices"] = [params["ticker"], params["other"]]
        return Example(
            id=example_id,
            benchmark=NAME,
            question=question,
            gold=answer,
            answer_type=AnswerType.SPAN,
            expected_tools=list(template.expected_tools),
            metadata=meta,
        )
    shown = (
        f"{answer * 100:.2f}%" if template.is_percent else f"{answer:,.4f}".rstrip("0").rstrip(".")
    )
    return Example(
        id=example_id,
        benchmark=NAME,
        question=question,
        gold=shown,
        gold_value=answer,
        answer_type=AnswerType.NUMBER,
        scale="percent" if template.is_percent else "",
        expected_tools=list(template.expected_tools),
        metadata=meta,
    )


def reference_calls(template: str, p: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls of a correct solution (name and arguments), for tests and RL rewards."""
    period = {"start": str(p.get("start")), "end": str(p.get("end"))}
    flows = [float(x.replace("$", "").replace(",", "")) for x in _numbers_of(p.get("flows", ""))]
    calls: dict[str, list[dict[str, Any]]] = {
        "price_on_date": [
            {
                "name": "get_quote",
                "arguments": {"ticker": p.get("ticker"), "date": str(p.get("day"))},
            }
        ],
        "total_return": [
            {"name": "get_returns", "arguments": {"ticker": p.get("ticker"), **period}}
        ],
        "max_drawdown": [
            {"name": "get_risk_metrics", "arguments": {"ticker": p.get("ticker"), **period}}
        ],
        "beta_vs_spy": [
            {
                "name": "get_risk_metrics",
                "arguments": {"ticker": p.get("ticker"), **period, "benchmark": BENCHMARK},
            }
        ],
        "volatility": [
            {"name": "get_risk_metrics", "arguments": {"ticker": p.get("ticker"), **period}}
        ],
        "higher_return": [
            {
                "name": "compare_tickers",
                "arguments": {"tickers": [p.get("ticker"), p.get("other")], **period},
            }
        ],
        "return_gap": [
            {
                "name": "compare_tickers",
                "arguments": {"tickers": [p.get("ticker"), p.get("other")], **period},
            }
        ],
        "portfolio_pnl": [
            {"name": "get_quote", "arguments": {"ticker": t, "date": str(d)}}
            for t in (p.get("ticker"), p.get("other"))
            for d in (p.get("start"), p.get("end"))
        ],
        "npv": [
            {
                "name": "tvm_npv",
                "arguments": {"rate": _rate(p), "cashflows": [-float(p.get("cost", 0)), *flows]},
            }
        ],
        "irr": [
            {"name": "tvm_irr", "arguments": {"cashflows": [-float(p.get("cost", 0)), *flows]}}
        ],
        "loan_payment": [
            {
                "name": "tvm_payment",
                "arguments": {
                    "rate": _rate(p) / 12,
                    "nper": p.get("years", 0) * 12,
                    "pv": p.get("principal"),
                },
            }
        ],
        "loan_interest": [
            {
                "name": "amortization_schedule",
                "arguments": {
                    "principal": p.get("principal"),
                    "annual_rate": _rate(p),
                    "years": p.get("years"),
                },
            }
        ],
        "savings_fv": [
            {
                "name": "tvm_future_value",
                "arguments": {
                    "rate": _rate(p) / 12,
                    "nper": p.get("years", 0) * 12,
                    "pmt": -float(p.get("deposit", 0)),
                },
            }
        ],
    }
    return calls[template]


def _rate(p: dict[str, Any]) -> float:
    return float(p.get("rate_pct", 0)) / 100


def _numbers_of(text: str) -> list[str]:
    return [part.strip() for part in text.replace(" and ", ", ").split(", ") if part.strip()]


# -- picking tickers and periods ----------------------------------------------------------------


def _tickers(snapshot: gold.Snapshot) -> list[str]:
    return [
        t
        for t in snapshot.as_traded_tickers()
        if t != BENCHMARK and snapshot.closes(t).index[0].date() <= FIRST_DAY
    ]


def _has_bars(snapshot: gold.Snapshot, ticker: str, *days: date) -> bool:
    index = snapshot.closes(ticker).index
    return all(pd.Timestamp(day) in index for day in days)


def _period(
    rng: random.Random, snapshot: gold.Snapshot, sessions: list[date], *tickers: str
) -> tuple[date, date]:
    """A start and an end session, 40 to 750 sessions apart, on which every ticker has a bar."""
    while True:
        length = rng.randint(40, 750)
        first = rng.randrange(0, len(sessions) - length)
        start, end = sessions[first], sessions[first + length]
        if all(_has_bars(snapshot, t, start, end) for t in (*tickers, BENCHMARK)):
            return start, end


def _one(rng: random.Random, snapshot: gold.Snapshot, sessions: list[date]):
    ticker = rng.choice(_tickers(snapshot))
    start, end = _period(rng, snapshot, sessions, ticker)
    return ticker, start, end, snapshot.window(ticker, start, end)


def _two(rng: random.Random, snapshot: gold.Snapshot, sessions: list[date]):
    ticker, other = rng.sample(_tickers(snapshot), 2)
    start, end = _period(rng, snapshot, sessions, ticker, other)
    return ticker, other, start, end


# -- one maker per template: (question parameters, gold answer) ----------------------------------


def price_on_date(rng, snapshot, sessions):
    ticker = rng.choice(_tickers(snapshot))
    day = rng.choice(sessions)
    while not _has_bars(snapshot, ticker, day):
        day = rng.choice(sessions)
    return {"ticker": ticker, "day": day}, snapshot.close_on(ticker, day)


def total_return(rng, snapshot, sessions):
    ticker, start, end, prices = _one(rng, snapshot, sessions)
    return {"ticker": ticker, "start": start, "end": end}, gold.total_return(prices)


def max_drawdown(rng, snapshot, sessions):
    ticker, start, end, prices = _one(rng, snapshot, sessions)
    return {"ticker": ticker, "start": start, "end": end}, gold.max_drawdown(prices)


def beta_vs_spy(rng, snapshot, sessions):
    ticker, start, end, prices = _one(rng, snapshot, sessions)
    bench = snapshot.window(BENCHMARK, start, end)
    return {"ticker": ticker, "start": start, "end": end}, gold.beta(prices, bench)


def volatility(rng, snapshot, sessions):
    ticker, start, end, prices = _one(rng, snapshot, sessions)
    return {"ticker": ticker, "start": start, "end": end}, gold.annualized_volatility(prices)


def higher_return(rng, snapshot, sessions):
    while True:
        ticker, other, start, end = _two(rng, snapshot, sessions)
        a = gold.total_return(snapshot.window(ticker, start, end))
        b = gold.total_return(snapshot.window(other, start, end))
        if abs(a - b) > 0.005:  # no photo finishes
            params = {"ticker": ticker, "other": other, "start": start, "end": end}
            return params, ticker if a > b else other


def return_gap(rng, snapshot, sessions):
    ticker, other, start, end = _two(rng, snapshot, sessions)
    a = gold.total_return(snapshot.window(ticker, start, end))
    b = gold.total_return(snapshot.window(other, start, end))
    return {"ticker": ticker, "other": other, "start": start, "end": end}, a - b


def portfolio_pnl(rng, snapshot, sessions):
    ticker, other, start, end = _two(rng, snapshot, sessions)
    qty, qty2 = rng.choice([5, 10, 20, 25, 50, 100]), rng.choice([5, 10, 15, 30, 40])
    pnl = qty * (snapshot.close_on(ticker, end) - snapshot.close_on(ticker, start)) + qty2 * (
        snapshot.close_on(other, end) - snapshot.close_on(other, start)
    )
    params = {
        "ticker": ticker,
        "other": other,
        "qty": qty,
        "qty2": qty2,
        "start": start,
        "end": end,
    }
    return params, pnl


def _flows(rng: random.Random) -> tuple[int, int, list[int]]:
    cost = rng.choice([1000, 5000, 10000, 25000, 50000, 100000])
    years = rng.randint(3, 6)
    flows = [round(cost * rng.uniform(0.15, 0.45), -1) for _ in range(years)]
    return cost, years, [int(f) for f in flows]


def _flows_text(flows: list[int]) -> str:
    return ", ".join(f"${f:,}" for f in flows[:-1]) + f" and ${flows[-1]:,}"


def npv(rng, snapshot, sessions):
    cost, years, flows = _flows(rng)
    rate_pct = rng.choice([4, 5, 6, 7.5, 8, 10, 12])
    value = gold.npv(rate_pct / 100, [-cost, *flows])
    params = {"cost": cost, "flows": _flows_text(flows), "years": years, "rate_pct": rate_pct}
    return params, value


def irr(rng, snapshot, sessions):
    while True:
        cost, years, flows = _flows(rng)
        if sum(flows) > cost * 1.02:  # a positive, well-defined IRR
            return {"cost": cost, "flows": _flows_text(flows), "years": years}, gold.irr(
                [-cost, *flows]
            )


def _loan(rng: random.Random) -> dict[str, Any]:
    return {
        "principal": rng.choice([10000, 25000, 150000, 300000, 450000]),
        "rate_pct": rng.choice([3, 3.5, 4.25, 5, 6, 6.5, 7.25]),
        "years": rng.choice([5, 10, 15, 20, 30]),
    }


def loan_payment(rng, snapshot, sessions):
    p = _loan(rng)
    return p, gold.loan_payment(p["principal"], p["rate_pct"] / 100, p["years"])


def loan_interest(rng, snapshot, sessions):
    p = _loan(rng)
    payment = gold.loan_payment(p["principal"], p["rate_pct"] / 100, p["years"])
    return p, payment * p["years"] * 12 - p["principal"]


def savings_fv(rng, snapshot, sessions):
    p = {
        "deposit": rng.choice([100, 250, 500, 1000]),
        "rate_pct": rng.choice([2, 3, 4, 5, 6]),
        "years": rng.choice([5, 10, 20, 30]),
    }
    return p, gold.future_value(p["deposit"], p["rate_pct"] / 100, p["years"])


MAKERS: dict[str, Maker] = {
    "price_on_date": price_on_date,
    "total_return": total_return,
    "max_drawdown": max_drawdown,
    "beta_vs_spy": beta_vs_spy,
    "volatility": volatility,
    "higher_return": higher_return,
    "return_gap": return_gap,
    "portfolio_pnl": portfolio_pnl,
    "npv": npv,
    "irr": irr,
    "loan_payment": loan_payment,
    "loan_interest": loan_interest,
    "savings_fv": savings_fv,
}
