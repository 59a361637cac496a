"""The whole agent on the real embedded model, real tools over the snapshot and real SQLite.

A 135M model's choices are not asserted (the quality benchmark measures them); the machinery is:
the episode ends with a known stop reason, every turn's ids and logprobs are logged and aligned,
and any number in the answer is either supported by a tool result or visibly flagged.
"""

from __future__ import annotations

from agent.api import AnswerEvent, TokenEvent
from agent.state import StopReason


def test_embedded_model_end_to_end(make_assistant, embedded_engine):
    assistant = make_assistant(embedded_engine, agent_max_new_tokens=64, agent_max_steps=2)
    events = list(assistant.stream("What was the total return of NVDA in 2023?", "real"))
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerEvent)
    assert any(isinstance(e, TokenEvent) for e in events)
    assert answer.stop_reason in set(StopReason)
    assert answer.answer.strip()
    for token in answer.grounding.get("unsupported", []):
        assert token in answer.answer.split("[unverified:")[-1]

    record = assistant.store.get(answer.trajectory_id)
    assert record.model_id == embedded_engine.model_id
    assert record.turns and all(t.prompt_ids and t.completion_ids for t in record.turns)
    record.validate_alignment()
    # The first turn is grammar-constrained (agent_constrained defaults to true): it is always a
    # schema-valid call of an offered tool with a known ticker, so the registry accepts it.
    first = record.tool_calls[0]
    assert first.name in record.extra["tool_names"]
    assert not first.result.startswith("error: bad arguments")
    assert len(record.turns[0].logprobs) == len(record.turns[0].completion_ids)
    assert (
        len(record.tool_calls)
        == sum(len(m.get("tool_calls", [])) for m in record.messages if m["role"] == "assistant")
        or answer.stop_reason == StopReason.MAX_STEPS
    )


def test_agent_over_an_openai_compatible_server_gets_required_first_calls(
    make_assistant, embedded_engine
):
    """A remote engine has no logits hook: the agent asks for tool_choice "required" on its first
    turn and the server (ours here; vLLM alike) enforces it, so the first call is still valid."""
    from model.engine.openai_engine import OpenAIEngine, OpenAIEngineConfig
    from model.serving.background import BackgroundServer
    from model.serving.openai_server import create_app

    with BackgroundServer(create_app(embedded_engine)) as server:
        remote = OpenAIEngine(OpenAIEngineConfig(base_url=server.base_url + "/v1"))
        try:
            assistant = make_assistant(remote, agent_max_new_tokens=96, agent_max_steps=2)
            assert assistant.runtime.constrain is None and assistant.runtime.require_first_call
            answer = assistant.ask("Please tell me about NVDA's max drawdown in 2022.")
        finally:
            remote.close()
    assert answer.tool_calls, (answer.stop_reason, answer.answer)
    first = answer.tool_calls[0]
    # Either confident match (both report max drawdown) is a valid, data-backed first call.
    assert first["name"] in {"get_risk_metrics", "compare_tickers"} and not first["is_error"]
    arguments = first["arguments"]
    assert arguments.get("ticker") == "NVDA" or "NVDA" in arguments.get("tickers", [])


def test_quote_mode_cuts_the_answer_turn_short(make_assistant, embedded_engine):
    from agent.constrained import DECIDE_AFTER_TOKENS

    assistant = make_assistant(embedded_engine, agent_answer="quote", agent_max_steps=2)
    answer = assistant.ask("What was AAPL's closing price on 2024-03-01?")
    record = assistant.store.get(answer.trajectory_id)
    assert record.tool_calls and record.tool_calls[0].name == "get_quote"
    assert answer.answer.startswith("AAPL close on 2024-03-01: 179.66")
    if len(record.turns) > 1 and not record.turns[1].text.lstrip().startswith("<tool_call>"):
        # The answer turn ends right after it shows it is not another call.
        assert len(record.turns[1].completion_ids) <= DECIDE_AFTER_TOKENS + 1
