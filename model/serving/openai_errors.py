"""OpenAI-shaped errors: every failure answers `{"error": {"message", "type", "param", "code"}}`.

OpenAI clients read `error.message` to show the user what went wrong, so validation errors,
unknown models, unknown routes and engine failures all come back in that one shape, with a status
that says whose fault it was (400/404: the request's, 500: ours).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.engine.types import EngineError

logger = logging.getLogger(__name__)


class OpenAIError(Exception):
    """An error answered to the client as is (raised by route handlers)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def model_not_found(name: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"The model `{name}` does not exist. GET /v1/models lists the served model.",
        param="model",
        code="model_not_found",
    )


def from_exception(exc: BaseException) -> OpenAIError:
    """Map an exception raised while serving a request to what the client should see.

    ValueError and EngineError are 400s: raised for a request, they are about that request (a
    prompt longer than the context, a conversation the template cannot render, sampling limits)
    and their message says what to change, as OpenAI and vLLM answer such requests. Anything
    else is a bug on our side: a 500, logged with its traceback.
    """
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, ValueError | EngineError):
        return OpenAIError(400, str(exc))
    logger.exception("unexpected error while serving a request", exc_info=exc)
    return OpenAIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error")


def error_response(error: OpenAIError) -> JSONResponse:
    return JSONResponse(
        error_body(error.message, error.type, error.param, error.code),
        status_code=error.status_code,
    )


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """One line naming each bad field, e.g. "temperature: Input should be less than or equal to 2"."""
    parts, first_param = [], None
    for error in exc.errors():
        # loc starts with "body"; the rest is the field path (list indices included).
        path = [str(item) for item in error.get("loc", ()) if item != "body"]
        param = ".".join(path) or None
        first_param = first_param or param
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{param}: {message}" if param else message)
    return "; ".join(parts) or "invalid request", first_param


def install_error_handlers(app: FastAPI) -> None:
    """Make every error path of `app` answer in OpenAI's error shape."""

    @app.exception_handler(OpenAIError)
    async def _openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(OpenAIError(400, message, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(OpenAIError(exc.status_code, str(exc.detail), type=kind))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(from_exception(exc))
