"""Turns the agent's events (and a saved thread) into the chat page's messages.

Kept apart from the Gradio layout so the rendering rules can be tested without a server: a tool
call becomes a collapsible step that shows its arguments, then its result; a chart a tool made is
shown inline right after its step; the streamed model text is the answer draft, except while the
model is writing a tool call, which the step shows better than raw markup would. A verified
answer adds a collapsible "Verification" step (each reasoning step with its PRM score, rethought
steps marked) and then the verified answer, or why the answer could not be confirmed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from agent.api import (
    AgentAnswer,
    AgentEvent,
    AnswerEvent,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.verify import Verification, VerificationStatus
from tools.result import ToolOutcome

log = logging.getLogger(__name__)

TOOL_CALL_MARK = "<tool_call>"
THINKING = "…"
VERIFYING = "Re-deriving the answer step by step from the tool results…"
VERIFICATION_TITLE = "Verification"
_HEADER_MARKS = re.compile(r"^[ \t]*#{1,6}[ \t]*", re.M)


def _pretty_arguments(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value, default=str)}" for key, value in arguments.items())


def _step_body(arguments: dict[str, Any], result: str | None) -> str:
    body = f"**arguments**\n```json\n{json.dumps(arguments, indent=2, default=str)}\n```"
    if result is not None:
        body += f"\n**result**\n```\n{result}\n```"
    return body


def _is_tool_call_draft(text: str) -> bool:
    """True while the streamed text is (or may still become) a tool call's markup."""
    head = text.lstrip()
    return head.startswith(TOOL_CALL_MARK) or TOOL_CALL_MARK.startswith(head)


def figure_component(figure: dict[str, Any]) -> gr.Plot | None:
    """A tool's plotly figure (JSON) as a chat component; None when it cannot be drawn."""
    try:
        return gr.Plot(go.Figure(figure))
    except (ValueError, TypeError) as exc:  # a malformed figure must not cost the answer
        log.warning("could not draw a tool's figure: %s", exc)
        return None


def answer_footer(answer: AgentAnswer) -> str:
    """The small print under an answer: why it stopped, how long, and the grounding check."""
    parts = [f"{answer.num_steps} model turns", f"{answer.duration_s:.1f} s"]
    if answer.stop_reason != "answered":
        parts.insert(0, f"stopped: {answer.stop_reason}")
    unsupported = answer.grounding.get("unsupported") or []
    if answer.grounding.get("replaced"):
        parts.append(
            f"the model's wording had {len(unsupported)} number(s) no tool returned, "
            "so the answer quotes the tools"
        )
    elif unsupported:
        parts.append(f"⚠ {len(unsupported)} number(s) not found in the tool results")
    else:
        parts.append("numbers checked against the tool results")
    parts.append(f"trajectory {answer.trajectory_id[:12]}")
    return " · ".join(parts)


def verification_body(verification: Verification) -> str:
    """Each reasoning step with its score (red under p) and rethink marks, then what it cost."""
    threshold = verification.threshold
    blocks = []
    for step in verification.steps:
        # Plain glyphs, not emoji: the page must read the same without an emoji font.
        score = "not scored" if step.score is None else f"score `{step.score:.2f}`"
        marks = (["under p"] if step.score is not None and step.score < threshold else []) + (
            ["↻ redone"] if step.is_rethink else []
        )
        marks += ["✗ weak, rethought"] if step.triggered_rethink else []
        head = " · ".join([f"**Step {step.number}**", score, *marks])
        text = _HEADER_MARKS.sub("", step.text).strip()  # its "## Step k:" would be a heading
        quoted = "\n".join(f"> {line}" for line in text.splitlines() if line.strip())
        blocks.append(f"{head}\n{quoted}")
    result = verification.reasoning
    if result is not None:
        usage = result.usage
        blocks.append(
            f"_AR-Sampling · PRM {result.prm_name} · p = {threshold:g} · "
            f"{len(result.samples)} path(s) · {result.num_rethinks} rethink(s) · "
            f"{usage.generated_tokens} tokens · {result.elapsed_s:.1f} s_"
        )
    else:
        blocks.append(f"_{verification.reason}_")
    return "\n\n".join(blocks)


def verification_title(verification: Verification) -> str:
    steps = verification.steps
    num_rethought = sum(step.triggered_rethink for step in steps)
    return f"{VERIFICATION_TITLE} · {len(steps)} steps · {num_rethought} rethought"


def verified_answer_text(verification: Verification) -> str:
    """The verified answer, or why the answer above stands."""
    if verification.status is VerificationStatus.CONFIRMED:
        return (
            f"✓ **Verified answer: {verification.answer}** · {verification.reason}; "
            "it agrees with the answer above."
        )
    if verification.status is VerificationStatus.REVISED:
        return (
            f"↻ **Verified answer: {verification.answer}** · {verification.reason} above. "
            "Its numbers are in the tool results; check the steps."
        )
    return (
        f"⚠ The verification did not confirm this answer: {verification.reason}. "
        "The answer above stands."
    )


