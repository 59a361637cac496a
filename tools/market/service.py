"""MarketData: the one door tools use for prices, profiles and fundamentals.

Order of sources: a fresh cached live answer, then Yahoo Finance (cached on success), then the
offline snapshot; a stale cached answer is the last resort. The answer's `SourceInfo` and notes
say which one answered and why the others did not.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from core.db.session import Database
from core.settings import Settings
from tools.market.cache import CachedResponse, MarketCache, payload_to_series, series_to_payload
from tools.market.calendar import TradingCalendar
from tools.market.period import PricePeriod, select_period
from tools.market.provider import (
    CompanyInfo,
    Fundamentals,
    MarketDataProvider,
    NoDataError,
    PriceSeries,
    ProviderUnavailable,
)
from tools.market.snapshot import SnapshotProvider

T = TypeVar("T")
LIVE_RETRY_S = 60.0  # after a network failure, do not ask Yahoo again for this long
FINAL_AFTER_DAYS = 5  # bars older than this never change, so their cache entry never expires
STATIC_TTL_S = 7 * 24 * 3600.0  # profiles and annual statements


class MarketData:
    def __init__(
        self,
        *,
        live: MarketDataProvider | None,
        snapshot: SnapshotProvider | None,
        cache: MarketCache | None,
        calendar: TradingCalendar | None = None,
        cache_ttl_s: float = 3600.0,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.live = live
        self.snapshot = snapshot
        self.cache = cache
        self.calendar = calendar or TradingCalendar()
        self.cache_ttl_s = cache_ttl_s
        self.today = today
        self._live_down_until = 0.0
        self._live_down_reason = ""
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, database: Callable[[], Database]) -> MarketData:
        live = None
        if settings.market_live:
            from tools.market.yahoo import YFinanceProvider

            live = YFinanceProvider(
                timeout_s=settings.market_live_timeout_s, cache_dir=settings.cache_dir / "yfinance"
            )
        snapshot = SnapshotProvider(settings.market_snapshot) if settings.market_snapshot else None
        return cls(
            live=live,
            snapshot=snapshot,
            cache=MarketCache(database),
            cache_ttl_s=settings.market_cache_ttl_s,
        )

    # -- public API ------------------------------------------------------------------------
    def history(self, ticker: str, start: date, end: date) -> PriceSeries:
        """Bars covering [start, end] as far as the answering source has them."""
        is_final = end < self.today() - timedelta(days=FINAL_AFTER_DAYS)
        return self._ask(
            kind="history",
            ticker=ticker,
            key=f"{start}..{end}",
            ttl_s=float("inf") if is_final else self.cache_ttl_s,
            ask=lambda provider: provider.history(ticker, start, end),
            to_payload=series_to_payload,
            from_payload=lambda cached, is_cached: payload_to_series(
                ticker.upper(), "yfinance", cached, is_cached
            ),
        )

    def period(self, ticker: str, start: date, end: date) -> PricePeriod:
        """The bars from the session on/before `start` to the session on/before `end`."""
        start_session = self.calendar.previous_session(start)
        end_session = self.calendar.previous_session(end)
        series = self.history(ticker, start_session.session, end_session.session)
        return select_period(series, start_session, end_session)

    def latest(self, ticker: str, on: date | None = None) -> PricePeriod:
        """The last year of bars up to `on` (default today); its last bar is the quote."""
        on = on or self.today()
        return self.period(ticker, on - timedelta(days=366), on)

    def profile(self, ticker: str) -> CompanyInfo:
        return self._ask(
            kind="profile",
            ticker=ticker,
            key="",
            ttl_s=STATIC_TTL_S,
            ask=lambda provider: provider.profile(ticker),
            to_payload=dataclasses.asdict,
            from_payload=lambda cached, _: CompanyInfo(**cached.payload),
        )

    def fundamentals(self, ticker: str) -> Fundamentals:
        def restore(cached: CachedResponse, _: bool) -> Fundamentals:
            payload = dict(cached.payload)
            payload["statements"] = tuple(payload["statements"])
            return Fundamentals(**payload)

        return self._ask(
            kind="fundamentals",
            ticker=ticker,
            key="annual",
            ttl_s=STATIC_TTL_S,
            ask=lambda provider: provider.fundamentals(ticker),
            to_payload=dataclasses.asdict,
            from_payload=restore,
        )

    # -- the source chain ------------------------------------------------------------------
    def _ask(
        self,
        *,
        kind: str,
        ticker: str,
        key: str,
        ttl_s: float,
        ask: Callable[[Any], T],
        to_payload: Callable[[T], dict[str, Any]],
        from_payload: Callable[[CachedResponse, bool], T],
    ) -> T:
        ticker = ticker.upper()
        cached = None
        live_failure = None
        if self.live is not None:
            cached = self.cache.get(self.live.name, kind, ticker, key) if self.cache else None
            if cached is not None and cached.age_s() <= ttl_s:
                return from_payload(cached, True)
            try:
                value = self._ask_live(ask)
            except (NoDataError, ProviderUnavailable) as exc:
                live_failure = str(exc)
            else:
                if self.cache is not None:
                    self.cache.put(self.live.name, kind, ticker, key, to_payload(value))
                return value
        if self.snapshot is not None:
            try:
                value = ask(self.snapshot)
            except NoDataError as exc:
                snapshot_failure = str(exc)
            else:
                return _with_note(value, live_failure)
        else:
            snapshot_failure = "no offline snapshot is configured (set HUIJIN_MARKET_SNAPSHOT)"
        if cached is not None:
            return _with_note(from_payload(cached, True), f"stale cache used; {live_failure}")
        reasons = "; ".join(r for r in (live_failure, snapshot_failure) if r)
        raise NoDataError(f"no {kind} data for {ticker}: {reasons}")

    def _ask_live(self, ask: Callable[[Any], T]) -> T:
        with self._lock:
            if time.monotonic() < self._live_down_until:
                raise ProviderUnavailable(self._live_down_reason)
        try:
            return ask(self.live)
        except ProviderUnavailable as exc:
            with self._lock:
                self._live_down_until = time.monotonic() + LIVE_RETRY_S
                self._live_down_reason = str(exc)
            raise


def _with_note(value: T, live_failure: str | None) -> T:
    """Attach 'why not live' to a price series; profiles and statements carry it in `source`."""
    if not live_failure:
        return value
    note = f"live data unavailable ({live_failure}); answered from the offline snapshot"
    if isinstance(value, PriceSeries):
        return dataclasses.replace(value, notes=(*value.notes, note))
    if isinstance(value, CompanyInfo | Fundamentals):
        return dataclasses.replace(value, source=f"{value.source}; {note}")
    return value
