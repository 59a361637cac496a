"""The agent's public API, used by the Gradio app, the CLI and the evals.

    assistant = Assistant(settings)            # or Assistant(settings, engine=shared_engine)
    answer = assistant.ask("How did NVDA do in 2023?", thread_id="t1")
    for event in assistant.stream("And its max drawdown?", thread_id="t1"): ...
    verification = assistant.verify(answer)    # the answer re-derived step by step (agent/verify.py)

Every episode is saved as a trajectory; every thread's conversation persists in the checkpointer.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent.checkpoint import checkpoint_path, open_checkpointer
from agent.graph import EPISODE_OVERRIDES, AgentConfig, AgentRuntime, build_graph
from agent.trajectory_log import episode_record
from agent.verify import AnswerVerifier, Verification
from core.db.models import utc_now
from core.db.session import open_database
from core.settings import Settings
from core.trajectory import ThreadSummary, TrajectoryStore
from model.engine.types import ChatEngine
from tools.discovery import build_registry
from tools.result import ToolOutcome
from tools.tool import ToolContext

# Settings recorded with each trajectory (what decides the model's behaviour, no secrets).
_RECORDED_SETTINGS = (
    "backend",
    "model",
    "temperature",
    "agent_max_steps",
    "agent_max_tools_in_prompt",
    "agent_max_new_tokens",
    "agent_constrained",
    "agent_on_unsupported",
    "agent_answer",
    "kv_cache",
)


@dataclass
class AgentAnswer:
    answer: str
    stop_reason: str
    thread_id: str
    trajectory_id: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    grounding: dict[str, Any] = field(default_factory=dict)
    num_steps: int = 0
    duration_s: float = 0.0
    model_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "stop_reason": self.stop_reason,
            "thread_id": self.thread_id,
            "trajectory_id": self.trajectory_id,
            "tool_calls": self.tool_calls,
            "grounding": self.grounding,
            "num_steps": self.num_steps,
            "duration_s": round(self.duration_s, 3),
            "model_id": self.model_id,
        }


@dataclass
class TokenEvent:
    text: str


@dataclass
class ToolCallEvent:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ToolResultEvent:
    id: str
    outcome: ToolOutcome  # .text for the model's view; .result.figure / .table for the UI


@dataclass
class AnswerEvent:
    answer: AgentAnswer


AgentEvent = TokenEvent | ToolCallEvent | ToolResultEvent | AnswerEvent


class Assistant:
    """One agent over one engine, tool set, database and checkpointer; safe across threads."""

    def __init__(
        self,
        settings: Settings,
        engine: ChatEngine | None = None,
        *,
        context: ToolContext | None = None,
        today: date | None = None,
    ) -> None:
        self.settings = settings
        self._owns_engine = engine is None
        if engine is None:
            from model.engine.factory import create_engine

            engine = create_engine(settings)
        self.engine = engine
        database = context.database if context else open_database(settings.resolved_database_url())
        self.context = context or ToolContext(settings, database=database, today=today)
        self.store = TrajectoryStore(database)
        self.registry = build_registry(self.context)
        self.checkpointer = open_checkpointer(checkpoint_path(settings))
        self.runtime = AgentRuntime(
            engine=engine,
            registry=self.registry,
            config=AgentConfig(
                max_steps=settings.agent_max_steps,
                max_tools_in_prompt=settings.agent_max_tools_in_prompt,
                max_new_tokens=settings.agent_max_new_tokens,
                temperature=settings.temperature,
                on_unsupported=settings.agent_on_unsupported,
                answer=settings.agent_answer,
            ),
            today=today or self.context.today(),
            as_of=_data_as_of(self.context) or (today or self.context.today()),
            known_tickers=frozenset(_known_tickers(self.context)),
        )
        if settings.agent_constrained:
            self.runtime.constrain = _tool_call_constraint(
                engine, self.runtime.known_tickers, short_answers=settings.agent_answer == "quote"
            )
            self.runtime.require_first_call = self.runtime.constrain is None
        self.graph = build_graph(self.runtime, checkpointer=self.checkpointer)
        self._verifier: AnswerVerifier | None = None  # built (PRM loaded) on first verify()
        self._verifier_lock = threading.Lock()

    def ask(
        self,
        question: str,
        thread_id: str | None = None,
        *,
        temperature: float | None = None,
        max_steps: int | None = None,
    ) -> AgentAnswer:
        """Run one episode to the end and return the answer (also saved as a trajectory)."""
        for event in self.stream(question, thread_id, temperature=temperature, max_steps=max_steps):
            if isinstance(event, AnswerEvent):
                return event.answer
        raise RuntimeError("the agent ended without an answer")  # our bug, not the user's

    def stream(
        self,
        question: str,
        thread_id: str | None = None,
        *,
        temperature: float | None = None,
        max_steps: int | None = None,
    ) -> Iterator[AgentEvent]:
        """Run one episode, yielding tokens, tool calls, tool results and finally the answer.

        `temperature` and `max_steps` override the settings for this episode only (the app's
        sliders); they are checked before anything runs.
        """
        question = question.strip()
        if not question:
            raise ValueError("ask a question: the text is empty")
        overrides = {"temperature": temperature, "max_steps": max_steps}
        episode = self.runtime.config.with_overrides(overrides)  # raises on bad values
        thread_id = thread_id or uuid.uuid4().hex
        config = {
            "configurable": {"thread_id": thread_id, EPISODE_OVERRIDES: overrides},
            "recursion_limit": 100,
        }
        created_at = utc_now()
        inputs = {"messages": [{"role": "user", "content": question}]}
        for _mode, chunk in self.graph.stream(inputs, config, stream_mode=["custom"]):
            yield _to_event(chunk)
        state = self.graph.get_state(config).values
        finished_at = utc_now()
        duration_s = (finished_at - created_at).total_seconds()
        record = episode_record(
            state,
            model_id=self.engine.model_id,
            thread_id=thread_id,
            created_at=created_at,
            finished_at=finished_at,
            settings={
                **{name: str(getattr(self.settings, name)) for name in _RECORDED_SETTINGS},
                "temperature": str(episode.temperature),
                "agent_max_steps": str(episode.max_steps),
            },
            timings={
                "total_s": duration_s,
                "model_s": sum(t["duration_s"] for t in state.get("turns", [])),
                "tools_s": sum(c["duration_s"] for c in state.get("tool_records", [])),
            },
            # What the logged token ids mean; training refuses turns of another tokenizer.
            tokenizer_fingerprint=getattr(self.engine, "tokenizer_fingerprint", ""),
        )
        trajectory_id = self.store.save(record)
        yield AnswerEvent(
            AgentAnswer(
                answer=state.get("final_answer", ""),
                stop_reason=state.get("stop_reason", ""),
                thread_id=thread_id,
                trajectory_id=trajectory_id,
                tool_calls=[
                    {k: c[k] for k in ("name", "arguments", "result", "is_error")}
                    for c in state.get("tool_records", [])
                ],
                grounding=state.get("grounding", {}),
                num_steps=state.get("num_steps", 0),
                duration_s=duration_s,
                model_id=self.engine.model_id,
            )
        )

    def verify(self, answer: AgentAnswer) -> Verification:
        """Re-derive `answer` step by step from its episode's tool results with AR-Sampling and
        the configured PRM (`HUIJIN_REASON_*`), and log it on the episode's trajectory as
        `extra["verification"]`. The answer to rely on is `Verification.answer`: the agent's own
        unless the re-derived one passes the same grounding check."""
        with self._verifier_lock:
            if self._verifier is None:
                self._verifier = AnswerVerifier.from_settings(self.settings, self.engine)
        record = self.store.get(answer.trajectory_id)
        verification = self._verifier.verify(
            record.question, [call.model_dump() for call in record.tool_calls], answer.answer
        )
        record.extra = {**record.extra, "verification": verification.to_json()}
        self.store.save(record)
        return verification

    def threads(self, limit: int = 30) -> list[ThreadSummary]:
        """The newest conversations (interactive ones, not eval runs), for a resume list."""
        return self.store.threads(limit=limit)

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """A thread's conversation so far (user, assistant and tool messages)."""
        state = self.graph.get_state({"configurable": {"thread_id": thread_id}}).values
        return list(state.get("messages", []))

    def close(self) -> None:
        self.checkpointer.conn.close()
        self.context.close()
        if self._owns_engine:
            self.engine.close()


