"""The `openai` backend: a ChatEngine over any OpenAI-compatible server.

`vllm serve` on a GPU box, a hosted API (Baidu Qianfan, OpenAI), Ollama, or our own `huijin serve`:
the agent and the evals talk to all of them through this one class. Token ids (which training
needs) come back when the server offers them (vLLM's and our server's `return_token_ids`); for
servers that refuse that field the engine drops it after the first 400 and carries on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from model.engine.openai_http import OpenAIHTTP, ServerStatusError
from model.engine.openai_stream import ChatStreamAccumulator
from model.engine.openai_wire import (
    chat_payload,
    completion_payload,
    parse_chat_response,
    parse_completion_response,
)
from model.engine.types import (
    ChatResult,
    EngineError,
    Message,
    ModelInfo,
    SamplingParams,
    StreamEvent,
    ToolSpec,
)

_Parser = Callable[[dict[str, Any], str, SamplingParams], ChatResult]


@dataclass(frozen=True)
class OpenAIEngineConfig:
    """Where the server is and how patiently to talk to it."""

    # Base URL including the API version path, e.g. http://127.0.0.1:8000/v1 (vLLM, huijin) or
    # https://qianfan.baidubce.com/v2. A bare http://host:port gets /v1 appended.
    base_url: str = "http://127.0.0.1:8000/v1"
    # Sent as `Authorization: Bearer <key>`; empty sends no header. Kept out of repr (and logs).
    api_key: str = field(default="", repr=False)
    # Model name on the server; empty means the first one GET /models lists.
    model: str = ""
    # Seconds one request may take, generation included.
    timeout_s: float = 120.0
    # Retries after connection errors, 429 and 5xx, waiting backoff_s * 2^n (or Retry-After).
    max_retries: int = 3
    backoff_s: float = 0.5
    # Requests in flight at once for chat_batch (the server batches them on its side).
    max_concurrency: int = 8
    # Ask for vLLM's `token_ids` / `prompt_token_ids`; dropped automatically if the server refuses.
    return_token_ids: bool = True

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"base_url {self.base_url!r} must be an http(s) URL, e.g. http://127.0.0.1:8000/v1"
            )
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0 seconds")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0 (0 disables retries)")
        if self.backoff_s < 0:
            raise ValueError("backoff_s must be >= 0")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")

    @property
    def api_base(self) -> str:
        """`base_url` with the version path: a bare host:port means OpenAI's /v1."""
        url = self.base_url.rstrip("/")
        return url if urlsplit(url).path not in ("", "/") else f"{url}/v1"


