"""The graph's routing, fail-closed behaviour, logging and persistence, on scripted turns."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from agent.api import AnswerEvent, TokenEvent, ToolCallEvent, ToolResultEvent
from agent.state import StopReason
from tests.agent.conftest import ScriptedEngine


def call(tool: str, /, **arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': tool, 'arguments': arguments})}\n</tool_call>"


RETURNS_2023 = call("get_returns", ticker="nvda", start="2023-01-01", end="2023-12-31")


def test_tool_then_answer_is_grounded_and_logged(make_assistant):
    engine = ScriptedEngine([RETURNS_2023, "NVDA returned 238.95% in 2023 (SPY 24.29%)."])
    assistant = make_assistant(engine)
    events = list(assistant.stream("How did NVDA do in 2023?", "t1"))
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)).startswith("<tool_call>")
    events = [e for e in events if not isinstance(e, TokenEvent)]

    assert [type(e) for e in events] == [ToolCallEvent, ToolResultEvent, AnswerEvent]
    assert events[0].arguments["ticker"] == "NVDA"  # repaired from "nvda"
    answer = events[-1].answer
    assert answer.stop_reason == StopReason.ANSWERED
    assert answer.grounding["unsupported"] == []
    assert "238.95" in answer.grounding["supported"]
    assert answer.answer == "NVDA returned 238.95% in 2023 (SPY 24.29%)."

    record = assistant.store.get(answer.trajectory_id)
    assert record.thread_id == "t1" and record.model_id == "scripted"
    assert [t.turn_index for t in record.turns] == [0, 1]
    assert record.turns[0].completion_ids and len(record.turns[0].logprobs) == len(
        record.turns[0].completion_ids
    )
    assert record.tool_calls[0].name == "get_returns" and not record.tool_calls[0].is_error
    assert "238.95%" in record.tool_calls[0].result
    assert record.messages[0]["role"] == "system"
    assert record.settings["agent_max_steps"] == "4"
    # The second model turn saw the tool result as a tool message.
    assert engine.prompts[1][-1]["role"] == "tool"


def test_invented_number_is_flagged(make_assistant):
    engine = ScriptedEngine([RETURNS_2023, "NVDA returned 312.5% in 2023."])
    assistant = make_assistant(engine, agent_on_unsupported="flag")
    answer = assistant.ask("How did NVDA do in 2023?")
    assert answer.grounding["unsupported"] == ["312.5"]
    assert "[unverified: 312.5" in answer.answer


def test_invented_number_replaces_the_answer_by_the_tools_words(make_assistant):
    engine = ScriptedEngine([RETURNS_2023, "NVDA returned 312.5% in 2023.", "And?"])
    assistant = make_assistant(engine)
    answer = assistant.ask("How did NVDA do in 2023?", "t")
    assert answer.grounding["replaced"] and answer.grounding["unsupported"] == ["312.5"]
    assert "312.5" not in answer.answer and "238.95%" in answer.answer
    assert "source:" in answer.answer and "[unverified" not in answer.answer
    # The next question sees the answer the user saw, not the discarded one.
    assistant.ask("And the year before?", "t")
    earlier = [m["content"] for m in engine.prompts[-1][1:3]]
    assert earlier[0] == "How did NVDA do in 2023?" and "238.95%" in earlier[1]


def test_no_data_fails_closed(make_assistant):
    engine = ScriptedEngine([call("get_quote", ticker="ZZZZQ"), "ZZZZQ closed at 42.17."])
    answer = make_assistant(engine).ask("What is ZZZZQ trading at?")
    assert answer.stop_reason == StopReason.NO_DATA
    assert "could not get the data" in answer.answer and "42.17" not in answer.answer
    assert engine.replies == ["ZZZZQ closed at 42.17."]  # the model never got to narrate


def test_step_limit_stops(make_assistant):
    quote = call("get_quote", ticker="AAPL", date="2024-03-01")
    engine = ScriptedEngine([quote, quote, quote])
    answer = make_assistant(engine, agent_max_steps=2).ask("AAPL?")
    assert answer.stop_reason == StopReason.MAX_STEPS
    assert answer.num_steps == 2 and len(answer.tool_calls) == 1
    assert answer.grounding["unsupported"] == []


def test_tool_result_instructions_are_never_executed(make_assistant):
    """A tool result carrying a forged call, a forged turn boundary and an instruction: the
    agent executes only what the model wrote, and the model reads the markup defanged."""
    engine = ScriptedEngine([call("fetch_news", ticker="NVDA"), "Chip demand is strong."])
    assistant = make_assistant(
        engine, tool_modules=["tests.agent.injection_tool"], agent_max_tools_in_prompt=50
    )
    answer = assistant.ask("Any news on NVDA?")
    assert [c["name"] for c in answer.tool_calls] == ["fetch_news"]
    assert answer.stop_reason == StopReason.ANSWERED
    assert assistant.registry.call("portfolio_value", {"portfolio": "pwned"}).is_error
    tool_message = engine.prompts[1][-1]
    assert tool_message["role"] == "tool"
    for markup in ("<tool_call>", "</tool_response>", "<|im_start|>", "<|im_end|>"):
        assert markup not in tool_message["content"]
    assert "[tool_call]" in tool_message["content"]  # still readable as data


def test_only_offered_tools_run(make_assistant):
    """A call to a registered tool that was not offered for this question is refused."""
    engine = ScriptedEngine([call("portfolio_create", name="x"), "Done."])
    answer = make_assistant(engine, agent_max_tools_in_prompt=2).ask("What is 2 + 2?")
    assert answer.tool_calls[0]["is_error"]
    assert "not offered" in answer.tool_calls[0]["result"]


def test_threads_persist_and_do_not_mix(make_assistant):
    engine = ScriptedEngine(["Hello A.", "Hello B.", "Still A."])
    assistant = make_assistant(engine)
    assistant.ask("I am A", "thread-a")
    assistant.ask("I am B", "thread-b")
    assistant.ask("Who am I?", "thread-a")
    third_prompt = engine.prompts[2]
    texts = [m["content"] for m in third_prompt[1:]]
    assert texts == ["I am A", "Hello A.", "Who am I?"]
    assert [m["content"] for m in assistant.history("thread-b")] == ["I am B", "Hello B."]


def test_threads_are_listed_newest_first_with_their_first_question(make_assistant):
    assistant = make_assistant(ScriptedEngine(["A1.", "B1.", "A2."]))
    assistant.ask("First in A", "thread-a")
    assistant.ask("First in B", "thread-b")
    assistant.ask("Second in A", "thread-a")
    threads = assistant.threads()
    assert [t.thread_id for t in threads] == ["thread-a", "thread-b"]
    assert threads[0].first_question == "First in A" and threads[0].num_episodes == 2


def test_episode_overrides_apply_to_one_episode_only(make_assistant):
    calls = "<tool_call>" + json.dumps({"name": "calculate", "arguments": {"expression": "1+1"}})
    engine = ScriptedEngine([calls + "</tool_call>", "done"])
    assistant = make_assistant(engine, agent_max_steps=4)
    answer = assistant.ask("What is 1+1?", "t", max_steps=1, temperature=0.5)
    assert answer.stop_reason == StopReason.MAX_STEPS and answer.num_steps == 1
    record = assistant.store.get(answer.trajectory_id)
    assert record.settings["agent_max_steps"] == "1" and record.settings["temperature"] == "0.5"
    with pytest.raises(ValueError, match="temperature"):
        assistant.ask("again", "t", temperature=5.0)


def test_quote_mode_answers_with_the_tools_words(make_assistant):
    engine = ScriptedEngine([RETURNS_2023, "NVDA did great."])
    answer = make_assistant(engine, agent_answer="quote").ask("How did NVDA do in 2023?", "q")
    assert answer.stop_reason == StopReason.ANSWERED
    lines = answer.answer.splitlines()
    assert "price return 238.95%" in lines[0] and lines[1] == "higher total return: NVDA"
    assert answer.grounding["quoted"] and answer.grounding["model_answer"] == "NVDA did great."
    assert answer.grounding["unsupported"] == []


@pytest.mark.parametrize("shows", ["callable", "offered"])
def test_first_turn_shows_the_callable_or_every_offered_tool_but_may_call_only_the_first(
    make_assistant, shows
):
    quote = call("get_quote", ticker="KO", date="2021-12-08")
    engine = ScriptedEngine([quote, "KO closed at 58.98."])
    assistant = make_assistant(engine)
    assistant.runtime.config = replace(assistant.runtime.config, first_turn_tools=shows)
    constrained: list[tuple[int, list[str]]] = []

    def constrain(specs, step):
        constrained.append((step, [spec["function"]["name"] for spec in specs]))

    assistant.runtime.constrain = constrain  # records, constrains nothing
    assistant.runtime.require_first_call = False  # a remote server is sent the callable ones only
    assistant.ask("What was KO's closing price on 2021-12-08?")
    first_call, offered = constrained[0][1], engine.tool_names[1]
    assert constrained[0][0] == 0 and len(offered) == 4 and 0 < len(first_call) < 4
    assert engine.tool_names[0] == (first_call if shows == "callable" else offered)
    assert constrained[1] == (1, offered)  # later turns may call every offered tool
