"""What the openai backend sends and how it reads answers back into ChatResults.

Pure functions over JSON dicts, so every server dialect is testable without a server: OpenAI,
vLLM (`token_ids`, `prompt_token_ids`, "token_id:N" tokens), Ollama, Qianfan, our own server.
Token ids come from the server when it gives them; otherwise they stay empty (no tokenizer here).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from model.engine.hermes import format_tool_calls
from model.engine.types import (
    ChatResult,
    FinishReason,
    Message,
    SamplingParams,
    ToolCall,
    ToolSpec,
    Usage,
)

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "eos": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "abort": FinishReason.ABORT,
}
TOKEN_ID_PREFIX = "token_id:"


def finish_reason(value: str | None, *, has_tool_calls: bool = False) -> FinishReason:
    if has_tool_calls and value in (None, "stop"):
        return FinishReason.TOOL_CALLS  # some servers say "stop" after a tool call
    return _FINISH_REASONS.get(value or "stop", FinishReason.STOP)


def wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Engine messages in the OpenAI shape: tool-call arguments as JSON strings, ids filled in."""
    out = []
    for message in messages:
        item = dict(message)
        if message.get("tool_calls"):
            item["tool_calls"] = [
                _wire_tool_call(call, i) for i, call in enumerate(message["tool_calls"])
            ]
        out.append(item)
    return out


def _wire_tool_call(call: dict[str, Any], index: int) -> dict[str, Any]:
    # Hugging Face templates also accept {"name", "arguments"} without the "function" wrapper.
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {
        "id": call.get("id") or f"call_{index}",
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


def _sampling_fields(params: SamplingParams) -> dict[str, Any]:
    # Only fields every server knows, plus the ones the caller asked for on purpose: strict
    # servers (OpenAI itself) reject unknown arguments with a 400.
    fields: dict[str, Any] = {
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if params.top_k > 0:
        fields["top_k"] = params.top_k
    if params.stop:
        fields["stop"] = list(params.stop)
    if params.seed is not None:
        fields["seed"] = params.seed
    return fields


def chat_payload(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec] | None,
    params: SamplingParams,
    *,
    stream: bool,
    return_token_ids: bool,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "messages": wire_messages(messages)}
    payload.update(_sampling_fields(params))
    if tools:
        payload["tools"] = list(tools)
        if params.tool_choice != "auto":
            payload["tool_choice"] = params.tool_choice
    if params.logprobs:
        payload["logprobs"] = True
        if params.top_logprobs:
            payload["top_logprobs"] = params.top_logprobs
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    if return_token_ids:
        payload["return_token_ids"] = True
    return payload


def completion_payload(
    model: str, prompt: str | Sequence[int], params: SamplingParams, *, return_token_ids: bool
) -> dict[str, Any]:
    prompt_value: str | list[int] = prompt if isinstance(prompt, str) else list(prompt)
    payload: dict[str, Any] = {"model": model, "prompt": prompt_value}
    payload.update(_sampling_fields(params))
    if params.logprobs:
        payload["logprobs"] = params.top_logprobs  # legacy API: number of alternatives, 0 allowed
    if return_token_ids:
        payload["return_token_ids"] = True
    return payload


def parse_tool_calls(raw: Sequence[dict[str, Any]] | None) -> list[ToolCall]:
    calls = []
    for item in raw or []:
        function = item.get("function") or {}
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError:
                # Keep what the model wrote: the agent returns the error to the model to fix.
                arguments = {"_raw": arguments}
        if not isinstance(arguments, dict):
            arguments = {"_raw": arguments}
        calls.append(
            ToolCall(name=function.get("name", ""), arguments=arguments, id=item.get("id", ""))
        )
    return calls


@dataclass
class TokenLogprobs:
    """Per-token logprobs read from a response, with ids when the tokens spell them."""

    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)

    def extend_chat(self, logprobs: dict[str, Any] | None) -> None:
        """Add a chat `logprobs` object ({"content": [{token, logprob, top_logprobs}]})."""
        for entry in (logprobs or {}).get("content") or []:
            self.tokens.append(str(entry.get("token", "")))
            self.logprobs.append(float(entry.get("logprob", 0.0)))
            alternatives = entry.get("top_logprobs") or []
            self.top_logprobs.append({a["token"]: float(a["logprob"]) for a in alternatives})

    def extend_completion(self, logprobs: dict[str, Any] | None) -> None:
        """Add a legacy completions `logprobs` object (parallel lists)."""
        if not logprobs:
            return
        tokens = logprobs.get("tokens") or []
        values = logprobs.get("token_logprobs") or []
        tops = logprobs.get("top_logprobs") or [None] * len(tokens)
        for token, value, top in zip(tokens, values, tops, strict=False):
            self.tokens.append(str(token))
            self.logprobs.append(float(value) if value is not None else 0.0)
            self.top_logprobs.append({k: float(v) for k, v in (top or {}).items()})

    def token_ids(self) -> list[int]:
        """Ids spelled as vLLM's "token_id:N" tokens, or [] when the tokens are plain text."""
        if not self.tokens or not all(t.startswith(TOKEN_ID_PREFIX) for t in self.tokens):
            return []
        try:
            return [int(t.removeprefix(TOKEN_ID_PREFIX)) for t in self.tokens]
        except ValueError:
            return []


