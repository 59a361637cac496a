"""The agent's state: one conversation (kept across questions of a thread) and one episode.

`messages` is the whole conversation of a thread in the engine's OpenAI-style dict shape (user,
assistant with `tool_calls`, tool), appended to by a reducer so a node returns only what it adds.
Everything else describes the current episode (one question): the start node resets it, and the
other nodes overwrite it with a new value, so a resumed thread never mixes two episodes' records.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, TypedDict

Message = dict[str, Any]


class StopReason(enum.StrEnum):
    """Why an episode ended."""

    ANSWERED = "answered"  # the model wrote an answer without a tool call
    NO_DATA = "no_data"  # the tools had no data, so the agent says so instead of guessing
    MAX_STEPS = "max_steps"  # the step limit was reached while the model still called tools
    MODEL_ERROR = "model_error"  # the engine failed (context too long, server unreachable, ...)


def append_messages(left: list[Message] | None, right: list[Message] | Message | None) -> list:
    """Reducer: new messages are appended; a message is never edited in place."""
    new = [right] if isinstance(right, dict) else list(right or [])
    return [*(left or []), *new]


class AgentState(TypedDict, total=False):
    messages: Annotated[list[Message], append_messages]
    # -- the current episode ----------------------------------------------------------------
    question: str
    max_steps: int  # this episode's step limit (settings, or the app's slider)
    temperature: float
    episode_start: int  # index in `messages` of this episode's user message
    tool_names: list[str]  # tools offered this episode (retrieved by tool_selection)
    first_call_tools: list[str]  # of those, the ones the (constrained) first call may name
    system_prompt: str
    num_steps: int  # model turns taken so far
    turns: list[dict[str, Any]]  # one ModelTurnRecord-shaped dict per model turn
    tool_records: list[dict[str, Any]]  # one ToolCallRecordModel-shaped dict per call
    stop_reason: str
    final_answer: str
    grounding: dict[str, Any]
