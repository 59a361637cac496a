"""The OpenAI-compatible server over the real embedded engine, spoken to with plain HTTP.

Checks the wire format itself (SSE lines, error shapes, field names), which the typed clients in
the other tests would hide.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import pytest

from model.engine.transformers_engine import TransformersEngine
from model.engine.types import ChatEngine
from model.serving.background import BackgroundServer
from model.serving.openai_server import create_app

QUESTION = [{"role": "user", "content": "What is a bond? Answer in one sentence."}]
PRICE_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_quote",
            "description": "Closing price of a ticker on a day.",
            "parameters": {
                "type": "object",
                "properties": {
                    "ticker": {"type": "string", "maxLength": 8},
                    "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
                },
                "required": ["ticker", "date"],
            },
        },
    },
    {"type": "function", "function": {"name": "get_news", "parameters": {"type": "object"}}},
]


@pytest.fixture(scope="module")
def server(embedded_engine: ChatEngine) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(embedded_engine)) as running:
        yield running


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        yield http


def chat(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"messages": QUESTION, **body})


def sse_payloads(response: httpx.Response) -> list[Any]:
    """Parse an SSE body strictly: only `data: ...` events separated by blank lines."""
    events = response.text.split("\n\n")
    assert events[-1] == ""
    payloads = []
    for event in events[:-1]:
        assert event.startswith("data: "), event
        data = event.removeprefix("data: ")
        payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


def test_health_and_models(client: httpx.Client, embedded_engine: ChatEngine):
    assert client.get("/health").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == [embedded_engine.model_id]
    assert client.get(f"/v1/models/{embedded_engine.model_id}").json()["object"] == "model"


def test_chat_completion_shape(client: httpx.Client, embedded_engine: ChatEngine):
    response = chat(client, model=embedded_engine.model_id, max_completion_tokens=4, temperature=0)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] in ("stop", "length") and choice["logprobs"] is None
    usage = body["usage"]
    assert 1 <= usage["completion_tokens"] <= 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_concatenation_equals_the_greedy_answer(client: httpx.Client):
    params = {"max_tokens": 6, "temperature": 0}
    whole = chat(client, **params).json()["choices"][0]
    response = chat(client, stream=True, stream_options={"include_usage": True}, **params)
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    *chunks, usage_chunk, _ = payloads
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == whole["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["finish_reason"]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] >= 1


def test_logprobs_and_token_ids_are_aligned(client: httpx.Client):
    body = chat(
        client, max_tokens=4, temperature=0, logprobs=True, top_logprobs=2, return_token_ids=True
    ).json()
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert len(entries) == len(choice["token_ids"]) == body["usage"]["completion_tokens"]
    assert len(body["prompt_token_ids"]) == body["usage"]["prompt_tokens"]
    for entry in entries:
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        assert entry["bytes"] == list(entry["token"].encode("utf-8"))
        assert len(entry["top_logprobs"]) == 2
        assert entry["top_logprobs"][0]["logprob"] == pytest.approx(entry["logprob"], abs=1e-4)


def test_n_samples(client: httpx.Client):
    body = chat(client, n=2, max_tokens=2, temperature=1.0, seed=7).json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert all(c["message"]["content"] is not None for c in body["choices"])
    assert body["usage"]["completion_tokens"] <= 4  # summed over the samples


def test_tool_history_and_tool_choice_are_accepted(
    client: httpx.Client, embedded_engine: TransformersEngine
):
    tools = [
        {"type": "function", "function": {"name": "get_price", "parameters": {"type": "object"}}}
    ]
    history = [
        {"role": "user", "content": "NVDA close?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_price", "arguments": '{"ticker": "NVDA"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"close": 181.25}'},
    ]
    common = {"messages": history, "max_tokens": 1, "temperature": 0, "return_token_ids": True}
    full = chat(client, tools=tools, tool_choice="auto", **common)
    assert full.status_code == 200
    prompt = embedded_engine.detokenize(full.json()["prompt_token_ids"])
    assert '"ticker": "NVDA"' in prompt and "181.25" in prompt  # the history was rendered
    assert "<tools>" in prompt  # and the tools offered
    no_tools = chat(client, tools=tools, tool_choice="none", **common).json()
    assert "<tools>" not in embedded_engine.detokenize(no_tools["prompt_token_ids"])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": QUESTION, "temperature": 5}, "temperature"),
        ({}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0"),
        ({"messages": QUESTION, "top_logprobs": 2}, None),
        ({"messages": QUESTION, "n": 2, "stream": True}, None),
        ({"messages": QUESTION, "tool_choice": "required"}, "tool_choice"),
        ({"messages": QUESTION, "tools": PRICE_TOOLS, "tool_choice": "any"}, "tool_choice"),
        (
            {
                "messages": QUESTION,
                "tools": PRICE_TOOLS,
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "tool_choice",
        ),
    ],
)
def test_bad_requests_get_openai_shaped_400s(client: httpx.Client, body: dict, param: str | None):
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    if param is not None:
        assert error["param"] == param


def test_malformed_json_and_unknown_model(client: httpx.Client):
    response = client.post(
        "/v1/chat/completions", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["message"]
    missing = chat(client, model="gpt-9")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/nothing").json()["error"]["message"] == "Not Found"


def test_completions_with_legacy_logprobs(client: httpx.Client):
    body = client.post(
        "/v1/completions",
        json={"prompt": "The price of gold", "max_tokens": 3, "temperature": 0, "logprobs": 2},
    ).json()
    assert body["object"] == "text_completion"
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    assert (
        len(logprobs["tokens"]) == len(logprobs["token_logprobs"]) == len(logprobs["top_logprobs"])
    )
    assert all(len(top) == 2 for top in logprobs["top_logprobs"])
    streamed = client.post(
        "/v1/completions",
        json={"prompt": "The price of gold", "max_tokens": 3, "temperature": 0, "stream": True},
    )
    payloads = sse_payloads(streamed)
    assert payloads[-1] == "[DONE]"
    assert "".join(p["choices"][0]["text"] for p in payloads[:-1]) == choice["text"]


def test_event_loop_stays_free_while_the_engine_works(
    client: httpx.Client, server: BackgroundServer
):
    """Engine calls run in worker threads: /health answers while a long generation runs."""
    finished_at: list[float] = []
    essay = [{"role": "user", "content": "Write a long, detailed essay on the history of banks."}]

    def long_request() -> None:
        with httpx.Client(base_url=server.base_url, timeout=120) as other:
            other.post(
                "/v1/chat/completions",
                json={"messages": essay, "max_tokens": 256, "temperature": 0},
            )
            finished_at.append(time.monotonic())

    worker = threading.Thread(target=long_request)
    started = time.monotonic()
    worker.start()
    answered_at = [started]
    while worker.is_alive():  # 256 tokens at ~100 tokens/s: a few seconds of polling
        assert client.get("/health", timeout=5).status_code == 200
        answered_at.append(time.monotonic())
        time.sleep(0.05)
    worker.join()
    assert finished_at
    duration = finished_at[0] - started
    # A blocked event loop would answer /health only after the generation: one gap as long as
    # the whole request. Free, the answers keep coming while it runs.
    longest_gap = max(b - a for a, b in pairwise(answered_at))
    assert duration > 0.5 and longest_gap < duration / 2, (duration, longest_gap)


@pytest.mark.parametrize("stream", [False, True])
def test_required_tool_choice_always_gets_a_valid_call(client: httpx.Client, stream: bool):
    # The question does not ask for a tool; "required" makes the grammar write a call anyway.
    named = {"type": "function", "function": {"name": "get_quote"}}
    body = {"tools": PRICE_TOOLS, "tool_choice": named, "max_tokens": 48, "temperature": 0}
    response = chat(client, stream=stream, **body)
    assert response.status_code == 200
    if stream:
        deltas = [p["choices"][0]["delta"] for p in sse_payloads(response)[:-1] if p["choices"]]
        calls = [c for d in deltas for c in d.get("tool_calls") or []]
        name = calls[0]["function"]["name"]
        arguments = "".join(c["function"].get("arguments") or "" for c in calls)
    else:
        message = response.json()["choices"][0]["message"]
        name = message["tool_calls"][0]["function"]["name"]
        arguments = message["tool_calls"][0]["function"]["arguments"]
    assert name == "get_quote"
    parsed = json.loads(arguments)
    assert set(parsed) == {"ticker", "date"} and len(parsed["date"]) == 10
