"""Hermes tool-call parsing and formatting: forgiving where the intent is clear, never lossy."""

from __future__ import annotations

import json

import pytest

from model.engine.hermes import (
    format_tool_call,
    normalize_tool_spec,
    parse_tool_calls,
    render_tools_prompt,
)
from model.engine.types import ToolCall


def test_single_call_with_surrounding_whitespace() -> None:
    text = '<tool_call>\n  {"name": "get_price", "arguments": {"ticker": "NVDA"}}  \n</tool_call>'
    content, calls = parse_tool_calls(text)
    assert content == ""
    assert [(c.name, c.arguments) for c in calls] == [("get_price", {"ticker": "NVDA"})]
    assert calls[0].id.startswith("call_")


def test_content_before_and_multiple_calls() -> None:
    text = (
        "Let me look both up.\n"
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    )
    content, calls = parse_tool_calls(text)
    assert content == "Let me look both up."
    assert [c.name for c in calls] == ["a", "b"]
    assert calls[0].id != calls[1].id


def test_missing_closing_tag_at_end_of_text() -> None:
    content, calls = parse_tool_calls('<tool_call>\n{"name": "a", "arguments": {"x": 2}}\n')
    assert content == ""
    assert calls[0].arguments == {"x": 2}


def test_trailing_junk_after_the_object_is_ignored() -> None:
    _, calls = parse_tool_calls('<tool_call>{"name": "a", "arguments": {}}}} oops</tool_call>')
    assert [c.name for c in calls] == ["a"]


def test_single_quotes_and_code_fence() -> None:
    _, calls = parse_tool_calls("<tool_call>{'name': 'a', 'arguments': {'k': 'v'}}</tool_call>")
    assert calls[0].arguments == {"k": "v"}
    fenced = '<tool_call>\n```json\n{"name": "b", "arguments": {"n": 3}}\n```\n</tool_call>'
    assert parse_tool_calls(fenced)[1][0].arguments == {"n": 3}


def test_arguments_as_json_string_and_missing_arguments() -> None:
    _, calls = parse_tool_calls('<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call>')
    assert calls[0].arguments == {"x": 1}
    assert parse_tool_calls('<tool_call>{"name": "a"}</tool_call>')[1][0].arguments == {}


@pytest.mark.parametrize(
    "body",
    ['{"name": "a", "arguments": ', "not json at all", '{"arguments": {}}', '{"name": 3}'],
)
def test_invalid_block_is_not_a_call_and_stays_in_content(body: str) -> None:
    text = f"before <tool_call>{body}</tool_call> after"
    content, calls = parse_tool_calls(text)
    assert calls == []
    assert content == text


def test_invalid_block_kept_while_valid_one_is_parsed() -> None:
    text = '<tool_call>broken</tool_call>\n<tool_call>{"name": "ok", "arguments": {}}</tool_call>'
    content, calls = parse_tool_calls(text)
    assert [c.name for c in calls] == ["ok"]
    assert content == "<tool_call>broken</tool_call>"


def test_plain_text_untouched() -> None:
    assert parse_tool_calls("  just an answer \n") == ("just an answer", [])


def test_format_round_trips_through_the_parser() -> None:
    call = ToolCall(name="risk", arguments={"ticker": "SPY", "window": 252, "note": "é"})
    text = format_tool_call(call)
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>")
    assert parse_tool_calls(text)[1][0].arguments == call.arguments
    openai_shape = {"id": "x", "type": "function", "function": {"name": "risk", "arguments": "{}"}}
    assert json.loads(format_tool_call(openai_shape).split("\n")[1]) == {
        "name": "risk",
        "arguments": {},
    }


def test_tools_prompt_holds_every_schema() -> None:
    tools = [
        {"name": "a", "description": "A.", "parameters": {"type": "object", "properties": {}}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}},
    ]
    prompt = render_tools_prompt(tools)
    inside = prompt.split("<tools>\n")[1].split("\n</tools>")[0].splitlines()
    assert [json.loads(line)["function"]["name"] for line in inside] == ["a", "b"]
    assert "<tool_call>" in prompt and '"arguments"' in prompt


def test_bad_tool_spec_says_what_shape_is_expected() -> None:
    with pytest.raises(ValueError, match=r"type.*function"):
        normalize_tool_spec({"description": "no name"})
