"""How a tool is written: a typed function `(args, context) -> ToolResult` with a docstring.

`define_tool` turns such a function into a LangChain-core `StructuredTool` whose argument schema is
the function's pydantic model and whose description is its docstring. `ToolContext` carries what
tools need (settings, market data, the database), built lazily so that listing tools costs nothing.
"""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from core.settings import Settings

if TYPE_CHECKING:
    from core.db.session import Database
    from tools.market.service import MarketData


class ToolError(Exception):
    """A failure the user or the model can fix; the message says what to do (one line)."""


class ToolContext:
    """Shared services for tools. Opened lazily; pass one per process (or per test)."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        market: MarketData | None = None,
        today: date | None = None,
    ) -> None:
        self.settings = settings
        self._database = database
        self._market = market
        self._today = today
        self._owns_database = database is None
        self._lock = threading.Lock()

    def today(self) -> date:
        """The date 'now' means: pinned (a test, an eval run, `HUIJIN_TODAY`) or the real one."""
        return self._today or self.settings.today or date.today()

    @property
    def database(self) -> Database:
        with self._lock:
            if self._database is None:
                from core.db.session import open_database

                self._database = open_database(self.settings.resolved_database_url())
            return self._database

    @property
    def market(self) -> MarketData:
        with self._lock:
            if self._market is None:
                from tools.market.service import MarketData

                self._market = MarketData.from_settings(self.settings, lambda: self.database)
            return self._market

    def close(self) -> None:
        if self._owns_database and self._database is not None:
            self._database.close()
            self._database = None


ToolFunction = Callable[[Any, ToolContext], Any]


def args_model_of(func: ToolFunction) -> type[BaseModel]:
    """The pydantic model annotated on the function's first parameter."""
    hints = typing.get_type_hints(func)
    first = next(iter(inspect.signature(func).parameters))
    model = hints.get(first)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{func.__name__}: annotate the first parameter with a pydantic model")
    return model


def define_tool(func: ToolFunction, context: ToolContext, name: str | None = None) -> BaseTool:
    """Wrap `func(args, context)` as a StructuredTool named after the function."""
    model = args_model_of(func)
    description = " ".join((func.__doc__ or "").split())  # one paragraph for the model
    if not description:
        raise TypeError(f"{func.__name__}: write a docstring; it is the tool's description")

    def run(**kwargs: Any) -> Any:
        return func(model(**kwargs), context)

    return StructuredTool.from_function(
        func=run, name=name or func.__name__, description=description, args_schema=model
    )
