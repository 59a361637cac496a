"""The registry: schemas, validation, timeouts, size caps, and errors as text, never raised."""

from __future__ import annotations

import json
import time

import pytest
from langchain_core.tools import tool as langchain_tool
from pydantic import Field

from tools.builtin.args import ToolArgs
from tools.discovery import select_tools
from tools.registry import ToolRegistry
from tools.result import ToolResult
from tools.tool import ToolContext, ToolError, define_tool

ISSUE_TOOLS = {
    "get_price_history",
    "get_quote",
    "get_returns",
    "get_risk_metrics",
    "compare_tickers",
    "get_company_profile",
    "calculate",
    "tvm_npv",
    "tvm_irr",
    "tvm_payment",
    "tvm_future_value",
    "tvm_present_value",
    "amortization_schedule",
    "portfolio_create",
    "portfolio_add_transaction",
    "portfolio_remove",
    "portfolio_value",
    "portfolio_risk",
    "price_chart",
    "get_fundamentals",
}


class EchoArgs(ToolArgs):
    text: str = Field(description="What to say back.")
    times: int = Field(default=1, ge=1, le=3)
    sleep_s: float = Field(default=0.0, ge=0)
    crash: bool = False


class Echo(ToolResult):
    text: str

    def summary(self) -> str:
        return self.text


def echo(args: EchoArgs, context: ToolContext) -> Echo:
    """Say the text back, `times` times."""
    if args.sleep_s:
        time.sleep(args.sleep_s)
    if args.crash:
        raise RuntimeError("boom")
    if args.text == "user error":
        raise ToolError("you asked for an error; ask for something else")
    return Echo(text=" ".join([args.text] * args.times), source="test", as_of=context.today())


@pytest.fixture
def small(context) -> ToolRegistry:
    return ToolRegistry([define_tool(echo, context)], timeout_s=0.5, max_chars=300)


def test_every_issue_tool_is_registered_with_an_openai_schema(registry):
    assert set(registry.names) >= ISSUE_TOOLS
    for schema in registry.schemas():
        assert schema["type"] == "function"
        function = schema["function"]
        assert set(function) >= {"name", "description", "parameters"}
        assert function["description"] and "\n" not in function["description"]
        assert function["parameters"]["type"] == "object"
        json.dumps(schema)  # plain JSON, ready for the engine


def test_schema_carries_types_and_descriptions(registry):
    parameters = registry.schema("get_price_history")["function"]["parameters"]
    assert set(parameters["required"]) == {"ticker", "start"}
    assert parameters["properties"]["start"]["format"] == "date"
    assert "ticker" in parameters["properties"]["ticker"]["description"].lower()
    side = registry.schema("portfolio_add_transaction")["function"]["parameters"]["properties"]
    assert side["side"]["enum"] == ["buy", "sell"]


def test_a_good_call_renders_text_and_keeps_the_result(small):
    outcome = small.call("echo", {"text": "hi", "times": 2})
    assert not outcome.is_error
    assert outcome.text.startswith("hi hi\nsource: test; as of ")
    assert outcome.result.text == "hi hi"
    message = outcome.to_message("call-1")
    assert message == {
        "role": "tool",
        "name": "echo",
        "content": outcome.text,
        "tool_call_id": "call-1",
    }
    assert json.loads(outcome.to_json_text())["result"]["text"] == "hi hi"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"text": "hi"', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"times": 2}, "text: Field required"),
        ({"text": 5}, "text: Input should be a valid string"),
        ({"text": "a", "times": 9}, "times: Input should be less than or equal to 3"),
        ({"text": "a", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"text": "user error"}, "you asked for an error"),
        ({"text": "a", "crash": True}, "echo failed: RuntimeError: boom"),
    ],
)
def test_failures_come_back_as_one_short_error(small, arguments, expected):
    outcome = small.call("echo", arguments)
    assert outcome.is_error
    assert outcome.text.startswith("error: ")
    assert expected in outcome.text
    assert len(outcome.text) <= 410


def test_unknown_tool_names_the_available_ones(small):
    outcome = small.call("nope", {})
    assert outcome.is_error and "unknown tool 'nope'" in outcome.text and "echo" in outcome.text


def test_timeout_abandons_the_call(small):
    started = time.perf_counter()
    outcome = small.call("echo", {"text": "slow", "sleep_s": 5})
    assert outcome.is_error and "timed out after 0.5 s" in outcome.text
    assert time.perf_counter() - started < 2


def test_result_size_is_capped(small):
    outcome = small.call("echo", {"text": "x" * 290, "times": 3})
    assert outcome.is_truncated
    assert "[truncated" in outcome.text
    assert len(outcome.text) < 300 + 100


def test_a_plain_langchain_tool_plugs_in(context):
    @langchain_tool
    def shout(word: str) -> str:
        """Say a word loudly."""
        return word.upper() + "!"

    registry = ToolRegistry([shout])
    assert (
        registry.schema("shout")["function"]["parameters"]["properties"]["word"]["type"] == "string"
    )
    outcome = registry.call("shout", {"word": "hey"})
    assert not outcome.is_error and outcome.text.startswith("HEY!")
    assert registry.call("shout", {}).is_error


def test_duplicate_names_are_refused(context):
    with pytest.raises(ValueError, match="two tools"):
        ToolRegistry([define_tool(echo, context), define_tool(echo, context)])


def test_define_tool_needs_a_model_and_a_docstring(context):
    def untyped(args, context):
        """Doc."""

    def undocumented(args: EchoArgs, context: ToolContext) -> None:
        pass

    with pytest.raises(TypeError, match="pydantic model"):
        define_tool(untyped, context)
    with pytest.raises(TypeError, match="docstring"):
        define_tool(undocumented, context)


def test_enable_and_disable_by_setting(registry, settings, context):
    tools = [registry.get(name) for name in registry.names]
    only = settings.model_copy(update={"enabled_tools": ["calculate", "get_quote"]})
    assert [t.name for t in select_tools(tools, only)] == ["get_quote", "calculate"]
    without = settings.model_copy(update={"disabled_tools": ["calculate"]})
    names = [t.name for t in select_tools(tools, without)]
    assert "calculate" not in names and "get_quote" in names
