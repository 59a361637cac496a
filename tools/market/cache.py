"""Every live market-data response, stored in the database (table `market_cache`).

A repeated question is answered from here without a request; a stale entry is still used when the
live source fails and the snapshot does not have the ticker. A broken cache never fails a tool: it
logs and the call goes on without it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from core.db.market_models import MarketCacheEntry
from core.db.session import Database
from tools.market.provider import PRICE_COLUMNS, PriceSeries, SourceInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedResponse:
    payload: dict[str, Any]
    fetched_at: datetime

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.fetched_at).total_seconds()


class MarketCache:
    def __init__(self, database: Callable[[], Database]) -> None:
        self._database = database

    def get(self, provider: str, kind: str, ticker: str, key: str = "") -> CachedResponse | None:
        try:
            with self._database().session() as session:
                entry = session.scalar(_query(provider, kind, ticker, key))
                if entry is None:
                    return None
                fetched_at = entry.fetched_at
                if fetched_at.tzinfo is None:  # SQLite drops the zone; we always store UTC
                    fetched_at = fetched_at.replace(tzinfo=UTC)
                return CachedResponse(payload=entry.payload, fetched_at=fetched_at)
        except (SQLAlchemyError, OSError, RuntimeError) as exc:
            logger.warning("market cache read failed: %s", exc)
            return None

    def put(self, provider: str, kind: str, ticker: str, key: str, payload: dict[str, Any]) -> None:
        try:
            with self._database().session() as session:
                entry = session.scalar(_query(provider, kind, ticker, key))
                if entry is None:
                    entry = MarketCacheEntry(
                        provider=provider, kind=kind, ticker=ticker, request_key=key
                    )
                    session.add(entry)
                entry.payload = payload
                entry.fetched_at = datetime.now(UTC)
        except (SQLAlchemyError, OSError, RuntimeError) as exc:
            logger.warning("market cache write failed: %s", exc)


def _query(provider: str, kind: str, ticker: str, key: str) -> Any:
    return select(MarketCacheEntry).where(
        MarketCacheEntry.provider == provider,
        MarketCacheEntry.kind == kind,
        MarketCacheEntry.ticker == ticker,
        MarketCacheEntry.request_key == key,
    )


def series_to_payload(series: PriceSeries) -> dict[str, Any]:
    rows = [
        [stamp.date().isoformat(), *(None if _missing(v) else float(v) for v in values)]
        for stamp, values in zip(
            series.bars.index, series.bars[PRICE_COLUMNS].to_numpy(), strict=True
        )
    ]
    source = series.source
    return {
        "columns": ["date", *PRICE_COLUMNS],
        "rows": rows,
        "label": source.label,
        "price_basis": source.price_basis,
        "is_dividend_adjusted": source.is_dividend_adjusted,
    }


def payload_to_series(
    ticker: str, provider: str, cached: CachedResponse, is_cached: bool = True
) -> PriceSeries:
    payload = cached.payload
    frame = pd.DataFrame(payload["rows"], columns=payload["columns"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.set_index("date").reindex(columns=PRICE_COLUMNS).astype(float)
    source = SourceInfo(
        provider=provider,
        label=payload["label"],
        price_basis=payload["price_basis"],
        is_dividend_adjusted=payload["is_dividend_adjusted"],
        fetched_at=cached.fetched_at,
        is_cached=is_cached,
    )
    return PriceSeries(ticker=ticker, bars=frame, source=source)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
