"""HTTP to an OpenAI-compatible server: retries with backoff, SSE parsing, one-line errors.

Kept apart from the engine so the wire logic (what to send, how to read it back) is separate from
the transport (how to get bytes there reliably). Retried: connection failures, 429 and 5xx, which
a restarting or overloaded server answers and which go away. Not retried: other 4xx (the request
itself is wrong) and read timeouts (the generation would just be paid for twice).
"""

from __future__ import annotations

import errno
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from model.engine.types import EngineError

API_KEY_ENV = "HUIJIN_OPENAI_API_KEY"
_MAX_RETRY_AFTER_S = 30.0


class ServerStatusError(EngineError):
    """The server answered an error status; `detail` is its own message."""

    def __init__(self, message: str, status_code: int, detail: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


def _reason(exc: httpx.TransportError) -> str:
    """A short reason for a connection failure ("connection refused", "name not resolved")."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) in (
            errno.ECONNREFUSED,
        ):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text


def _error_message(response: httpx.Response) -> str:
    """The server's own explanation, from OpenAI's error shape or FastAPI's `detail`."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)[:300]


class OpenAIHTTP:
    """A thread-safe client for one server; `num_retries` counts retries made so far."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float,
        max_retries: int,
        backoff_s: float,
        max_backoff_s: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.num_retries = 0
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Connecting should never take long; a slow connect means a wrong or unroutable host.
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        self._client = httpx.Client(headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def get_json(self, path: str) -> dict[str, Any]:
        return self._json(self._send("GET", path, None, stream=False))

    def post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._send("POST", path, payload, stream=False))

    @contextmanager
    def stream_events(
        self, path: str, payload: dict[str, Any]
    ) -> Iterator[Iterator[dict[str, Any]]]:
        """POST and iterate the parsed `data:` payloads of the SSE answer, up to `[DONE]`.

        Leaving the `with` block closes the connection, which tells the server to stop generating.
        """
        response = self._send("POST", path, payload, stream=True)
        try:
            yield self._sse_payloads(response)
        finally:
            response.close()

    def _sse_payloads(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        data_lines: list[str] = []
        try:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    data_lines.append(line[5:].removeprefix(" "))
                    continue
                if line or not data_lines:  # comments, `event:` fields, keep-alive blank lines
                    continue
                data, data_lines = "\n".join(data_lines), []
                if data.strip() == "[DONE]":
                    return
                payload = json.loads(data)
                if isinstance(payload, dict) and "error" in payload and "choices" not in payload:
                    error = payload["error"]
                    message = error.get("message", error) if isinstance(error, dict) else error
                    raise EngineError(f"server reported an error mid-stream: {message}")
                yield payload
        except httpx.TimeoutException as exc:
            raise self._timeout_error(response.request.url) from exc
        except httpx.TransportError as exc:
            raise EngineError(f"connection to {self.base_url} broke mid-stream: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise EngineError(f"server sent a malformed stream event: {exc.msg}") from exc

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise EngineError(
                f"server at {self.base_url} did not answer JSON: is it an OpenAI-compatible API?"
            ) from exc
        if not isinstance(body, dict):
            raise EngineError(f"server at {self.base_url} answered unexpected JSON: {body!r:.200}")
        return body

    def _timeout_error(self, url: httpx.URL | str) -> EngineError:
        return EngineError(
            f"request to {url} timed out after {self.timeout_s:g}s: "
            "raise the timeout or ask for fewer tokens"
        )

    def _backoff(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before retry `attempt` (0-based): Retry-After if given, else 2^n."""
        if response is not None:
            try:
                return min(float(response.headers.get("retry-after", "")), _MAX_RETRY_AFTER_S)
            except ValueError:
                pass
        delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
        return delay * random.uniform(0.8, 1.2)  # jitter: retrying clients don't stampede together

    def _retry(self, attempt: int, response: httpx.Response | None = None) -> None:
        with self._lock:
            self.num_retries += 1
        time.sleep(self._backoff(attempt, response))

    def _send(
        self, method: str, path: str, payload: dict[str, Any] | None, *, stream: bool
    ) -> httpx.Response:
        url = f"{self.base_url}/{path.lstrip('/')}"
        for attempt in range(self.max_retries + 1):
            is_last = attempt == self.max_retries
            try:
                request = self._client.build_request(method, url, json=payload)
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if is_last:
                    raise EngineError(
                        f"cannot reach {self.base_url} ({_reason(exc)}): is the server running? "
                        "start one with `huijin serve`"
                    ) from exc
                self._retry(attempt)
                continue
            except httpx.TimeoutException as exc:
                raise self._timeout_error(url) from exc
            except httpx.TransportError as exc:
                raise EngineError(f"request to {url} failed: {exc}") from exc
            status = response.status_code
            if status < 400:
                return response
            response.read()
            response.close()
            if (status == 429 or status >= 500) and not is_last:
                self._retry(attempt, response)
                continue
            raise self._status_error(response, attempts=attempt + 1)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _status_error(self, response: httpx.Response, *, attempts: int) -> ServerStatusError:
        status, detail = response.status_code, _error_message(response)
        if status in (401, 403):
            message = f"server returned {status}: check {API_KEY_ENV} ({detail})"
        elif status == 404:
            message = (
                f"server returned 404 for {response.request.url}: {detail} "
                "(check the base URL, e.g. http://127.0.0.1:8000/v1, and the model name)"
            )
        else:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            message = f"server returned {status}{tries}: {detail}"
        return ServerStatusError(message, status, detail)
