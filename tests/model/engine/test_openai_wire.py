"""Reading OpenAI-compatible answers back into ChatResults: every dialect, no server needed."""

from __future__ import annotations

from model.engine.openai_stream import ChatStreamAccumulator
from model.engine.openai_wire import (
    chat_payload,
    completion_payload,
    parse_chat_response,
    parse_completion_response,
    wire_messages,
)
from model.engine.types import FinishReason, SamplingParams, ToolCall

PARAMS = SamplingParams(max_new_tokens=8, logprobs=True, top_logprobs=2)


def test_payload_sends_only_what_was_asked():
    plain = chat_payload(
        "m",
        [{"role": "user", "content": "hi"}],
        None,
        SamplingParams(logprobs=False),
        stream=False,
        return_token_ids=False,
    )
    # Strict servers (OpenAI) reject arguments they do not know: none of vLLM's by default.
    assert set(plain) == {"model", "messages", "max_tokens", "temperature", "top_p"}
    full = chat_payload(
        "m",
        [{"role": "user", "content": "hi"}],
        [{"type": "function", "function": {"name": "f"}}],
        SamplingParams(top_k=5, stop=("\n",), seed=3, logprobs=True, top_logprobs=2),
        stream=True,
        return_token_ids=True,
    )
    assert full["top_k"] == 5 and full["stop"] == ["\n"] and full["seed"] == 3
    assert full["logprobs"] is True and full["top_logprobs"] == 2
    assert full["stream_options"] == {"include_usage": True} and full["return_token_ids"]
    assert completion_payload("m", [1, 2], PARAMS, return_token_ids=False)["prompt"] == [1, 2]


def test_tool_call_history_is_sent_with_json_string_arguments():
    messages = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "42"},
    ]
    wired = wire_messages(messages)
    assert wired[0]["tool_calls"] == [
        {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert wired[1] == messages[1]
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}  # input untouched


def test_vllm_chat_answer_with_token_ids_and_tool_calls():
    body = {
        "model": "qwen",
        "prompt_token_ids": [1, 2, 3],
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "function": {"name": "f", "arguments": '{"x": 2}'}},
                        {"id": "call_2", "function": {"name": "g", "arguments": "{not json"}},
                    ],
                },
                "logprobs": {
                    "content": [
                        {
                            "token": "<",
                            "logprob": -0.5,
                            "top_logprobs": [{"token": "<", "logprob": -0.5}],
                        },
                        {"token": "tool", "logprob": -0.25, "top_logprobs": []},
                    ]
                },
                "finish_reason": "tool_calls",
                "token_ids": [7, 8],
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    result = parse_chat_response(body, "fallback", PARAMS)
    assert result.model_id == "qwen" and result.content == ""
    assert result.text.startswith("<tool_call>") and '"name": "f"' in result.text  # Hermes form
    assert result.finish_reason is FinishReason.TOOL_CALLS
    assert result.tool_calls[0] == ToolCall(name="f", arguments={"x": 2}, id="call_1")
    assert result.tool_calls[1].arguments == {"_raw": "{not json"}  # kept for the model to fix
    assert result.prompt_ids == [1, 2, 3] and result.completion_ids == [7, 8]
    assert result.logprobs == [-0.5, -0.25]
    assert result.top_logprobs == [{"<": -0.5}, {}]
    assert result.usage.total_tokens == 5


def test_hosted_api_answer_without_ids_or_logprobs():
    body = {"choices": [{"message": {"content": "Hello"}, "finish_reason": "stop"}]}
    result = parse_chat_response(body, "gpt", SamplingParams())
    assert result.text == result.content == "Hello"
    assert result.completion_ids == [] and result.logprobs is None
    assert result.finish_reason is FinishReason.STOP


def test_token_ids_read_from_token_id_spelled_tokens():
    body = {
        "choices": [
            {
                "text": " world",
                "finish_reason": "length",
                "logprobs": {
                    "tokens": ["token_id:5", "token_id:6"],
                    "token_logprobs": [-1.0, -2.0],
                    "top_logprobs": [{"token_id:5": -1.0}, {"token_id:6": -2.0}],
                },
            }
        ]
    }
    result = parse_completion_response(body, "m", PARAMS)
    assert result.completion_ids == [5, 6] and result.logprobs == [-1.0, -2.0]
    assert result.finish_reason is FinishReason.LENGTH
    assert result.usage.completion_tokens == 2  # counted from the ids when usage is missing


def test_stream_accumulator_joins_tool_call_argument_pieces():
    accumulator = ChatStreamAccumulator(model_id="m", params=PARAMS)
    chunks = [
        {"prompt_token_ids": [1, 2], "choices": [{"delta": {"role": "assistant", "content": ""}}]},
        {
            "choices": [
                {
                    "delta": {"content": "Hi"},
                    "token_ids": [9],
                    "logprobs": {"content": [{"token": "Hi", "logprob": -0.3, "top_logprobs": []}]},
                }
            ]
        },
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "function": {"name": "f", "arguments": '{"a":'},
                            }
                        ]
                    }
                }
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 4}},
    ]
    events = [e for e in (accumulator.add(c) for c in chunks) if e is not None]
    assert [(e.text, e.token_ids, e.logprobs) for e in events] == [("Hi", [9], [-0.3])]
    result = accumulator.result()
    assert result.content == "Hi" and result.prompt_ids == [1, 2] and result.completion_ids == [9]
    assert result.tool_calls == [ToolCall(name="f", arguments={"a": 1}, id="c1")]
    assert result.finish_reason is FinishReason.TOOL_CALLS
    assert result.usage.completion_tokens == 4


def test_required_tool_choice_is_sent_only_with_tools():
    from model.engine.openai_wire import chat_payload
    from model.engine.types import SamplingParams

    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    params = SamplingParams(tool_choice="required")
    messages = [{"role": "user", "content": "hi"}]
    payload = chat_payload("m", messages, tools, params, stream=False, return_token_ids=False)
    assert payload["tool_choice"] == "required"
    payload = chat_payload("m", messages, None, params, stream=False, return_token_ids=False)
    assert "tool_choice" not in payload
    plain = chat_payload(
        "m", messages, tools, SamplingParams(), stream=False, return_token_ids=False
    )
    assert "tool_choice" not in plain