def _usage(raw: dict[str, Any] | None, prompt_ids: list[int], completion_ids: list[int]) -> Usage:
    raw = raw or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or len(prompt_ids)),
        completion_tokens=int(raw.get("completion_tokens") or len(completion_ids)),
    )


def build_result(
    *,
    content: str,
    model_id: str,
    finish: str | None,
    tool_calls: list[ToolCall],
    logprobs: TokenLogprobs | None,
    token_ids: list[int] | None,
    prompt_ids: list[int] | None,
    usage: dict[str, Any] | None,
    params: SamplingParams,
) -> ChatResult:
    """Assemble a ChatResult; ids come from the server's `token_ids`, else from "token_id:N"."""
    completion_ids = list(token_ids or (logprobs.token_ids() if logprobs else []))
    prompt_ids = list(prompt_ids or [])
    has_logprobs = params.logprobs and logprobs is not None and bool(logprobs.logprobs)
    has_top = has_logprobs and params.top_logprobs > 0
    # `text` is the turn as the model wrote it: the server parsed the tool calls out of it, so
    # they are written back in the Hermes format every backend of ours uses.
    text = "\n".join(part for part in (content, format_tool_calls(tool_calls)) if part)
    return ChatResult(
        text=text,
        model_id=model_id,
        finish_reason=finish_reason(finish, has_tool_calls=bool(tool_calls)),
        prompt_ids=prompt_ids,
        completion_ids=completion_ids,
        logprobs=list(logprobs.logprobs) if has_logprobs and logprobs else None,
        top_logprobs=list(logprobs.top_logprobs) if has_top and logprobs else None,
        tool_calls=tool_calls,
        content=content,
        usage=_usage(usage, prompt_ids, completion_ids),
    )


def parse_chat_response(body: dict[str, Any], model_id: str, params: SamplingParams) -> ChatResult:
    choices = body.get("choices") or []
    if not choices:
        raise ValueError("the server's answer has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    logprobs = TokenLogprobs()
    logprobs.extend_chat(choice.get("logprobs"))
    return build_result(
        content=message.get("content") or "",
        model_id=body.get("model") or model_id,
        finish=choice.get("finish_reason"),
        tool_calls=parse_tool_calls(message.get("tool_calls")),
        logprobs=logprobs,
        token_ids=choice.get("token_ids"),
        prompt_ids=body.get("prompt_token_ids") or choice.get("prompt_token_ids"),
        usage=body.get("usage"),
        params=params,
    )


def parse_completion_response(
    body: dict[str, Any], model_id: str, params: SamplingParams
) -> ChatResult:
    choices = body.get("choices") or []
    if not choices:
        raise ValueError("the server's answer has no choices")
    choice = choices[0]
    logprobs = TokenLogprobs()
    logprobs.extend_completion(choice.get("logprobs"))
    return build_result(
        content=choice.get("text") or "",
        model_id=body.get("model") or model_id,
        finish=choice.get("finish_reason"),
        tool_calls=[],
        logprobs=logprobs,
        token_ids=choice.get("token_ids"),
        prompt_ids=choice.get("prompt_token_ids") or body.get("prompt_token_ids"),
        usage=body.get("usage"),
        params=params,
    )
