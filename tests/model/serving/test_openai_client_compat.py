"""The official `openai` Python client against our server: proof of wire compatibility.

If OpenAI's own typed client parses every answer (and maps our errors to its exception types),
so will LangChain, LiteLLM and the rest of the ecosystem built on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from model.engine.types import ChatEngine
from model.serving.background import BackgroundServer
from model.serving.openai_server import create_app

openai = pytest.importorskip("openai", reason="pip install -e '.[dev]' installs the openai client")

QUESTION = [{"role": "user", "content": "What is inflation? One sentence."}]


@pytest.fixture(scope="module")
def server(embedded_engine: ChatEngine) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(embedded_engine)) as running:
        yield running


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_models_list(client: openai.OpenAI, embedded_engine: ChatEngine):
    assert [m.id for m in client.models.list()] == [embedded_engine.model_id]


def test_chat_with_logprobs(client: openai.OpenAI, embedded_engine: ChatEngine):
    completion = client.chat.completions.create(
        model=embedded_engine.model_id,
        messages=QUESTION,
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
    )
    choice = completion.choices[0]
    assert choice.message.content and choice.finish_reason in ("stop", "length")
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert len(choice.logprobs.content) == completion.usage.completion_tokens
    assert all(len(entry.top_logprobs) == 2 for entry in choice.logprobs.content)


def test_streaming_matches_non_streaming(client: openai.OpenAI, embedded_engine: ChatEngine):
    common = {"model": embedded_engine.model_id, "messages": QUESTION, "max_tokens": 6}
    whole = client.chat.completions.create(temperature=0, **common)
    stream = client.chat.completions.create(
        temperature=0, stream=True, stream_options={"include_usage": True}, **common
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_tool_history_round_trip(client: openai.OpenAI, embedded_engine: ChatEngine):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_price",
                "description": "Latest close of a ticker.",
                "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}},
            },
        }
    ]
    messages = [
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
    completion = client.chat.completions.create(
        model=embedded_engine.model_id, messages=messages, tools=tools, max_tokens=3, temperature=0
    )
    message = completion.choices[0].message
    for call in message.tool_calls or []:  # a 135M model rarely calls; if it does, it parses
        assert call.id.startswith("call_") and call.type == "function"
        assert isinstance(call.function.arguments, str)


def test_legacy_completions(client: openai.OpenAI, embedded_engine: ChatEngine):
    completion = client.completions.create(
        model=embedded_engine.model_id, prompt="Interest rates", max_tokens=3, logprobs=1
    )
    choice = completion.choices[0]
    assert choice.logprobs is not None
    assert len(choice.logprobs.tokens) == completion.usage.completion_tokens


def test_errors_map_to_openai_exceptions(client: openai.OpenAI, embedded_engine: ChatEngine):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=QUESTION, max_tokens=2)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=embedded_engine.model_id, messages=QUESTION, max_tokens=2, temperature=5
        )
    assert "temperature" in caught.value.message
