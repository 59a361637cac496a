"""The openai backend, for real: OpenAIEngine -> huijin's server -> the embedded SmolLM2 engine.

Every model-backed test compares against the embedded engine called directly, so "the HTTP round
trip loses nothing" is checked token by token. Error paths use a real socket each: a closed port,
and a tiny scripted server answering 503 / 401 / 400 / slowly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from model.engine.openai_engine import OpenAIEngine, OpenAIEngineConfig
from model.engine.transformers_engine import TransformersEngine
from model.engine.types import ChatEngine, ChatResult, EngineError, FinishReason, SamplingParams
from model.serving.background import BackgroundServer, free_port
from model.serving.openai_server import create_app
from tests.model.engine.scripted_server import Reply, scripted_server

GREEDY = SamplingParams(max_new_tokens=6, temperature=0.0, logprobs=True, top_logprobs=3)
QUESTION = [{"role": "user", "content": "What is a stock? Answer in one sentence."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_price",
            "description": "Latest closing price of a ticker.",
            "parameters": {
                "type": "object",
                "properties": {"ticker": {"type": "string"}},
                "required": ["ticker"],
            },
        },
    }
]
TOOL_HISTORY = [
    {"role": "user", "content": "What did NVDA close at?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_price", "arguments": {"ticker": "NVDA"}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"close": 181.25}'},
]
OK_CHAT = {
    "model": "m",
    "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
}


@pytest.fixture(scope="module")
def server(embedded_engine: ChatEngine) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(embedded_engine)) as running:
        yield running


@pytest.fixture
def engine(server: BackgroundServer) -> Iterator[OpenAIEngine]:
    with OpenAIEngine(OpenAIEngineConfig(base_url=server.base_url, max_retries=0)) as remote:
        yield remote


def test_info_lists_the_served_model(engine: OpenAIEngine, embedded_engine: ChatEngine):
    info = engine.info()
    assert engine.model_id == embedded_engine.model_id == info.model_id
    assert info.backend == "openai" and info.source.endswith("/v1")


@pytest.fixture(scope="module")
def direct(embedded_engine: ChatEngine) -> ChatResult:
    """The embedded engine's own answer: what every round trip must reproduce."""
    return embedded_engine.chat(QUESTION, params=GREEDY)


def test_chat_equals_the_embedded_engine_token_for_token(engine: OpenAIEngine, direct: ChatResult):
    remote = engine.chat(QUESTION, params=GREEDY)
    assert remote.content == direct.content and remote.content
    assert remote.completion_ids == direct.completion_ids
    assert remote.prompt_ids == direct.prompt_ids
    assert remote.finish_reason == direct.finish_reason
    assert remote.usage.completion_tokens == len(remote.completion_ids)
    # Logprobs come back aligned one-to-one with the token ids, alternatives included (to float
    # rounding: the second request reuses the first one's prompt KV from the prefix cache).
    assert remote.logprobs == pytest.approx(direct.logprobs, abs=1e-3)
    assert remote.top_logprobs is not None
    assert len(remote.completion_ids) == len(remote.logprobs) == len(remote.top_logprobs)
    for logprob, alternatives in zip(remote.logprobs, remote.top_logprobs, strict=True):
        assert 1 <= len(alternatives) <= GREEDY.top_logprobs
        # Greedy picks the most likely token: no alternative beats it.
        assert max(alternatives.values()) == pytest.approx(logprob, abs=1e-4)


def test_stream_concatenates_to_the_non_streamed_turn(engine: OpenAIEngine, direct: ChatResult):
    events = list(engine.stream_chat(QUESTION, params=GREEDY))
    final = events[-1]
    assert final.result is not None and final.finish_reason == direct.finish_reason
    assert "".join(e.text for e in events[:-1]) == direct.content
    assert [i for e in events[:-1] for i in e.token_ids] == direct.completion_ids
    assert final.result.completion_ids == direct.completion_ids
    assert final.result.prompt_ids == direct.prompt_ids
    assert final.result.logprobs == pytest.approx(direct.logprobs, abs=1e-3)


def test_tool_call_history_is_rendered_like_the_embedded_engine(
    engine: OpenAIEngine, embedded_engine: TransformersEngine
):
    # Assistant tool_calls travel as JSON strings and must reach the template as the same turn.
    remote = engine.chat(TOOL_HISTORY, tools=TOOLS, params=SamplingParams(max_new_tokens=1))
    rendered = embedded_engine.render_prompt(TOOL_HISTORY, TOOLS)
    assert remote.prompt_ids == embedded_engine.tokenize(rendered)
    assert '"name": "get_price"' in rendered and "181.25" in rendered


