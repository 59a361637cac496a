"""Argument types shared by the market tools, so every tool spells tickers and dates alike."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)

Ticker = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=12,
        pattern=r"^[A-Za-z0-9.\-^=]+$",
    ),
    Field(description="Ticker symbol, e.g. AAPL, SPY, BRK.B."),
]
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST)]


class ToolArgs(BaseModel):
    """Base of every argument model: unknown keys are an error the model can fix."""

    model_config = ConfigDict(extra="forbid")


class DateRangeArgs(ToolArgs):
    start: Day = Field(
        description="First day, YYYY-MM-DD (a weekend or holiday means the previous session)."
    )
    end: Day | None = Field(
        default=None, description="Last day, YYYY-MM-DD; default: the latest available."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}; swap them")
        return self
