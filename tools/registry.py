"""The tool registry: schemas for the model, validated calls, timeouts, size caps, error text.

Whatever goes wrong inside a call (bad JSON, wrong types, unknown ticker, no data, a timeout, the
network) comes back as a `ToolOutcome` with `is_error=True` and one short line the model can act
on; a call through the registry never raises.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ValidationError

from tools.result import TextResult, ToolOutcome, ToolResult
from tools.tool import ToolError

logger = logging.getLogger(__name__)
MAX_ERROR_CHARS = 400


def validation_message(exc: ValidationError) -> str:
    """pydantic's report as one line: 'field: problem; field: problem'."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def _as_result(value: Any) -> ToolResult:
    if isinstance(value, ToolResult):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return TextResult(text=text, source="tool output", as_of=None)


class _Call(threading.Thread):
    """Runs one tool call; a daemon thread, so a call that never returns is simply abandoned."""

    def __init__(self, tool: BaseTool, arguments: dict[str, Any]) -> None:
        super().__init__(name=f"tool-{tool.name}", daemon=True)
        self.tool = tool
        self.arguments = arguments
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.tool.invoke(self.arguments)
        except BaseException as exc:  # handed to the caller's thread, which decides
            self.error = exc


class ToolRegistry:
    """The tools offered to the model, by name."""

    def __init__(
        self,
        tools: Iterable[BaseTool],
        *,
        timeout_s: float = 30.0,
        max_chars: int = 4000,
        load_errors: Iterable[str] = (),
    ) -> None:
        self._tools: dict[str, BaseTool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools are named {tool.name!r}; rename one")
            self._tools[tool.name] = tool
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self.load_errors = list(load_errors)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> BaseTool:
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def schema(self, name: str) -> dict[str, Any]:
        """OpenAI-style `{"type": "function", "function": {name, description, parameters}}`."""
        return convert_to_openai_tool(self.get(name))

    def schemas(self) -> list[dict[str, Any]]:
        return [self.schema(name) for name in self._tools]

    def _unknown(self, name: str) -> str:
        return f"unknown tool {name!r}; available tools: {', '.join(sorted(self._tools))}"

    def call(self, name: str, arguments: Mapping[str, Any] | str | None = None) -> ToolOutcome:
        """Validate, run with the timeout, render, cap. Never raises for a failing tool."""
        started = time.perf_counter()
        parsed = arguments if isinstance(arguments, Mapping) else {}
        try:
            if name not in self._tools:
                raise ToolError(self._unknown(name))
            tool = self._tools[name]
            parsed = self._parse(arguments)
            self._validate(tool, parsed)
            result = _as_result(self._run(tool, parsed))
        except ToolError as exc:
            return self._error(name, parsed, str(exc), started)
        except Exception as exc:
            logger.exception("tool %s crashed", name)
            return self._error(name, parsed, f"{name} failed: {type(exc).__name__}: {exc}", started)
        text = result.to_text()
        is_truncated = len(text) > self.max_chars
        if is_truncated:
            dropped = len(text) - self.max_chars
            text = text[: self.max_chars] + (
                f"\n[truncated {dropped} characters; ask for a shorter period or fewer items]"
            )
        return ToolOutcome(
            name=name,
            arguments=dict(parsed),
            text=text,
            result=result,
            duration_s=time.perf_counter() - started,
            is_truncated=is_truncated,
        )

    @staticmethod
    def _parse(arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
        if arguments is None:
            return {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise ToolError(
                    f"arguments are not valid JSON ({exc.msg} at character {exc.pos}); "
                    'send one JSON object such as {"ticker": "AAPL"}'
                ) from None
        if not isinstance(arguments, Mapping):
            raise ToolError(
                f"arguments must be a JSON object, not {type(arguments).__name__}; "
                'send one such as {"ticker": "AAPL"}'
            )
        return dict(arguments)

    def _validate(self, tool: BaseTool, arguments: dict[str, Any]) -> None:
        schema = tool.args_schema
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            try:
                schema.model_validate(arguments)
            except ValidationError as exc:
                raise ToolError(
                    f"bad arguments for {tool.name}: {validation_message(exc)}; "
                    "fix them and call again"
                ) from None

    def _run(self, tool: BaseTool, arguments: dict[str, Any]) -> Any:
        call = _Call(tool, arguments)
        call.start()
        call.join(self.timeout_s)
        if call.is_alive():
            raise ToolError(
                f"{tool.name} timed out after {self.timeout_s:g} s; "
                "try a shorter period or fewer tickers"
            )
        if call.error is not None:
            if isinstance(call.error, ValidationError):
                raise ToolError(f"bad arguments for {tool.name}: {validation_message(call.error)}")
            if isinstance(call.error, Exception):
                raise call.error
            raise ToolError(f"{tool.name} stopped: {type(call.error).__name__}")
        return call.value

    def _error(
        self, name: str, arguments: Mapping[str, Any], text: str, started: float
    ) -> ToolOutcome:
        if len(text) > MAX_ERROR_CHARS:
            text = text[: MAX_ERROR_CHARS - 3] + "..."
        return ToolOutcome(
            name=name,
            arguments=dict(arguments),
            text=f"error: {text}",
            is_error=True,
            duration_s=time.perf_counter() - started,
        )
