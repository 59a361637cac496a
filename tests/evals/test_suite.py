"""The tool-use suite: deterministic, large enough, labelled with real tools, and its gold answers
agree with what the project's tools return when called correctly."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from core.db.session import open_database
from core.settings import load_settings
from evals.scorers import score_example
from evals.suites import build_suite
from tools.discovery import build_registry
from tools.tool import ToolContext


@pytest.fixture(scope="module")
def suite(market_dir):
    return build_suite(market_dir, seed=0)


@pytest.fixture(scope="module")
def registry(market_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("suite")
    settings = load_settings(
        data_dir=tmp,
        market_live=False,
        market_snapshot=market_dir,
        tool_modules=[],
        enabled_tools=None,
        disabled_tools=[],
    )
    context = ToolContext(
        settings, database=open_database(f"sqlite:///{tmp / 'h.db'}"), today=date(2026, 9, 1)
    )
    yield build_registry(context)
    context.close()


def test_suite_is_deterministic_and_split(suite, market_dir):
    assert len(suite) >= 200
    again = build_suite(market_dir, seed=0)
    assert [e.model_dump() for e in again] == [e.model_dump() for e in suite]
    other = build_suite(market_dir, seed=1)
    assert [e.question for e in other] != [e.question for e in suite]
    splits = Counter(e.split for e in suite)
    assert set(splits) == {"train", "dev", "test"} and splits["test"] >= 40
    assert len({e.id for e in suite}) == len(suite)
    # Every kind of question is in the test split.
    templates = {e.metadata["template"] for e in suite}
    assert {e.metadata["template"] for e in suite if e.split == "test"} == templates
    assert build_suite(market_dir, seed=0, split="test") == [e for e in suite if e.split == "test"]


def test_expected_tools_exist(suite, registry):
    names = set(registry.names)
    for example in suite:
        assert example.expected_tools and set(example.expected_tools) <= names
        assert set(example.metadata["acceptable_tools"]) <= names


def test_gold_agrees_with_the_tools_called_correctly(suite, registry):
    """Gold answers are computed independently (pandas on the CSVs); the tools, called with the
    reference arguments, must give the same numbers, and a reply stating them scores correct."""
    for example in suite:
        outcomes = [
            registry.call(c["name"], c["arguments"]) for c in example.metadata["reference_calls"]
        ]
        assert not any(o.is_error for o in outcomes), (example.id, [o.text for o in outcomes])
        value = _tool_answer(example, [o.result for o in outcomes])
        if isinstance(value, str):
            assert value == example.gold, example.id
            reply = f"Answer: {value}"
        else:
            assert value == pytest.approx(example.gold_value, rel=1e-6, abs=1e-9), example.id
            reply = (
                f"Answer: {value * 100:.2f}%"
                if example.scale == "percent"
                else f"Answer: {value:,.2f}"
            )
        assert score_example(
            example, reply, tool_calls=example.metadata["reference_calls"]
        ).correct, (
            example.id,
            reply,
            example.gold,
        )


def _tool_answer(example, results):
    template, first = example.metadata["template"], results[0]
    params = example.metadata["params"]
    if template == "price_on_date":
        return first.close
    if template == "total_return":
        return first.total_return
    if template == "max_drawdown":
        return first.max_drawdown
    if template == "beta_vs_spy":
        return first.beta
    if template == "volatility":
        return first.annualized_volatility
    if template in {"higher_return", "return_gap"}:
        a, b = first.table
        if template == "return_gap":
            return a["total_return"] - b["total_return"]
        return a["ticker"] if a["total_return"] > b["total_return"] else b["ticker"]
    if template == "portfolio_pnl":
        start_a, end_a, start_b, end_b = (r.close for r in results)
        return float(params["qty"]) * (end_a - start_a) + float(params["qty2"]) * (end_b - start_b)
    if template == "loan_payment":
        return -first.value  # numpy-financial's sign: a payment is money paid out
    if template == "loan_interest":
        return first.total_interest
    return first.value
