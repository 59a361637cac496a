"""Which tools exist: the built-ins, modules named in settings, and installed packages that
declare the entry-point group `huijin.tools`; then the enable/disable settings choose among them.

An entry point (or a module in `tool_modules`) may name a module with `build_tools(context)`, a
function `(context) -> BaseTool | list[BaseTool]`, or a ready `BaseTool`. A broken third-party tool
never breaks the rest: it is skipped and reported in `ToolRegistry.load_errors`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from langchain_core.tools import BaseTool

from core.settings import Settings
from tools.builtin import BUILTIN_MODULES
from tools.registry import ToolRegistry
from tools.tool import ToolContext

logger = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "huijin.tools"


def tools_from(obj: Any, context: ToolContext) -> list[BaseTool]:
    """Turn what a module or an entry point offers into tools."""
    if isinstance(obj, BaseTool):
        return [obj]
    if isinstance(obj, ModuleType):
        builder = getattr(obj, "build_tools", None)
        if builder is None:
            raise TypeError(f"module {obj.__name__} has no build_tools(context) function")
        obj = builder
    if callable(obj):
        made = obj(context)
        made = [made] if isinstance(made, BaseTool) else list(made)
        for tool in made:
            if not isinstance(tool, BaseTool):
                raise TypeError(f"expected a LangChain BaseTool, got {type(tool).__name__}")
        return made
    raise TypeError(f"cannot make tools from {type(obj).__name__}")


def discover_tools(context: ToolContext) -> tuple[list[BaseTool], list[str]]:
    """All tools found, in order: built-ins, settings' modules, entry points; and load errors."""
    found: list[BaseTool] = []
    errors: list[str] = []
    for name in [*BUILTIN_MODULES, *context.settings.tool_modules]:
        try:
            found.extend(tools_from(importlib.import_module(name), context))
        except Exception as exc:
            if name in BUILTIN_MODULES:
                raise  # a broken built-in is our bug, not a user's problem
            errors.append(f"tool module {name}: {type(exc).__name__}: {exc}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.extend(tools_from(entry.load(), context))
        except Exception as exc:
            errors.append(f"entry point {entry.name} ({entry.value}): {type(exc).__name__}: {exc}")
    for error in errors:
        logger.warning("skipped %s", error)
    return found, errors


def select_tools(tools: Iterable[BaseTool], settings: Settings) -> list[BaseTool]:
    """Apply enabled_tools (if set) and then disabled_tools; later duplicates lose."""
    chosen: dict[str, BaseTool] = {}
    for tool in tools:
        if settings.enabled_tools is not None and tool.name not in settings.enabled_tools:
            continue
        if tool.name in settings.disabled_tools:
            continue
        if tool.name in chosen:
            logger.warning("two tools are named %s; keeping the first", tool.name)
            continue
        chosen[tool.name] = tool
    return list(chosen.values())


def build_registry(context: ToolContext) -> ToolRegistry:
    """The registry the agent, the app and the CLI use."""
    tools, errors = discover_tools(context)
    settings = context.settings
    return ToolRegistry(
        select_tools(tools, settings),
        timeout_s=settings.tool_timeout_s,
        max_chars=settings.tool_result_max_chars,
        load_errors=errors,
    )
