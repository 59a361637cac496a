"""The OpenAI wire format built from engine results: pure functions, no model needed."""

from __future__ import annotations

import json

from model.engine.types import ChatResult, FinishReason, StreamEvent, ToolCall, Usage
from model.serving.openai_responses import (
    chat_completion,
    text_completion,
    token_id_text,
    tool_calls_json,
)
from model.serving.openai_stream import ToolMarkupFilter, chat_sse

TOKENS = {10: "The", 11: " price", 12: " is", 13: " ☃"}


def spell(token_id: int) -> str:
    return TOKENS[token_id]


def tool_result() -> ChatResult:
    return ChatResult(
        text='<tool_call>{"name": "get_price", "arguments": {"ticker": "NVDA"}}</tool_call>',
        model_id="m",
        finish_reason=FinishReason.TOOL_CALLS,
        prompt_ids=[1, 2, 3],
        completion_ids=[10, 11],
        logprobs=[-0.1, -0.2],
        top_logprobs=[{"The": -0.1, "A": -2.5, "An": -3.0}, {" price": -0.2}],
        tool_calls=[
            ToolCall(name="get_price", arguments={"ticker": "NVDA"}, id="call_abc"),
            ToolCall(name="get_risk", arguments={"ticker": "SPY", "window": 252}),
        ],
        content="",
        usage=Usage(prompt_tokens=3, completion_tokens=2),
    )


def test_tool_calls_become_openai_tool_calls_with_json_string_arguments():
    response = chat_completion(
        [tool_result()], model="m", logprobs=False, num_top=0, token_text=spell
    )
    choice = response["choices"][0]
    assert response["object"] == "chat.completion"
    assert response["id"].startswith("chatcmpl-")
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None  # OpenAI: null when the turn is only calls
    first, second = choice["message"]["tool_calls"]
    assert first == {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_price", "arguments": '{"ticker": "NVDA"}'},
    }
    assert second["id"].startswith("call_") and len(second["id"]) > len("call_")
    assert json.loads(second["function"]["arguments"]) == {"ticker": "SPY", "window": 252}
    assert choice["logprobs"] is None
    assert response["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_logprobs_content_aligns_with_tokens_and_ranks_alternatives():
    response = chat_completion(
        [tool_result()], model="m", logprobs=True, num_top=2, token_text=spell
    )
    content = response["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in content] == ["The", " price"]
    assert [e["logprob"] for e in content] == [-0.1, -0.2]
    assert content[0]["bytes"] == list(b"The")
    assert [a["token"] for a in content[0]["top_logprobs"]] == ["The", "A"]  # best 2, in order
    assert content[1]["top_logprobs"] == [
        {"token": " price", "logprob": -0.2, "bytes": list(b" price")}
    ]


def test_token_ids_extension_and_usage_over_n_samples():
    results = [tool_result(), tool_result()]
    response = chat_completion(
        results, model="m", logprobs=False, num_top=0, token_text=spell, return_token_ids=True
    )
    assert [c["index"] for c in response["choices"]] == [0, 1]
    assert response["choices"][1]["token_ids"] == [10, 11]
    assert response["prompt_token_ids"] == [1, 2, 3]
    # The prompt is counted once for n samples, as OpenAI does.
    assert response["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_streamed_tool_calls_carry_an_index():
    calls = tool_calls_json(tool_result().tool_calls, with_index=True)
    assert [c["index"] for c in calls] == [0, 1]


def test_text_completion_legacy_logprobs():
    result = ChatResult(
        text="The price is",
        model_id="m",
        finish_reason=FinishReason.LENGTH,
        prompt_ids=[5],
        completion_ids=[10, 11, 12],
        logprobs=[-0.1, -0.2, -0.3],
        top_logprobs=[{"The": -0.1, "A": -1.0}, {" price": -0.2}, {" is": -0.3}],
        usage=Usage(prompt_tokens=1, completion_tokens=3),
    )
    response = text_completion([[result]], model="m", logprobs=1, token_text=spell)
    choice = response["choices"][0]
    assert response["object"] == "text_completion"
    assert choice["text"] == "The price is" and choice["finish_reason"] == "length"
    logprobs = choice["logprobs"]
    assert logprobs["tokens"] == ["The", " price", " is"]
    assert logprobs["token_logprobs"] == [-0.1, -0.2, -0.3]
    assert logprobs["top_logprobs"][0] == {"The": -0.1}
    assert logprobs["text_offset"] == [0, 3, 9]


def test_token_id_spelling_without_a_tokenizer():
    assert token_id_text(42) == "token_id:42"


def test_markup_filter_holds_back_tool_call_markup_split_across_pieces():
    markup = ToolMarkupFilter()
    pieces = ["Let me", " check.", "\n<tool", "_call>", '{"name": "x"}', "</tool_call>"]
    sent = "".join(markup.feed(p) for p in pieces)
    assert sent == "Let me check."
    assert markup.rest("Let me check.") == ""


def test_markup_filter_releases_a_false_alarm_and_trailing_whitespace_at_the_end():
    markup = ToolMarkupFilter()
    sent = markup.feed("a < b and <to") + markup.feed("day")
    assert sent == "a < b and <today"
    assert markup.feed(" \n") == ""  # held: it may precede a tool call
    assert markup.rest("a < b and <today \n") == " \n"


def _parse_sse(lines: list[str]) -> list[dict | str]:
    out: list[dict | str] = []
    for line in lines:
        assert line.startswith("data: ") and line.endswith("\n\n")
        data = line[len("data: ") : -2]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_chat_sse_chunks_in_openai_format():
    result = tool_result()
    result.content = "Checking."
    events = iter(
        [
            StreamEvent(text="Checking.", token_ids=[10], logprobs=[-0.1]),
            StreamEvent(text="<tool_call>{}", token_ids=[11], logprobs=[-0.2]),
            StreamEvent(finish_reason=FinishReason.TOOL_CALLS, result=result),
        ]
    )
    chunks = _parse_sse(
        list(chat_sse(events, model="m", logprobs=True, token_text=spell, include_usage=True))
    )
    assert chunks[-1] == "[DONE]"
    *data, usage, _ = chunks
    assert all(c["object"] == "chat.completion.chunk" for c in data)
    assert len({c["id"] for c in data}) == 1
    assert data[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in data)
    assert text == "Checking."
    streamed_logprobs = [
        e["token"]
        for c in data
        if c["choices"][0]["logprobs"]
        for e in c["choices"][0]["logprobs"]["content"]
    ]
    assert streamed_logprobs == ["The", " price"]
    tool_delta = data[-2]["choices"][0]["delta"]["tool_calls"]
    assert [t["function"]["name"] for t in tool_delta] == ["get_price", "get_risk"]
    assert data[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert all(c["usage"] is None for c in data)
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 5


def test_chat_sse_reports_an_engine_failure_in_band():
    def failing():
        yield StreamEvent(text="Hi", token_ids=[10])
        raise RuntimeError("device lost")

    chunks = _parse_sse(
        list(chat_sse(failing(), model="m", logprobs=False, token_text=spell, include_usage=False))
    )
    assert chunks[-1] == "[DONE]"
    assert "device lost" in chunks[-2]["error"]["message"]
