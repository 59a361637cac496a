"""Reassembling a streamed OpenAI chat turn (`chat.completion.chunk`s) into StreamEvents.

Servers split a turn differently: content deltas, tool calls whose `arguments` arrive in pieces
addressed by `index`, logprobs per chunk, vLLM's `token_ids` per chunk and `prompt_token_ids` on
the first, and usage on a last chunk with no choices. The accumulator takes them all and, at the
end, builds the same ChatResult a non-streamed request would have given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from model.engine.openai_wire import TokenLogprobs, build_result, parse_tool_calls
from model.engine.types import ChatResult, SamplingParams, StreamEvent


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class ChatStreamAccumulator:
    """Feed it every chunk with `add`; call `result` once the stream ended."""

    model_id: str
    params: SamplingParams
    content: str = ""
    finish: str | None = None
    usage: dict[str, Any] | None = None
    prompt_ids: list[int] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    logprobs: TokenLogprobs = field(default_factory=TokenLogprobs)
    _calls: dict[int, _PartialCall] = field(default_factory=dict)

    def add(self, chunk: dict[str, Any]) -> StreamEvent | None:
        """Take one chunk; return the event to hand on, or None if it carried no new tokens."""
        self.model_id = chunk.get("model") or self.model_id
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if chunk.get("prompt_token_ids"):
            self.prompt_ids = list(chunk["prompt_token_ids"])
        choices = chunk.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        if choice.get("prompt_token_ids"):
            self.prompt_ids = list(choice["prompt_token_ids"])
        if choice.get("finish_reason"):
            self.finish = choice["finish_reason"]
        delta = choice.get("delta") or {}
        for call in delta.get("tool_calls") or []:
            self._add_call(call)

        text = delta.get("content") or ""
        self.content += text
        piece = TokenLogprobs()
        piece.extend_chat(choice.get("logprobs"))
        self.logprobs.tokens += piece.tokens
        self.logprobs.logprobs += piece.logprobs
        self.logprobs.top_logprobs += piece.top_logprobs
        ids = list(choice.get("token_ids") or piece.token_ids())
        self.token_ids += ids
        if not (text or ids or piece.logprobs):
            return None
        logprobs = piece.logprobs if self.params.logprobs and piece.logprobs else None
        return StreamEvent(text=text, token_ids=ids, logprobs=logprobs)

    def _add_call(self, delta: dict[str, Any]) -> None:
        partial = self._calls.setdefault(int(delta.get("index", len(self._calls))), _PartialCall())
        partial.id = delta.get("id") or partial.id
        function = delta.get("function") or {}
        partial.name += function.get("name") or ""
        arguments = function.get("arguments")
        # Most servers stream the JSON text in pieces; a few send the whole object at once.
        if isinstance(arguments, str):
            partial.arguments += arguments
        elif arguments is not None:
            partial.arguments += json.dumps(arguments)

    def result(self) -> ChatResult:
        raw_calls = [
            {"id": c.id, "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for _, c in sorted(self._calls.items())
        ]
        return build_result(
            content=self.content,
            model_id=self.model_id,
            finish=self.finish,
            tool_calls=parse_tool_calls(raw_calls),
            logprobs=self.logprobs,
            token_ids=self.token_ids,
            prompt_ids=self.prompt_ids,
            usage=self.usage,
            params=self.params,
        )