class EpisodeView:
    """The messages one question adds to the page, updated event by event."""

    def __init__(self, question: str) -> None:
        self.messages: list[gr.ChatMessage] = [gr.ChatMessage(role="user", content=question)]
        self._draft = ""
        self._draft_index: int | None = None
        self._steps: dict[str, tuple[int, dict[str, Any], float]] = {}
        self._verification_index: int | None = None
        self._verification_started = 0.0
        self.answer: AgentAnswer | None = None
        self.verification: Verification | None = None

    def add(self, event: AgentEvent) -> None:
        if isinstance(event, TokenEvent):
            self._draft += event.text
            self._show_draft()
        elif isinstance(event, ToolCallEvent):
            self._drop_draft()
            self._steps[event.id] = (len(self.messages), event.arguments, time.perf_counter())
            self.messages.append(
                gr.ChatMessage(
                    role="assistant",
                    content=_step_body(event.arguments, None),
                    metadata={
                        "title": f"Tool call · {event.name}({_pretty_arguments(event.arguments)})",
                        "id": event.id,
                        "status": "pending",
                    },
                )
            )
        elif isinstance(event, AnswerEvent):
            self._drop_draft()
            self.answer = event.answer
            self.messages.append(gr.ChatMessage(role="assistant", content=event.answer.answer))
            self.messages.append(
                gr.ChatMessage(
                    role="assistant",
                    content=answer_footer(event.answer),
                    metadata={"title": "About this answer", "status": "done"},
                )
            )
        elif isinstance(event, ToolResultEvent):
            self._finish_step(event.id, event.outcome)

    def begin_verification(self) -> None:
        """A pending Verification step under the answer, while the answer is re-derived."""
        self._verification_index = len(self.messages)
        self._verification_started = time.perf_counter()
        self.messages.append(
            gr.ChatMessage(
                role="assistant",
                content=VERIFYING,
                metadata={"title": VERIFICATION_TITLE, "status": "pending"},
            )
        )

    def show_verification(self, verification: Verification) -> None:
        """Fill the Verification step with the scored steps, then add the verified answer."""
        if self._verification_index is None:
            self.begin_verification()
        assert self._verification_index is not None
        self.verification = verification
        step = self.messages[self._verification_index]
        step.content = verification_body(verification)
        step.metadata["title"] = verification_title(verification)
        step.metadata["status"] = "done"
        step.metadata["duration"] = round(time.perf_counter() - self._verification_started, 2)
        self.messages.append(
            gr.ChatMessage(role="assistant", content=verified_answer_text(verification))
        )

    def fail(self, message: str) -> None:
        """End the episode with a friendly error in place of an answer."""
        self._drop_draft()
        for index, _arguments, _started in self._steps.values():
            self.messages[index].metadata["status"] = "done"
        if self._verification_index is not None:
            self.messages[self._verification_index].metadata["status"] = "done"
        self.messages.append(gr.ChatMessage(role="assistant", content=f"⚠️ {message}"))

    def _finish_step(self, call_id: str, outcome: ToolOutcome) -> None:
        index, arguments, started = self._steps[call_id]
        step = self.messages[index]
        step.content = _step_body(arguments, outcome.text)
        step.metadata["status"] = "done"
        step.metadata["duration"] = round(time.perf_counter() - started, 2)
        if outcome.is_error:
            step.metadata["title"] = step.metadata["title"].replace("Tool call", "Tool error", 1)
        figure = outcome.result.figure if outcome.result is not None else None
        plot = figure_component(figure) if figure else None
        if plot is not None:
            self.messages.append(gr.ChatMessage(role="assistant", content=plot))

    def _show_draft(self) -> None:
        text = THINKING if _is_tool_call_draft(self._draft) else self._draft
        if self._draft_index is None:
            self._draft_index = len(self.messages)
            self.messages.append(gr.ChatMessage(role="assistant", content=text))
        else:
            self.messages[self._draft_index].content = text

    def _drop_draft(self) -> None:
        if self._draft_index is not None:
            del self.messages[self._draft_index]
        self._draft, self._draft_index = "", None


def history_messages(history: list[dict[str, Any]]) -> list[gr.ChatMessage]:
    """A saved thread (the agent's OpenAI-style messages) as the page shows it.

    Charts are not stored with a thread, so a resumed conversation shows each step's text only.
    """
    shown: list[gr.ChatMessage] = []
    steps: dict[str, gr.ChatMessage] = {}
    for message in history:
        role, content = message.get("role"), str(message.get("content") or "")
        if role == "user":
            shown.append(gr.ChatMessage(role="user", content=content))
        elif role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                name = call["function"]["name"]
                arguments = json.loads(call["function"]["arguments"] or "{}")
                step = gr.ChatMessage(
                    role="assistant",
                    content=_step_body(arguments, None),
                    metadata={
                        "title": f"Tool call · {name}({_pretty_arguments(arguments)})",
                        "status": "done",
                    },
                )
                steps[call["id"]] = step
                shown.append(step)
        elif role == "assistant" and content:
            if shown and shown[-1].role == "assistant" and not shown[-1].metadata:
                shown.pop()  # an answer replaced by the grounding check: show what was shown
            shown.append(gr.ChatMessage(role="assistant", content=content))
        elif role == "tool" and message.get("tool_call_id") in steps:
            step = steps[message["tool_call_id"]]
            step.content = str(step.content) + f"\n**result**\n```\n{content}\n```"
    return shown
