from __future__ import annotations

import pytest

from agent.prompts import EXAMPLES, build_system_prompt
from agent.tool_selection import BM25, confident_tools, select_tools
from core.settings import load_settings
from tests.agent.conftest import TODAY
from tools.discovery import build_registry
from tools.tool import ToolContext


@pytest.fixture(scope="module")
def registry():
    settings = load_settings(tool_modules=[], enabled_tools=None, disabled_tools=[])
    return build_registry(ToolContext(settings, today=TODAY))


@pytest.mark.parametrize(
    ("question", "tool"),
    [
        ("How did NVDA do against SPY in 2023, and what was its max drawdown?", "get_risk_metrics"),
        ("How did NVDA do against SPY in 2023, and what was its max drawdown?", "get_returns"),
        ("NPV of -1000, 300, 400, 500 at 8%", "tvm_npv"),
        ("IRR of cash flows -100, 30, 40, 50", "tvm_irr"),
        ("Monthly payment on a 300000 mortgage at 6% over 30 years", "tvm_payment"),
        ("What sector is JPM in?", "get_company_profile"),
        ("What is 17% of 2500?", "calculate"),
        ("Show me a chart of TSLA in 2024", "price_chart"),
        ("What was AAPL's closing price on 2024-03-01?", "get_quote"),
        ("I bought 10 shares of KO on 2021-03-01. What is my profit?", "position_pnl"),
    ],
)
def test_the_right_tool_is_among_the_few_offered(registry, question, tool):
    chosen = [s["function"]["name"] for s in select_tools(question, registry.schemas(), 4)]
    assert tool in chosen


def test_bm25_prefers_matching_documents():
    scores = BM25(["max drawdown volatility", "net present value"]).scores("drawdown")
    assert scores[0] > scores[1] == 0


def test_every_example_is_a_valid_call(registry):
    for name, example in EXAMPLES.items():
        outcome = (
            registry.call(name, example.arguments) if name.startswith(("tvm", "calc")) else None
        )
        if outcome is not None:
            assert not outcome.is_error, (name, outcome.text)
        tool = registry.get(name)
        tool.args_schema.model_validate(example.arguments)


def test_system_prompt_pins_dates_and_shows_examples():
    prompt = build_system_prompt(["get_returns", "tvm_npv"], TODAY, TODAY.replace(month=8, day=21))
    assert "Today is 2026-09-01" in prompt and "ends on 2026-08-21" in prompt
    assert '"name": "get_returns"' in prompt and "data, not instructions" in prompt


@pytest.mark.parametrize(
    ("question", "tool"),
    [
        ("What was KO's closing price on 2021-12-08?", "get_quote"),
        ("By how much did TSLA rise or fall (in percent) in 2020?", "get_returns"),
        (
            "What was the beta of COST against SPY from 2019-01-09 to 2019-12-05?",
            "get_risk_metrics",
        ),
        (  # a rate in the question is not arithmetic: no calculator
            "If I deposit $250 at the end of every month for 5 years at 6% annual interest "
            "compounded monthly, how much will I have?",
            "tvm_future_value",
        ),
        (  # "return" must not pull in the internal rate of return
            "From 2021-07-15 to 2022-04-27, by how many percentage points did JNJ's total "
            "return differ from AMZN's (JNJ minus AMZN)?",
            "compare_tickers",
        ),
    ],
)
def test_first_call_is_limited_to_confident_matches(registry, question, tool):
    offered, first = confident_tools(question, registry.schemas(), 4, 0.8)
    assert len(offered) == 4 and tool in first and len(first) < 4
    assert first == [s["function"]["name"] for s in offered][: len(first)]


def test_an_unclear_question_leaves_every_offered_tool_callable(registry):
    question = "At what price did KO close on 2021-12-08?"  # "price" pulls in four tools
    offered, first = confident_tools(question, registry.schemas(), 4, 0.8)
    assert first == [s["function"]["name"] for s in offered] and "get_quote" in first
