"""The request handlers of the OpenAI-compatible API, bound to one engine.

Each handler validates (pydantic did the shape; here the model name and sampling limits), runs
the blocking engine call in a worker thread, and hands the results to the response builders.
Several samples or prompts are submitted at once, so the engine can batch them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from model.engine.types import ChatEngine, ChatResult, Message, SamplingParams, ToolSpec
from model.serving.openai_errors import OpenAIError, from_exception, model_not_found
from model.serving.openai_responses import (
    TokenText,
    chat_completion,
    now,
    text_completion,
    token_id_text,
)
from model.serving.openai_schemas import ChatCompletionRequest, CompletionRequest, SamplingBody
from model.serving.openai_stream import chat_sse, completion_sse, stream_response

T = TypeVar("T")


def sampling_params(
    body: SamplingBody, *, logprobs: bool, num_top: int, default_max_tokens: int
) -> SamplingParams:
    """The request's sampling fields as engine SamplingParams; a bad value is a 400."""
    try:
        return SamplingParams(
            max_new_tokens=body.max_new_tokens or default_max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=max(body.top_k, 0),
            stop=body.stop_strings,
            seed=body.seed,
            logprobs=logprobs,
            top_logprobs=num_top,
        )
    except ValueError as exc:
        raise OpenAIError(400, str(exc)) from exc


def per_sample_params(params: SamplingParams, n: int) -> list[SamplingParams]:
    """One params per sample: with a seed, sample i uses seed + i so the n samples differ."""
    if params.seed is None or n == 1:
        return [params] * n
    return [dataclasses.replace(params, seed=params.seed + i) for i in range(n)]


