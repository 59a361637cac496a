"""The agent as a LangGraph: start -> select tools -> model turn -> tools -> model turn ... -> finish.

    START -> start -> select_tools -> call_model --(tool calls, steps left)--> run_tools
                                         |  ^                                     |
                                         |  +------------(data came back)---------+
                                         +--(answer, step limit, error)--> finish -> END
                                                  run_tools --(only "no data")--> finish

Nodes return only the keys they change; routers only read state. Dependencies (engine, tools,
dates) are closed over from an `AgentRuntime`, so the graph itself holds no globals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from agent.grounding import check_grounding, flag_unsupported, quote_tool_results
from agent.prompts import build_system_prompt
from agent.state import AgentState, Message, StopReason
from agent.tool_calls import neutralize_markup, parse_turn, strip_markup
from agent.tool_selection import confident_tools
from model.engine.types import ChatEngine, ChatResult, EngineError, SamplingParams, ToolSpec
from tools.registry import ToolRegistry
from tools.result import ToolOutcome

# Node names, used by the routers and the stream of step events.
START_NODE = "start"
SELECT_TOOLS = "select_tools"
CALL_MODEL = "call_model"
RUN_TOOLS = "run_tools"
FINISH = "finish"

# Key in a run's `configurable` for one episode's AgentConfig overrides (max_steps, temperature).
EPISODE_OVERRIDES = "agent_overrides"

# (offered tool specs, step index) -> a logits processor for that model turn, or None.
LogitsProcessorFactory = Callable[[Sequence[ToolSpec], int], Any]


@dataclass(frozen=True)
class AgentConfig:
    """How one episode runs; built from Settings by the public API."""

    max_steps: int = 4
    max_tools_in_prompt: int = 4
    max_new_tokens: int = 256
    temperature: float = 0.0
    # A first call may only name tools whose retrieval score is >= this share of the best one.
    first_call_ratio: float = 0.8
    # What to do with an answer whose numbers no tool returned: "replace" it by the tools' own
    # words (the default: a small model's narration is the weak link), or "flag" them in place.
    on_unsupported: str = "replace"
    # Who words the final answer: "model", or "quote" (the tools' result lines; agent_answer).
    answer: str = "model"
    # Which tools the first turn's prompt shows: only the "callable" confident matches (the
    # default), or every "offered" one, so that the prompt only grows from turn to turn and the
    # prefix cache serves each later turn's head. Measured (benchmarks/prefix_cache.py), growing
    # buys nothing: the tools come first in the prompt, so a later turn already re-reads little,
    # and the longer first turn costs more than the re-read it saves.
    first_turn_tools: str = "callable"

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if self.max_tools_in_prompt < 1:
            raise ValueError("max_tools_in_prompt must be at least 1")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2")
        if self.on_unsupported not in {"replace", "flag"}:
            raise ValueError("on_unsupported must be 'replace' or 'flag'")
        if self.answer not in {"model", "quote"}:
            raise ValueError("answer must be 'model' or 'quote'")
        if self.first_turn_tools not in {"offered", "callable"}:
            raise ValueError("first_turn_tools must be 'offered' or 'callable'")

    def with_overrides(self, overrides: dict[str, Any] | None) -> AgentConfig:
        """This config with one episode's choices (the app's temperature and step sliders)."""
        chosen = {key: value for key, value in (overrides or {}).items() if value is not None}
        return replace(self, **chosen) if chosen else self


@dataclass
class AgentRuntime:
    """What the nodes need: the model, the tools, and the dates that 'today' and 'latest' mean."""

    engine: ChatEngine
    registry: ToolRegistry
    config: AgentConfig
    today: date
    as_of: date
    known_tickers: frozenset[str] = frozenset()
    # Constrains tool calls (agent/constrained.py); None leaves the model free.
    constrain: LogitsProcessorFactory | None = None
    # For engines without the logits hook (a remote server): ask for tool_choice "required" on
    # the first turn, which the server enforces with its own structured-output decoding.
    require_first_call: bool = False


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def _no_data(text: str) -> bool:
    lowered = text.lower()
    return lowered.startswith("error:") and ("no " in lowered and "data" in lowered)


def build_graph(runtime: AgentRuntime, checkpointer: Any = None) -> Any:
    all_specs = {spec["function"]["name"]: spec for spec in runtime.registry.schemas()}

    def start(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        episode = runtime.config.with_overrides(config["configurable"].get(EPISODE_OVERRIDES))
        return {
            "max_steps": episode.max_steps,
            "temperature": episode.temperature,
            "question": str(messages[-1].get("content", "")),
            "episode_start": len(messages) - 1,
            "num_steps": 0,
            "turns": [],
            "tool_records": [],
            "stop_reason": "",
            "final_answer": "",
            "grounding": {},
        }

    def choose_tools(state: AgentState) -> dict[str, Any]:
        offered, first = confident_tools(
            state["question"],
            list(all_specs.values()),
            runtime.config.max_tools_in_prompt,
            runtime.config.first_call_ratio,
        )
        names = [spec["function"]["name"] for spec in offered]
        prompt = build_system_prompt(names, runtime.today, runtime.as_of)
        return {"tool_names": names, "first_call_tools": first, "system_prompt": prompt}

    def call_model(state: AgentState) -> dict[str, Any]:
        specs = [all_specs[name] for name in state["tool_names"]]
        callable_specs = specs
        if state["num_steps"] == 0 and state.get("first_call_tools"):
            # The first call may only name the confident matches (AgentConfig.first_turn_tools
            # says whether the others are shown all the same).
            first = state["first_call_tools"]
            callable_specs = [s for s in specs if s["function"]["name"] in first]
            if runtime.config.first_turn_tools == "callable":
                specs = callable_specs
        prompt = [{"role": "system", "content": state["system_prompt"]}, *_context(state)]
        started = time.perf_counter()
        try:
            result = _generate(runtime, prompt, specs, callable_specs, state)
        except EngineError as exc:
            return {
                "stop_reason": StopReason.MODEL_ERROR.value,
                "final_answer": f"The model failed: {exc}",
            }
        parsed = parse_turn(result.text, specs, runtime.known_tickers, state["question"])
        message: Message = {"role": "assistant", "content": parsed.content}
        if parsed.calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in parsed.calls
            ]
        turn = {
            "turn_index": len(state["turns"]),
            "prompt_ids": list(result.prompt_ids),
            "completion_ids": list(result.completion_ids),
            "logprobs": list(result.logprobs) if result.logprobs is not None else None,
            "text": result.text,
            "finish_reason": str(result.finish_reason),
            "duration_s": time.perf_counter() - started,
        }
        return {
            "messages": [message],
            "turns": [*state["turns"], turn],
            "num_steps": state["num_steps"] + 1,
        }

    def run_tools(state: AgentState) -> dict[str, Any]:
        writer = get_stream_writer()
        calls = state["messages"][-1].get("tool_calls", [])
        records, messages = [], []
        for index, call in enumerate(calls):
            name = call["function"]["name"]
            arguments = json.loads(call["function"]["arguments"])
            writer({"kind": "tool_call", "id": call["id"], "name": name, "arguments": arguments})
            if name in state["tool_names"]:
                outcome = runtime.registry.call(name, arguments)
            else:  # only what this question offered may run, whatever the model wrote
                outcome = _refused(name, arguments, state["tool_names"])
            text = neutralize_markup(outcome.text)
            writer({"kind": "tool_result", "id": call["id"], "outcome": outcome})
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "name": name, "content": text}
            )
            records.append(
                {
                    "turn_index": len(state["turns"]) - 1,
                    "call_index": index,
                    "name": name,
                    "arguments": outcome.arguments,
                    "result": text,
                    "is_error": outcome.is_error,
                    "duration_s": outcome.duration_s,
                }
            )
        return {"messages": messages, "tool_records": [*state["tool_records"], *records]}

    def finish(state: AgentState) -> dict[str, Any]:
        return _finish(state, runtime.config.on_unsupported, runtime.config.answer)

    def after_model(state: AgentState) -> str:
        if state.get("stop_reason"):
            return FINISH
        if not state["messages"][-1].get("tool_calls"):
            return FINISH
        return RUN_TOOLS if state["num_steps"] < state["max_steps"] else FINISH

    def after_tools(state: AgentState) -> str:
        this_step = [r for r in state["tool_records"] if r["turn_index"] == len(state["turns"]) - 1]
        if this_step and all(_no_data(r["result"]) for r in this_step):
            return FINISH  # fail closed: no data means no numbers to narrate
        return CALL_MODEL if state["num_steps"] < state["max_steps"] else FINISH

    graph = StateGraph(AgentState)
    graph.add_node(START_NODE, start)
    graph.add_node(SELECT_TOOLS, choose_tools)
    graph.add_node(CALL_MODEL, call_model)
    graph.add_node(RUN_TOOLS, run_tools)
    graph.add_node(FINISH, finish)
    graph.add_edge(START, START_NODE)
    graph.add_edge(START_NODE, SELECT_TOOLS)
    graph.add_edge(SELECT_TOOLS, CALL_MODEL)
    graph.add_conditional_edges(CALL_MODEL, after_model, [RUN_TOOLS, FINISH])
    graph.add_conditional_edges(RUN_TOOLS, after_tools, [CALL_MODEL, FINISH])
    graph.add_edge(FINISH, END)
    return graph.compile(checkpointer=checkpointer)


def _refused(name: str, arguments: dict[str, Any], offered: Sequence[str]) -> ToolOutcome:
    text = (
        f"error: tool {name!r} is not offered for this question; use one of: {', '.join(offered)}"
    )
    return ToolOutcome(name=name, arguments=arguments, text=text, is_error=True)


def _context(state: AgentState) -> list[Message]:
    """Earlier episodes as question/answer only (their tool traffic is spent), then this one."""
    messages = state["messages"]
    start = state["episode_start"]
    earlier: list[Message] = []
    for m in messages[:start]:
        if m["role"] == "assistant" and m.get("tool_calls"):
            continue
        if m["role"] not in {"user", "assistant"}:
            continue
        if m["role"] == "assistant" and earlier and earlier[-1]["role"] == "assistant":
            earlier.pop()  # an answer that was replaced (grounding) by the one after it
        earlier.append({"role": m["role"], "content": m.get("content", "")})
    return [*earlier, *messages[start:]]


def _generate(
    runtime: AgentRuntime,
    prompt: list[Message],
    specs: list[ToolSpec],
    callable_specs: list[ToolSpec],
    state: AgentState,
) -> ChatResult:
    """One model turn, streamed: text deltas go to the stream writer as they are decoded.

    `specs` are shown in the prompt; `callable_specs` (a subset) are what the turn may call.
    """
    writer = get_stream_writer()
    params = SamplingParams(
        max_new_tokens=runtime.config.max_new_tokens, temperature=state["temperature"]
    )
    kwargs: dict[str, Any] = {}
    step = state["num_steps"]
    processor = runtime.constrain(callable_specs, step) if runtime.constrain is not None else None
    if processor is not None:
        kwargs["logits_processor"] = processor
    elif step == 0 and runtime.require_first_call and callable_specs:
        # A remote server renders and allows exactly the tools it is sent.
        specs = callable_specs
        params = replace(params, tool_choice="required")
    for event in runtime.engine.stream_chat(prompt, specs, params, **kwargs):
        if event.text:
            writer({"kind": "token", "text": event.text})
        if event.result is not None:
            return event.result
    raise EngineError("the model stream ended without a result")


def _finish(state: AgentState, on_unsupported: str, answer_mode: str = "model") -> dict[str, Any]:
    """The final answer: fail closed on no data, stop on the step limit, and never let a number
    no tool returned pass silently (replace the answer by the tools' words, or flag it). With
    `answer_mode="quote"` the tools' words are the answer whenever a tool returned data."""
    if state.get("stop_reason") == StopReason.MODEL_ERROR:
        return {"grounding": {}}
    records = state["tool_records"]
    good = [r["result"] for r in records if not r["is_error"]]
    last = state["messages"][-1]
    update: dict[str, Any] = {}
    model_answer: str | None = None  # what the model wrote, when the answer quotes the tools
    if records and not good and any(_no_data(r["result"]) for r in records):
        reasons = "; ".join(dict.fromkeys(r["result"].removeprefix("error: ") for r in records))
        answer = f"I could not get the data, so I will not give numbers: {reasons}"
        stop = StopReason.NO_DATA
    elif last["role"] != "assistant" or last.get("tool_calls"):
        answer = f"I stopped after {state['num_steps']} steps without a final answer."
        if good:
            answer += " The tools returned:\n" + quote_tool_results(good)
        stop = StopReason.MAX_STEPS
    elif answer_mode == "quote" and good:
        model_answer = strip_markup(str(last.get("content", "")))
        answer = quote_tool_results(good)
        update["messages"] = [{"role": "assistant", "content": answer}]
        stop = StopReason.ANSWERED
    else:
        answer = strip_markup(str(last.get("content", "")))
        if good and not _has_digit(answer) and any(_has_digit(text) for text in good):
            # The model went quiet or gave no figure although the tools returned some: the
            # tools' own words are the grounded answer.
            answer = quote_tool_results(good)
        stop = StopReason.ANSWERED
    evidence = [state["question"], *good]
    report = check_grounding(answer, evidence)
    grounding: dict[str, Any] = report.to_dict()
    if model_answer is not None:
        grounding.update(quoted=True, model_answer=model_answer)
    if not report.is_grounded and good and on_unsupported == "replace":
        grounding.update(replaced=True, discarded_answer=answer)
        answer = quote_tool_results(good)
        report = check_grounding(answer, evidence)
        grounding.update(supported=report.supported, still_unsupported=report.unsupported)
        update["messages"] = [{"role": "assistant", "content": answer}]
    elif stop is not StopReason.ANSWERED:
        update["messages"] = [{"role": "assistant", "content": answer}]
    update.update(
        final_answer=flag_unsupported(answer, report), stop_reason=stop.value, grounding=grounding
    )
    return update
