"""The market-data provider contract and the data it returns.

A provider answers three questions about a ticker: its daily bars, its profile, its annual
fundamentals. It raises `NoDataError` when it does not know the ticker and `ProviderUnavailable`
when it cannot be asked (network down, timeout, rate limit); `MarketData` picks the next source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

from tools.tool import ToolError

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]


class MarketDataError(ToolError):
    """Base of market-data failures; the message is shown to the model."""


class NoDataError(MarketDataError):
    """The source does not have this ticker (or nothing in the asked range)."""


class ProviderUnavailable(MarketDataError):
    """The source cannot be reached right now (network, timeout, rate limit)."""


@dataclass(frozen=True)
class SourceInfo:
    """Where bars came from and how their prices are adjusted; shown in every answer."""

    provider: str  # "yfinance" or "snapshot"
    label: str  # human readable, e.g. "offline snapshot (heliar-k/market-base, IBKR daily bars)"
    price_basis: str  # e.g. "split-adjusted, not dividend-adjusted"
    is_dividend_adjusted: bool  # whether `return_prices` include dividends (total return)
    fetched_at: datetime | None = None
    is_cached: bool = False

    def describe(self) -> str:
        text = f"{self.label}; prices {self.price_basis}"
        if self.is_cached and self.fetched_at is not None:
            text += f"; cached, fetched {self.fetched_at:%Y-%m-%d %H:%M} UTC"
        return text


@dataclass(frozen=True)
class PriceSeries:
    """Daily bars of one ticker, oldest first; index is a DatetimeIndex named 'date'."""

    ticker: str
    bars: pd.DataFrame  # columns PRICE_COLUMNS; adj_close may be NaN
    source: SourceInfo
    notes: tuple[str, ...] = ()

    @property
    def return_prices(self) -> pd.Series:
        """Prices to compute returns from: adjusted close where there is one, else close."""
        return self.bars["adj_close"].fillna(self.bars["close"])

    @property
    def first_date(self) -> date:
        return self.bars.index[0].date()

    @property
    def last_date(self) -> date:
        return self.bars.index[-1].date()


@dataclass(frozen=True)
class CompanyInfo:
    ticker: str
    name: str
    sector: str | None = None
    industry: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # country, currency, market cap, ...
    source: str = ""


@dataclass(frozen=True)
class Fundamentals:
    """Annual statement items, one dict per fiscal year (newest first), amounts as reported."""

    ticker: str
    rows: list[dict[str, Any]]
    currency: str
    source: str
    statements: tuple[
        str, ...
    ]  # e.g. ("income statement",) or ("income statement", "balance sheet")


class MarketDataProvider(Protocol):
    name: str

    def history(self, ticker: str, start: date, end: date) -> PriceSeries:
        """Bars covering at least [start, end] where the source has them (extra rows are fine)."""
        ...

    def profile(self, ticker: str) -> CompanyInfo: ...

    def fundamentals(self, ticker: str) -> Fundamentals: ...


def empty_bars() -> pd.DataFrame:
    frame = pd.DataFrame(columns=PRICE_COLUMNS, dtype=float)
    frame.index = pd.DatetimeIndex([], name="date")
    return frame