async def call_engine(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking engine call in a worker thread; its errors become OpenAI errors.

    Converting here (not in a catch-all handler) answers a client mistake the engine detects,
    such as a prompt longer than the context, as a plain 400 without a server traceback.
    """
    try:
        return await run_in_threadpool(function, *args)
    except Exception as exc:
        raise from_exception(exc) from exc


async def gather(calls: list[tuple[Callable[..., T], tuple[Any, ...]]]) -> list[T]:
    """Run engine calls concurrently (each in its own worker thread); results in call order."""
    results: list[Any] = [None] * len(calls)

    async def one(i: int) -> None:
        function, args = calls[i]
        results[i] = await call_engine(function, *args)

    async with anyio.create_task_group() as group:
        for i in range(len(calls)):
            group.start_soon(one, i)
    return results


class OpenAIRoutes:
    """Handlers for /health, /v1/models, /v1/chat/completions and /v1/completions."""

    def __init__(
        self, engine: ChatEngine, *, model_name: str, default_max_tokens: int, token_text: TokenText
    ) -> None:
        self.engine = engine
        self.model_name = model_name
        self.default_max_tokens = default_max_tokens
        self.token_text = token_text
        self._tool_grammar: Any = None  # compiled lazily, on the first required tool call

    def _tool_call_constraint(
        self, params: SamplingParams, tools: list[ToolSpec] | None
    ) -> Callable[[], Any] | None:
        """For a required tool call on an in-process engine: a factory of grammar processors (one
        per request). Remote engines get `tool_choice` passed on and enforce it themselves."""
        if params.tool_choice != "required" or not tools:
            return None
        if self._tool_grammar is None:
            from model.engine.tool_grammar import engine_tool_grammar

            self._tool_grammar = engine_tool_grammar(self.engine) or False
        if self._tool_grammar is False:
            return None
        grammar = self._tool_grammar
        return lambda: grammar.processor(tools)

    def _check_model(self, requested: str | None) -> None:
        if requested and requested not in (self.model_name, self.engine.model_id):
            raise model_not_found(requested)

    def _spelling(self, body: SamplingBody) -> TokenText:
        return token_id_text if body.return_tokens_as_token_ids else self.token_text

    def _model_card(self) -> dict[str, Any]:
        info = self.engine.info()
        card: dict[str, Any] = {
            "id": self.model_name,
            "object": "model",
            "created": now(),
            "owned_by": "huijin",
            "root": info.source or info.model_id,
        }
        if info.context_length:
            card["max_model_len"] = info.context_length
        return card

    async def health(self) -> dict[str, str]:
        return {"status": "ok", "model": self.model_name}

    async def list_models(self) -> dict[str, Any]:
        return {"object": "list", "data": [await call_engine(self._model_card)]}

    async def get_model(self, name: str) -> dict[str, Any]:
        self._check_model(name)
        return await call_engine(self._model_card)

    async def chat_completions(
        self, body: ChatCompletionRequest
    ) -> JSONResponse | StreamingResponse:
        self._check_model(body.model)
        num_top = (body.top_logprobs or 0) if body.logprobs else 0
        params = sampling_params(
            body,
            logprobs=body.logprobs,
            num_top=num_top,
            default_max_tokens=self.default_max_tokens,
        )
        messages, tools = body.engine_messages(), body.engine_tools()
        if body.requires_tool_call:
            params = dataclasses.replace(params, tool_choice="required")
        constrain = self._tool_call_constraint(params, tools)
        if body.stream:
            stream_chat = self.engine.stream_chat
            if constrain is not None:
                stream_chat = functools.partial(stream_chat, logits_processor=constrain())
            events = await call_engine(stream_chat, messages, tools, params)
            lines = chat_sse(
                events,
                model=self.model_name,
                logprobs=body.logprobs,
                token_text=self._spelling(body),
                include_usage=body.include_usage,
                return_token_ids=body.return_token_ids,
                has_tools=tools is not None,
            )
            return await stream_response(lines)
        results = await self._chat_samples(messages, tools, params, body.n, constrain)
        response = chat_completion(
            results,
            model=self.model_name,
            logprobs=body.logprobs,
            num_top=num_top,
            token_text=self._spelling(body),
            return_token_ids=body.return_token_ids,
        )
        return JSONResponse(response)

    async def _chat_samples(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        params: SamplingParams,
        n: int,
        constrain: Callable[[], Any] | None = None,
    ) -> list[ChatResult]:
        """n samples of one conversation: one chat_batch call, or n chat calls when seeds differ
        or each needs its own grammar processor."""
        if constrain is not None:
            calls = [
                (
                    functools.partial(self.engine.chat, logits_processor=constrain()),
                    (messages, tools, p),
                )
                for p in per_sample_params(params, n)
            ]
            return await gather(calls)
        if n == 1:
            return [await call_engine(self.engine.chat, messages, tools, params)]
        if params.seed is None:
            return await call_engine(self.engine.chat_batch, [messages] * n, tools, params)
        calls = [(self.engine.chat, (messages, tools, p)) for p in per_sample_params(params, n)]
        return await gather(calls)

    async def completions(self, body: CompletionRequest) -> JSONResponse | StreamingResponse:
        self._check_model(body.model)
        params = sampling_params(
            body,
            logprobs=body.logprobs is not None,
            num_top=body.logprobs or 0,
            default_max_tokens=self.default_max_tokens,
        )
        samples = per_sample_params(params, body.n)
        # Every (prompt, sample) pair at once; choice p * n + j is sample j of prompt p.
        calls = [(self.engine.complete, (prompt, p)) for prompt in body.prompts for p in samples]
        flat = await gather(calls)
        groups = [flat[i : i + body.n] for i in range(0, len(flat), body.n)]
        response = text_completion(
            groups,
            model=self.model_name,
            logprobs=body.logprobs,
            token_text=self._spelling(body),
            return_token_ids=body.return_token_ids,
        )
        if body.stream:  # the engine has no streaming `complete`: the text comes as one chunk
            return await stream_response(completion_sse(response, body.include_usage))
        return JSONResponse(response)
