"""Trading calendar: a date that is not a session resolves to the previous session, with a note.

Uses the NYSE calendar of `exchange-calendars` (every snapshot ticker trades in the US); dates
outside the calendar's range fall back to the weekend rule.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

CALENDAR_START = "1990-01-01"


@dataclass(frozen=True)
class SessionDate:
    requested: date
    session: date
    note: str | None = None  # set when `session` differs from `requested`


class TradingCalendar:
    def __init__(self, exchange: str = "XNYS") -> None:
        self.exchange = exchange
        self._calendar: Any = None
        self._holiday_names: dict[date, str] = {}
        self._lock = threading.Lock()

    def _load(self) -> Any:
        # Building the calendar takes about a second, so it is done once, on first use.
        with self._lock:
            if self._calendar is None:
                import exchange_calendars

                calendar = exchange_calendars.get_calendar(self.exchange, start=CALENDAR_START)
                names = calendar.regular_holidays.holidays(
                    start=calendar.first_session, end=calendar.last_session, return_name=True
                )
                self._holiday_names = {stamp.date(): str(name) for stamp, name in names.items()}
                self._calendar = calendar
            return self._calendar

    def is_session(self, day: date) -> bool:
        calendar = self._load()
        stamp = pd.Timestamp(day)
        if not calendar.first_session <= stamp <= calendar.last_session:
            return day.weekday() < 5
        return bool(calendar.is_session(stamp))

    def previous_session(self, day: date) -> SessionDate:
        """`day` itself when the exchange was open, else the last session before it."""
        calendar = self._load()
        stamp = pd.Timestamp(day)
        if stamp < calendar.first_session:
            return SessionDate(day, day)
        if stamp > calendar.last_session:
            session = day
            while session.weekday() >= 5:
                session -= timedelta(days=1)
        else:
            session = calendar.date_to_session(stamp, direction="previous").date()
        if session == day:
            return SessionDate(day, day)
        return SessionDate(day, session, f"{day} {self._why_closed(day)}; used {session} instead")

    def _why_closed(self, day: date) -> str:
        if day.weekday() >= 5:
            return f"is a {day:%A} (market closed)"
        name = self._holiday_names.get(day)
        if name:
            return f"is a market holiday ({name})"
        return "was not a trading session (market closed)"