class OpenAIEngine:
    """ChatEngine speaking HTTP to an OpenAI-compatible server (thread-safe)."""

    def __init__(self, config: OpenAIEngineConfig | None = None) -> None:
        self.config = config or OpenAIEngineConfig()
        self._http = OpenAIHTTP(
            self.config.api_base,
            self.config.api_key,
            timeout_s=self.config.timeout_s,
            max_retries=self.config.max_retries,
            backoff_s=self.config.backoff_s,
        )
        self._model = self.config.model
        self._is_token_ids_wanted = self.config.return_token_ids
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def num_retries(self) -> int:
        """Retries made so far (connection errors, 429, 5xx): a sign of an overloaded server."""
        return self._http.num_retries

    @property
    def model_id(self) -> str:
        if not self._model:
            with self._lock:
                if not self._model:
                    self._model = self._first_model()
        return self._model

    def _models(self) -> list[dict[str, Any]]:
        data = self._http.get_json("models").get("data") or []
        return [m for m in data if isinstance(m, dict) and m.get("id")]

    def _first_model(self) -> str:
        models = self._models()
        if not models:
            raise EngineError(f"the server at {self.config.api_base} serves no models")
        return str(models[0]["id"])

    def info(self) -> ModelInfo:
        """The served model's card; nothing is loaded here, so size and load time stay 0."""
        cards = {m["id"]: m for m in self._models()}
        card = cards.get(self.model_id)
        if card is None:
            known = ", ".join(sorted(cards)) or "none"
            raise EngineError(
                f"the server at {self.config.api_base} does not serve {self.model_id!r} "
                f"(it serves: {known}); set the model name accordingly"
            )
        return ModelInfo(
            model_id=self.model_id,
            backend="openai",
            source=self.config.api_base,
            context_length=int(card.get("max_model_len") or card.get("context_length") or 0),
            extra={k: v for k, v in card.items() if k in ("owned_by", "root", "created")},
        )

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST, dropping `return_token_ids` for good if the server rejects that field."""
        try:
            return self._http.post_json(path, payload)
        except ServerStatusError as exc:
            if not self._is_refused_token_ids(exc, payload):
                raise
            self._is_token_ids_wanted = False
            payload = {k: v for k, v in payload.items() if k != "return_token_ids"}
            return self._http.post_json(path, payload)

    def _stream_chunks(self, path: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The streamed chunks, with the same `return_token_ids` fallback as `_post`.

        The server's refusal comes before any chunk, so asking again cannot repeat output.
        """
        try:
            with self._http.stream_events(path, payload) as chunks:
                yield from chunks
            return
        except ServerStatusError as exc:
            if not self._is_refused_token_ids(exc, payload):
                raise
        self._is_token_ids_wanted = False
        payload = {k: v for k, v in payload.items() if k != "return_token_ids"}
        with self._http.stream_events(path, payload) as chunks:
            yield from chunks

    def _is_refused_token_ids(self, exc: ServerStatusError, payload: dict[str, Any]) -> bool:
        return (
            exc.status_code in (400, 422)
            and "return_token_ids" in payload
            and "return_token_ids" in exc.detail
        )

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> ChatResult:
        params = params or SamplingParams()
        payload = chat_payload(
            self.model_id,
            messages,
            tools,
            params,
            stream=False,
            return_token_ids=self._is_token_ids_wanted,
        )
        started = time.perf_counter()
        body = self._post("chat/completions", payload)
        result = self._parse(parse_chat_response, body, params)
        result.total_time_s = result.time_to_first_token_s = time.perf_counter() - started
        return result

    def stream_chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> Iterator[StreamEvent]:
        """Yield text as the server streams it; the last event holds the whole ChatResult.

        Closing the iterator early closes the connection, which stops the server's generation.
        """
        params = params or SamplingParams()
        payload = chat_payload(
            self.model_id,
            messages,
            tools,
            params,
            stream=True,
            return_token_ids=self._is_token_ids_wanted,
        )
        accumulator = ChatStreamAccumulator(model_id=self.model_id, params=params)
        started, first_token_at = time.perf_counter(), None
        for chunk in self._stream_chunks("chat/completions", payload):
            event = accumulator.add(chunk)
            if event is not None:
                first_token_at = first_token_at or time.perf_counter()
                yield event
        result = accumulator.result()
        result.total_time_s = time.perf_counter() - started
        result.time_to_first_token_s = (first_token_at or time.perf_counter()) - started
        yield StreamEvent(finish_reason=result.finish_reason, result=result)

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> list[ChatResult]:
        """Send the conversations concurrently; results keep the input order."""
        if not conversations:
            return []
        self.model_id  # noqa: B018 - resolve the model once, not in every worker
        pool = self._executor()
        futures = [pool.submit(self.chat, messages, tools, params) for messages in conversations]
        return [future.result() for future in futures]

    def complete(
        self, prompt: str | Sequence[int], params: SamplingParams | None = None
    ) -> ChatResult:
        """Continue raw text or token ids with no chat template (POST /completions)."""
        params = params or SamplingParams()
        payload = completion_payload(
            self.model_id, prompt, params, return_token_ids=self._is_token_ids_wanted
        )
        started = time.perf_counter()
        body = self._post("completions", payload)
        result = self._parse(parse_completion_response, body, params)
        result.total_time_s = result.time_to_first_token_s = time.perf_counter() - started
        return result

    def _parse(self, parser: _Parser, body: dict[str, Any], params: SamplingParams) -> ChatResult:
        try:
            return parser(body, self.model_id, params)
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(
                f"unexpected answer from {self.config.api_base}: {exc}; "
                "is it an OpenAI-compatible API?"
            ) from exc

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.config.max_concurrency, thread_name_prefix="openai-engine"
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self._http.close()

    def __enter__(self) -> OpenAIEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
