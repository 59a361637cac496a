"""A streaming chat turn as OpenAI's server-sent events (`chat.completion.chunk` ... `[DONE]`).

The engine streams raw text, tool-call markup included; OpenAI clients expect `delta.content`
without that markup and the calls as `delta.tool_calls`. So text is passed on until a
`<tool_call>` tag begins, the rest is held back, and the parsed calls (from the final ChatResult)
are sent as one tool_calls delta before the finish chunk. This is a plain generator: the server
runs it in a worker thread, because every `next()` on the engine's stream blocks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from model.engine.hermes import TOOL_CALL_OPEN
from model.engine.types import StreamEvent
from model.serving.openai_errors import error_body, error_response, from_exception
from model.serving.openai_responses import (
    TokenText,
    logprob_content,
    new_id,
    now,
    tool_calls_json,
    usage_json,
)

DONE = "data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class ToolMarkupFilter:
    """Passes streamed text through, holding back everything from the first `<tool_call>` on.

    Text that could be the start of the tag (a trailing "<tool") and trailing whitespace are held
    until the next piece shows what they are, and leading whitespace is dropped: the final
    `content` has the markup removed and is stripped, and what was sent cannot be taken back.
    """

    def __init__(self, *, is_enabled: bool = True) -> None:
        # Disabled (no tools offered) it passes text through untouched: the engine parses no
        # calls then, and `content` is the text exactly as generated.
        self.is_enabled = is_enabled
        self._pending = ""
        self._is_in_markup = False
        self.sent = ""

    def feed(self, text: str) -> str:
        if not self.is_enabled:
            self.sent += text
            return text
        if self._is_in_markup:
            return ""
        buffer = self._pending + text
        if not self.sent:
            buffer = buffer.lstrip()  # the final content is stripped at both ends
        start = buffer.find(TOOL_CALL_OPEN)
        if start >= 0:
            self._is_in_markup = True
            self._pending = ""
            out = buffer[:start].rstrip()
        else:
            keep = _partial_tag_length(buffer)
            out = buffer[: len(buffer) - keep].rstrip()
            self._pending = buffer[len(out) :]
        self.sent += out
        return out

    def rest(self, content: str) -> str:
        """What of the final `content` has not been sent yet (nothing, if the stream diverged)."""
        return content[len(self.sent) :] if content.startswith(self.sent) else ""


def _partial_tag_length(text: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of the tool-call tag."""
    for length in range(min(len(text), len(TOOL_CALL_OPEN) - 1), 0, -1):
        if TOOL_CALL_OPEN.startswith(text[-length:]):
            return length
    return 0


def chat_sse(
    events: Iterator[StreamEvent],
    *,
    model: str,
    logprobs: bool,
    token_text: TokenText,
    include_usage: bool,
    return_token_ids: bool = False,
    has_tools: bool = True,
) -> Iterator[str]:
    """Turn the engine's stream of one chat turn into SSE lines ending with `data: [DONE]`.

    Streamed chunks carry `top_logprobs: []`: the engine's stream events have no alternatives.
    With `return_token_ids`, each chunk has its `token_ids` and the finish chunk the prompt's.
    `has_tools` says whether tools were offered, i.e. whether tool-call markup can appear.
    """
    chunk_id, created = new_id("chatcmpl"), now()

    def chunk(delta: dict[str, Any], **choice_extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        choice.update(choice_extra)
        payload: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [choice],
        }
        if include_usage:
            payload["usage"] = None
        return sse(payload)

    markup = ToolMarkupFilter(is_enabled=has_tools)
    result = None
    # Errors before the first token (a prompt the engine refuses) propagate from here, before
    # anything is sent, so the server can still answer them with an HTTP error status.
    first = next(events, None)
    try:
        yield chunk({"role": "assistant", "content": ""})
        for event in itertools.chain([first] if first is not None else [], events):
            content = markup.feed(event.text) if event.text else ""
            extra: dict[str, Any] = {}
            if logprobs and event.logprobs:
                entries = logprob_content(event.token_ids, event.logprobs, None, token_text, 0)
                extra["logprobs"] = {"content": entries, "refusal": None}
            if return_token_ids and event.token_ids:
                extra["token_ids"] = list(event.token_ids)
            if content or extra:
                yield chunk({"content": content}, **extra)
            if event.result is not None:
                result = event.result
                break
        if result is None:
            raise RuntimeError("the engine's stream ended without a final result")
    except Exception as exc:  # the status line is already sent: report in-band, as vLLM does
        error = from_exception(exc)
        yield sse(error_body(error.message, error.type, error.param, error.code))
        yield DONE
        return
    finally:
        close = getattr(events, "close", None)
        if close is not None:  # stops the engine's generation when the client went away
            close()

    rest = markup.rest(result.content)
    if rest:
        yield chunk({"content": rest})
    if result.tool_calls:
        yield chunk({"tool_calls": tool_calls_json(result.tool_calls, with_index=True)})
    finish: dict[str, Any] = {"finish_reason": result.finish_reason.value}
    if return_token_ids:
        finish["prompt_token_ids"] = list(result.prompt_ids)
    yield chunk({}, **finish)
    if include_usage:
        yield sse(
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [],
                "usage": usage_json(result.usage),
            }
        )
    yield DONE


def completion_sse(response: dict[str, Any], include_usage: bool) -> Iterator[str]:
    """A finished `text_completion` as SSE: one chunk per choice, usage, then `[DONE]`."""
    base = {k: response[k] for k in ("id", "object", "created", "model", "system_fingerprint")}
    for choice in response["choices"]:
        yield sse({**base, "choices": [choice], **({"usage": None} if include_usage else {})})
    if include_usage:
        yield sse({**base, "choices": [], "usage": response["usage"]})
    yield DONE


async def stream_response(lines: Iterator[str]) -> JSONResponse | StreamingResponse:
    """Send `lines` (a blocking iterator) as an event stream, pulling each in a worker thread.

    The first line is pulled before answering, so an error the engine raises before its first
    token (a prompt it refuses) still gets a proper status. When the client disconnects,
    Starlette cancels the response; the `finally` then closes `lines`, and with it the engine's
    stream, so the generation stops instead of running to the end for nobody.
    """
    try:
        first = await run_in_threadpool(next, lines)
    except Exception as exc:
        return error_response(from_exception(exc))

    async def body() -> AsyncIterator[str]:
        try:
            yield first
            while (line := await run_in_threadpool(next, lines, None)) is not None:
                yield line
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                with anyio.CancelScope(shield=True):  # runs even though we were cancelled
                    await run_in_threadpool(close)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