def _to_event(chunk: dict[str, Any]) -> AgentEvent:
    kind = chunk["kind"]
    if kind == "token":
        return TokenEvent(chunk["text"])
    if kind == "tool_call":
        return ToolCallEvent(chunk["id"], chunk["name"], chunk["arguments"])
    return ToolResultEvent(chunk["id"], chunk["outcome"])


def _tool_call_constraint(
    engine: ChatEngine, known_tickers: frozenset[str], short_answers: bool = False
) -> Any:
    """xgrammar tool-call constraint, for engines with a tokenizer and a logits-processor hook.

    Other engines (a remote OpenAI-compatible server) are asked for `tool_choice: "required"`
    on the first turn instead (agent/graph.py); the argument repair of agent/tool_calls.py
    applies to every engine.
    """
    from agent.constrained import ToolCallConstraint
    from model.engine.tool_grammar import engine_tool_grammar

    grammar = engine_tool_grammar(engine, known_tickers)
    return ToolCallConstraint(grammar, short_answers) if grammar is not None else None


def _known_tickers(context: ToolContext) -> list[str]:
    snapshot = context.market.snapshot
    return snapshot.tickers() if snapshot is not None else []


def _data_as_of(context: ToolContext) -> date | None:
    """The newest day of the offline snapshot, when one is configured (live data: today)."""
    snapshot = context.market.snapshot
    if snapshot is None or context.market.live is not None:
        return None
    return snapshot.last_day()
