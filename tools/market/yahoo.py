"""Yahoo Finance through `yfinance`: the live source. Fails fast (short timeout, no retries) so an
offline machine falls back to the snapshot within a moment.

The network edge is `yfinance.Ticker`; everything after it (parsing, the error mapping) is ours.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from tools.market.provider import (
    PRICE_COLUMNS,
    CompanyInfo,
    Fundamentals,
    NoDataError,
    PriceSeries,
    ProviderUnavailable,
    SourceInfo,
)

T = TypeVar("T")
YAHOO_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
INCOME_ITEMS = {
    "Total Revenue": "total_revenue",
    "Gross Profit": "gross_profit",
    "Operating Income": "operating_income",
    "Net Income": "net_income",
    "EBITDA": "ebitda",
    "Diluted EPS": "diluted_eps",
    "Diluted Average Shares": "diluted_shares",
}
BALANCE_ITEMS = {
    "Total Assets": "total_assets",
    "Total Liabilities Net Minority Interest": "total_liabilities",
    "Stockholders Equity": "stockholders_equity",
    "Cash And Cash Equivalents": "cash_and_equivalents",
    "Total Debt": "total_debt",
}
LIVE_SOURCE = SourceInfo(
    provider="yfinance",
    label="Yahoo Finance via yfinance (live)",
    price_basis="close split-adjusted; returns use adj_close (split- and dividend-adjusted)",
    is_dividend_adjusted=True,
)


def yahoo_symbol(ticker: str) -> str:
    return ticker.upper().replace(".", "-")  # BRK.B -> BRK-B


class YFinanceProvider:
    name = "yfinance"

    def __init__(self, timeout_s: float = 5.0, cache_dir: Path | None = None) -> None:
        self.timeout_s = timeout_s
        self.cache_dir = cache_dir
        self._configured = False

    def _ticker(self, ticker: str) -> Any:
        import yfinance

        if not self._configured:
            logging.getLogger("yfinance").setLevel(logging.CRITICAL)  # we report failures ourselves
            yfinance.config.network.retries = 0
            if self.cache_dir is not None:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                yfinance.set_tz_cache_location(str(self.cache_dir))
            self._configured = True
        return yfinance.Ticker(yahoo_symbol(ticker))

    def _call(self, what: str, func: Callable[[], T]) -> T:
        """Run one network call with a hard deadline and map its failures to ours."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = func()
            except BaseException as exc:
                box["error"] = exc

        worker = threading.Thread(target=target, name="yfinance", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            raise ProviderUnavailable(
                f"Yahoo Finance did not answer {what} in {self.timeout_s:g} s"
            )
        if "error" in box:
            raise _map_error(what, box["error"])
        return box["value"]

    def history(self, ticker: str, start: date, end: date) -> PriceSeries:
        # Ten extra days before `start` so the base close exists when `start` is a holiday;
        # Yahoo's `end` is exclusive.
        def fetch() -> pd.DataFrame:
            return self._ticker(ticker).history(
                start=(start - timedelta(days=10)).isoformat(),
                end=(end + timedelta(days=1)).isoformat(),
                interval="1d",
                auto_adjust=False,
                actions=False,
                timeout=self.timeout_s,
                raise_errors=True,
            )

        frame = self._call(f"prices for {ticker}", fetch)
        return PriceSeries(
            ticker=ticker.upper(), bars=parse_history(ticker, frame), source=LIVE_SOURCE
        )

    def profile(self, ticker: str) -> CompanyInfo:
        info = self._call(f"the profile of {ticker}", lambda: self._ticker(ticker).get_info())
        name = (info or {}).get("longName") or (info or {}).get("shortName")
        if not name:
            raise NoDataError(f"Yahoo Finance has no profile for {ticker}; check the ticker")
        extra_keys = (
            "country",
            "currency",
            "exchange",
            "marketCap",
            "fullTimeEmployees",
            "website",
        )
        return CompanyInfo(
            ticker=ticker.upper(),
            name=name,
            sector=info.get("sector"),
            industry=info.get("industry"),
            extra={key: info[key] for key in extra_keys if info.get(key) is not None},
            source=LIVE_SOURCE.label,
        )

    def fundamentals(self, ticker: str) -> Fundamentals:
        def fetch() -> tuple[pd.DataFrame, pd.DataFrame]:
            handle = self._ticker(ticker)
            return handle.get_income_stmt(freq="yearly"), handle.get_balance_sheet(freq="yearly")

        income, balance = self._call(f"the statements of {ticker}", fetch)
        rows = merge_statements(income, balance)
        if not rows:
            raise NoDataError(f"Yahoo Finance has no annual statements for {ticker}")
        return Fundamentals(
            ticker=ticker.upper(),
            rows=rows,
            currency="as reported by Yahoo (usually USD)",
            source=LIVE_SOURCE.label,
            statements=("income statement", "balance sheet"),
        )


def parse_history(ticker: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    """yfinance's frame (tz-aware index 'Date', capitalised columns) to ours."""
    if frame is None or frame.empty:
        raise NoDataError(f"Yahoo Finance has no prices for {ticker} in that period")
    frame = frame.rename(columns=YAHOO_COLUMNS).reindex(columns=PRICE_COLUMNS).astype(float)
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    frame.index = index.normalize().rename("date")
    frame = frame.dropna(subset=["close"]).sort_index()
    return frame[~frame.index.duplicated(keep="last")]


def merge_statements(income: pd.DataFrame, balance: pd.DataFrame) -> list[dict[str, Any]]:
    """Statement frames (items x fiscal-year columns) to one dict per fiscal year, newest first."""
    years: dict[str, dict[str, Any]] = {}
    for frame, items in ((income, INCOME_ITEMS), (balance, BALANCE_ITEMS)):
        if frame is None or frame.empty:
            continue
        for column in frame.columns:
            year = pd.Timestamp(column).date().isoformat()
            row = years.setdefault(year, {"fiscal_year_end": year})
            for label, name in items.items():
                value = frame.at[label, column] if label in frame.index else None
                row[name] = None if value is None or pd.isna(value) else float(value)
    return [years[key] for key in sorted(years, reverse=True)]


def _map_error(what: str, exc: BaseException) -> Exception:
    name = type(exc).__name__
    if "RateLimit" in name:
        return ProviderUnavailable(f"Yahoo Finance rate-limited the request for {what}")
    if name in {"YFPricesMissingError", "YFTzMissingError", "YFTickerMissingError"}:
        return NoDataError(f"Yahoo Finance has no {what}; check the ticker and the dates")
    if isinstance(exc, (NoDataError, ProviderUnavailable)):
        return exc
    return ProviderUnavailable(f"Yahoo Finance unreachable ({name})")
