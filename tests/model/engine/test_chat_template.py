"""Rendering conversations with tools, on the embedded model's real tokenizer and template."""

from __future__ import annotations

import json

from model.engine.chat_template import ChatTemplate, hermes_messages, template_supports_tools
from model.engine.transformers_engine import TransformersEngine

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_price",
            "description": "Latest close of a ticker.",
            "parameters": {
                "type": "object",
                "properties": {"ticker": {"type": "string"}},
                "required": ["ticker"],
            },
        },
    }
]

CONVERSATION = [
    {"role": "system", "content": "You are a careful analyst."},
    {"role": "user", "content": "Price of NVDA and SPY?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_price", "arguments": '{"ticker": "NVDA"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "get_price", "arguments": {"ticker": "SPY"}},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "NVDA 131.2"},
    {"role": "tool", "tool_call_id": "c2", "content": "SPY 601.3"},
]


def test_smollm2_template_needs_the_fallback(embedded_engine: TransformersEngine) -> None:
    assert not ChatTemplate(embedded_engine.tokenizer).is_native_tools
    assert template_supports_tools("{% if tools %}{{ tools }}{% endif %}")
    assert not template_supports_tools(None)


def test_tools_render_in_the_system_message(embedded_engine: TransformersEngine) -> None:
    prompt = embedded_engine.render_prompt(CONVERSATION[:2], TOOLS)
    system = prompt.split("<|im_start|>user")[0]
    assert system.startswith("<|im_start|>system\nYou are a careful analyst.")
    schema_line = system.split("<tools>\n")[1].split("\n</tools>")[0]
    assert json.loads(schema_line) == TOOLS[0]
    assert "<tool_call>" in system
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tool_calls_and_responses_render_back(embedded_engine: TransformersEngine) -> None:
    prompt = embedded_engine.render_prompt(CONVERSATION, TOOLS)
    assert (
        '<tool_call>\n{"name": "get_price", "arguments": {"ticker": "NVDA"}}\n</tool_call>'
        in prompt
    )
    assert '{"name": "get_price", "arguments": {"ticker": "SPY"}}' in prompt
    # Both results share one user turn, in order.
    turn = prompt.split("<|im_start|>user\n")[-1].split("<|im_end|>")[0]
    assert turn == (
        "<tool_response>\nNVDA 131.2\n</tool_response>\n<tool_response>\nSPY 601.3\n</tool_response>"
    )


def test_no_system_message_gets_one_for_the_tools() -> None:
    out = hermes_messages([{"role": "user", "content": "hi"}], TOOLS)
    assert out[0]["role"] == "system" and "<tools>" in out[0]["content"]
    assert hermes_messages([{"role": "user", "content": "hi"}], None) == [
        {"role": "user", "content": "hi"}
    ]


def test_without_tools_the_model_template_is_unchanged(embedded_engine: TransformersEngine) -> None:
    messages = [{"role": "user", "content": "hello"}]
    expected = embedded_engine.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    assert embedded_engine.render_prompt(messages) == expected


class _NativeToolsTokenizer:
    """Stands in for a tokenizer whose own template renders tools (as Qwen2.5's does)."""

    chat_template = (
        "{% for t in tools %}TOOL:{{ t.function.name }};{% endfor %}{{ messages[-1].content }}"
    )

    def apply_chat_template(self, messages, tools=None, chat_template=None, **kwargs):
        from jinja2 import Template

        return Template(chat_template).render(messages=messages, tools=tools or [])


def test_native_tool_templates_render_tools_themselves() -> None:
    template = ChatTemplate(_NativeToolsTokenizer())
    assert template.is_native_tools
    assert template.render([{"role": "user", "content": "q"}], TOOLS) == "TOOL:get_price;q"
