"""What a tool hands back: a structured result for the UI and a compact text for the model.

Every result says where its numbers came from (`source`) and how fresh they are (`as_of`); the
registry wraps it in a `ToolOutcome`, which is also how failures travel (as short error text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

ARTEFACT_FIELDS = {"table", "figure"}


def fmt_num(value: float | None, digits: int = 2) -> str:
    """A number as a model reads it best: fixed digits, thousands separators, 'n/a' for None."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def fmt_pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


class ToolResult(BaseModel):
    """Base of every tool result. Subclasses add fields and override `summary()`."""

    source: str = Field(description="Where the data came from, with its price basis.")
    as_of: date | None = Field(description="Date of the newest data point used (or computation).")
    notes: list[str] = Field(default_factory=list, description="Caveats the answer must mention.")
    table: list[dict[str, Any]] | None = Field(
        default=None, description="Optional table artefact for the UI (list of row dicts)."
    )
    figure: dict[str, Any] | None = Field(
        default=None, description="Optional plotly figure (as JSON) for the UI."
    )

    def summary(self) -> str:
        """The result's own lines; the default lists the non-artefact fields compactly."""
        skip = ARTEFACT_FIELDS | {"source", "as_of", "notes"}
        data = self.model_dump(mode="json", exclude=skip)
        return "; ".join(f"{key}: {value}" for key, value in data.items())

    def to_text(self) -> str:
        lines = [self.summary()]
        for note in self.notes:
            lines.append(f"note: {note}")
        as_of = self.as_of.isoformat() if self.as_of else "n/a"
        lines.append(f"source: {self.source}; as of {as_of}")
        return "\n".join(lines)


class TextResult(ToolResult):
    """Wraps what a plain LangChain tool returned (a string or anything JSON-able)."""

    text: str

    def summary(self) -> str:
        return self.text


@dataclass
class ToolOutcome:
    """One call through the registry: the text the model sees, and the structured result."""

    name: str
    arguments: dict[str, Any]
    text: str
    is_error: bool = False
    result: ToolResult | None = None
    duration_s: float = 0.0
    is_truncated: bool = False

    def to_message(self, tool_call_id: str | None = None) -> dict[str, Any]:
        """The OpenAI-style tool message the agent appends to the conversation."""
        message: dict[str, Any] = {"role": "tool", "name": self.name, "content": self.text}
        if tool_call_id is not None:
            message["tool_call_id"] = tool_call_id
        return message

    def to_json(self, include_artefacts: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "tool": self.name,
            "arguments": self.arguments,
            "is_error": self.is_error,
            "is_truncated": self.is_truncated,
            "duration_s": round(self.duration_s, 4),
            "text": self.text,
        }
        if self.result is not None:
            exclude = set() if include_artefacts else ARTEFACT_FIELDS
            payload["result"] = self.result.model_dump(mode="json", exclude=exclude)
            payload["source"] = self.result.source
            payload["as_of"] = self.result.as_of.isoformat() if self.result.as_of else None
        return payload

    def to_json_text(self, include_artefacts: bool = True) -> str:
        return json.dumps(self.to_json(include_artefacts), indent=2, default=str)