def test_complete_continues_token_ids(engine: OpenAIEngine, embedded_engine: ChatEngine):
    params = SamplingParams(max_new_tokens=4, logprobs=True)
    direct = embedded_engine.complete("The stock market is", params)
    remote = engine.complete(direct.prompt_ids, params)
    assert remote.text == direct.text and remote.completion_ids == direct.completion_ids
    assert remote.logprobs == pytest.approx(direct.logprobs, abs=1e-3)


def test_concurrent_threads_and_chat_batch(engine: OpenAIEngine):
    prompts = [[{"role": "user", "content": f"Name a stock ticker. #{i}"}] for i in range(2)]
    params = SamplingParams(max_new_tokens=2)
    with ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(lambda m: engine.chat(m, params=params), prompts))
    batched = engine.chat_batch(prompts, params=params)
    for result in [*threaded, *batched]:
        assert 1 <= len(result.completion_ids) <= 2
        assert result.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)


def test_bad_request_is_a_400_with_the_servers_reason(engine: OpenAIEngine):
    with pytest.raises(EngineError, match=r"server returned 400: messages\.0\.role"):
        engine.chat([{"role": "robot", "content": "hi"}], params=GREEDY)


def test_unknown_model_is_a_404(server: BackgroundServer):
    config = OpenAIEngineConfig(base_url=server.base_url, model="gpt-9", max_retries=0)
    with OpenAIEngine(config) as remote, pytest.raises(EngineError, match=r"404.*gpt-9"):
        remote.chat(QUESTION, params=GREEDY)


def test_unreachable_server_says_how_to_start_one():
    port = free_port()
    config = OpenAIEngineConfig(base_url=f"http://127.0.0.1:{port}", max_retries=1, backoff_s=0.01)
    with OpenAIEngine(config) as remote:
        with pytest.raises(EngineError) as caught:
            remote.info()
        assert remote.num_retries == 1
    assert str(caught.value) == (
        f"cannot reach http://127.0.0.1:{port}/v1 (connection refused): "
        "is the server running? start one with `huijin serve`"
    )


def test_503_is_retried_with_backoff_then_reported():
    unavailable = Reply(503, {"error": {"message": "overloaded"}})
    with scripted_server(unavailable) as (url, script):
        config = OpenAIEngineConfig(base_url=url, model="m", max_retries=2, backoff_s=0.01)
        with OpenAIEngine(config) as remote, pytest.raises(EngineError) as caught:
            remote.chat(QUESTION)
        assert len(script.requests) == 3 and remote.num_retries == 2
    assert str(caught.value) == "server returned 503 after 3 attempts: overloaded"


def test_429_then_success_recovers():
    busy = Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"})
    with scripted_server(busy, Reply(200, OK_CHAT)) as (url, script):
        config = OpenAIEngineConfig(base_url=url, model="m", max_retries=2, backoff_s=0.01)
        with OpenAIEngine(config) as remote:
            assert remote.chat(QUESTION).content == "ok"
        assert len(script.requests) == 2


def test_401_is_not_retried_and_names_the_key_setting():
    with scripted_server(Reply(401, {"error": {"message": "bad key"}})) as (url, script):
        config = OpenAIEngineConfig(base_url=url, model="m", api_key="sk-wrong", max_retries=3)
        with OpenAIEngine(config) as remote, pytest.raises(EngineError) as caught:
            remote.chat(QUESTION)
        assert len(script.requests) == 1
    assert str(caught.value) == "server returned 401: check HUIJIN_OPENAI_API_KEY (bad key)"
    assert "sk-wrong" not in repr(config)


def test_server_refusing_return_token_ids_is_asked_again_without_it():
    refusal = Reply(400, {"error": {"message": "Unrecognized request argument: return_token_ids"}})
    with scripted_server(refusal, Reply(200, OK_CHAT)) as (url, script):
        config = OpenAIEngineConfig(base_url=url, model="m", max_retries=0)
        with OpenAIEngine(config) as remote:
            assert remote.chat(QUESTION).content == "ok"
            assert remote.chat(QUESTION).content == "ok"
    assert ["return_token_ids" in body for body in script.requests] == [True, False, False]


def test_timeout_is_one_clear_line():
    with scripted_server(Reply(200, OK_CHAT, delay_s=1.0)) as (url, _):
        config = OpenAIEngineConfig(base_url=url, model="m", timeout_s=0.2, max_retries=2)
        with (
            OpenAIEngine(config) as remote,
            pytest.raises(EngineError, match=r"timed out after 0\.2s"),
        ):
            remote.chat(QUESTION)


def test_config_is_validated_with_a_fix():
    with pytest.raises(ValueError, match=re.escape("http://127.0.0.1:8000/v1")):
        OpenAIEngineConfig(base_url="localhost:8000")
    assert OpenAIEngineConfig(base_url="http://h:1").api_base == "http://h:1/v1"
    assert OpenAIEngineConfig(base_url="https://q.example/v2/").api_base == "https://q.example/v2"
