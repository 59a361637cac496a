from __future__ import annotations

from collections.abc import Iterator, Sequence

from model.engine.hermes import parse_tool_calls
from model.engine.types import ChatResult, FinishReason, Message, StreamEvent, ToolSpec
from tests.conftest import TODAY

__all__ = ["TODAY", "ScriptedEngine"]


class ScriptedEngine:
    """Plays back fixed assistant turns; everything after the text (parsing, tools, grounding,
    logging) is the real path. Used where the 135M model's choices would make a routing test
    flaky; the real model runs end to end in test_real_model.py."""

    model_id = "scripted"

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.prompts: list[list[Message]] = []
        self.tool_names: list[list[str]] = []  # the tools each turn's prompt showed

    def chat(self, messages, tools=None, params=None) -> ChatResult:
        self.prompts.append(list(messages))
        self.tool_names.append([spec["function"]["name"] for spec in tools or []])
        if not self.replies:
            raise AssertionError("the agent asked for more turns than the script has")
        text = self.replies.pop(0)
        content, calls = parse_tool_calls(text)
        num_tokens = max(len(text.split()), 1)
        return ChatResult(
            text=text,
            model_id=self.model_id,
            finish_reason=FinishReason.TOOL_CALLS if calls else FinishReason.STOP,
            prompt_ids=[1, 2, 3],
            completion_ids=list(range(num_tokens)),
            logprobs=[-0.5] * num_tokens,
            tool_calls=calls,
            content=content,
        )

    def stream_chat(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None = None, params=None
    ) -> Iterator[StreamEvent]:
        result = self.chat(messages, tools, params)
        yield StreamEvent(text=result.text, finish_reason=result.finish_reason, result=result)

    def close(self) -> None:
        pass
