"""Engine results turned into OpenAI's response JSON (plain dicts, exactly the wire format).

Pure functions, so the format is unit-tested without a model: a ChatResult with tool calls must
come out as `message.tool_calls[].function.arguments` holding a JSON *string*, logprobs as
`logprobs.content[]` entries with `token`, `logprob`, `bytes` and `top_logprobs`, and so on.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from model.engine.types import ChatResult, ToolCall, Usage

# Maps one token id to its text. Without a tokenizer we fall back to vLLM's "token_id:N" spelling,
# which our OpenAIEngine (and vLLM's clients) read back as ids.
TokenText = Callable[[int], str]


def token_id_text(token_id: int) -> str:
    return f"token_id:{token_id}"


def new_id(prefix: str) -> str:
    """Response ids in OpenAI's shape: "chatcmpl-<hex>", "cmpl-<hex>", "call_<hex>"."""
    separator = "_" if prefix == "call" else "-"
    return f"{prefix}{separator}{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def usage_json(usage: Usage | Sequence[Usage]) -> dict[str, int]:
    """Usage of one result, or of n samples of one prompt (the prompt is counted once)."""
    usages = [usage] if isinstance(usage, Usage) else list(usage)
    prompt_tokens = usages[0].prompt_tokens if usages else 0
    completion_tokens = sum(u.completion_tokens for u in usages)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def tool_calls_json(calls: Sequence[ToolCall], *, with_index: bool = False) -> list[dict[str, Any]]:
    """OpenAI's tool_calls: arguments are a JSON string; calls without an id get a fresh one."""
    out = []
    for index, call in enumerate(calls):
        item: dict[str, Any] = {
            "id": call.id or new_id("call"),
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        if with_index:  # streamed tool calls are addressed by position
            item = {"index": index, **item}
        out.append(item)
    return out


def _alternative(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def _top(alternatives: dict[str, float] | None, num_top: int) -> list[dict[str, Any]]:
    if not alternatives or num_top <= 0:
        return []
    ranked = sorted(alternatives.items(), key=lambda item: item[1], reverse=True)[:num_top]
    return [_alternative(token, logprob) for token, logprob in ranked]


def logprob_content(
    token_ids: Sequence[int],
    logprobs: Sequence[float],
    top_logprobs: Sequence[dict[str, float]] | None,
    token_text: TokenText,
    num_top: int,
) -> list[dict[str, Any]]:
    """Chat logprobs.content: one entry per generated token, ids and logprobs zipped in order."""
    entries = []
    for position, (token_id, logprob) in enumerate(zip(token_ids, logprobs, strict=False)):
        alternatives = (
            top_logprobs[position] if top_logprobs and position < len(top_logprobs) else None
        )
        entry = _alternative(token_text(token_id), logprob)
        entry["top_logprobs"] = _top(alternatives, num_top)
        entries.append(entry)
    return entries


def chat_choice(
    index: int,
    result: ChatResult,
    *,
    logprobs: bool,
    num_top: int,
    token_text: TokenText,
    return_token_ids: bool,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.content, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = tool_calls_json(result.tool_calls)
        # OpenAI sends null, not "", for a turn that is only tool calls.
        message["content"] = result.content or None
    choice: dict[str, Any] = {
        "index": index,
        "message": message,
        "logprobs": None,
        "finish_reason": result.finish_reason.value,
    }
    if logprobs and result.logprobs is not None:
        content = logprob_content(
            result.completion_ids, result.logprobs, result.top_logprobs, token_text, num_top
        )
        choice["logprobs"] = {"content": content, "refusal": None}
    if return_token_ids:
        choice["token_ids"] = list(result.completion_ids)
    return choice


def chat_completion(
    results: Sequence[ChatResult],
    *,
    model: str,
    logprobs: bool,
    num_top: int,
    token_text: TokenText,
    return_token_ids: bool = False,
) -> dict[str, Any]:
    """A whole `chat.completion` object; `results` are the n samples of one conversation."""
    choices = [
        chat_choice(
            i,
            r,
            logprobs=logprobs,
            num_top=num_top,
            token_text=token_text,
            return_token_ids=return_token_ids,
        )
        for i, r in enumerate(results)
    ]
    response: dict[str, Any] = {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": choices,
        "usage": usage_json([r.usage for r in results]),
        "system_fingerprint": None,
    }
    if return_token_ids and results:
        response["prompt_token_ids"] = list(results[0].prompt_ids)
    return response


def completion_logprobs(
    result: ChatResult, token_text: TokenText, num_top: int
) -> dict[str, Any] | None:
    """The legacy completions logprobs: parallel lists of tokens, logprobs, alternatives, offsets."""
    if result.logprobs is None:
        return None
    tokens = [token_text(token_id) for token_id in result.completion_ids]
    offsets, offset = [], 0
    for token in tokens:
        offsets.append(offset)
        offset += len(token)
    all_alternatives = result.top_logprobs or []
    top: list[dict[str, float] | None] = []
    for position in range(len(tokens)):
        alternatives = all_alternatives[position] if position < len(all_alternatives) else None
        ranked = _top(alternatives, num_top)
        top.append({a["token"]: a["logprob"] for a in ranked} if num_top else None)
    return {
        "tokens": tokens,
        "token_logprobs": list(result.logprobs),
        "top_logprobs": top,
        "text_offset": offsets,
    }


def completion_choice(
    index: int,
    result: ChatResult,
    *,
    logprobs: int | None,
    token_text: TokenText,
    return_token_ids: bool,
) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": index,
        "text": result.text,
        "logprobs": None,
        "finish_reason": result.finish_reason.value,
    }
    if logprobs is not None:
        choice["logprobs"] = completion_logprobs(result, token_text, logprobs)
    if return_token_ids:
        choice["prompt_token_ids"] = list(result.prompt_ids)
        choice["token_ids"] = list(result.completion_ids)
    return choice


def text_completion(
    results: Sequence[Sequence[ChatResult]],
    *,
    model: str,
    logprobs: int | None,
    token_text: TokenText,
    return_token_ids: bool = False,
) -> dict[str, Any]:
    """A `text_completion` object; `results[p]` are the n samples of prompt p (choice p*n + j)."""
    choices = []
    for group in results:
        for result in group:
            choices.append(
                completion_choice(
                    len(choices),
                    result,
                    logprobs=logprobs,
                    token_text=token_text,
                    return_token_ids=return_token_ids,
                )
            )
    prompt_tokens = sum(group[0].usage.prompt_tokens for group in results if group)
    completion_tokens = sum(r.usage.completion_tokens for group in results for r in group)
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": now(),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }
