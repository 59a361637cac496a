"""The offline snapshot: a directory of daily-price CSVs, `companies.csv`, `fundamentals_annual.csv`
and `manifest.csv` (where each file came from and how its prices are adjusted).

Files are read lazily, one ticker at a time, on first use, and kept in memory after that.
"""

from __future__ import annotations

import csv
import threading
from datetime import date
from functools import cached_property
from pathlib import Path

import pandas as pd

from tools.market.provider import (
    PRICE_COLUMNS,
    CompanyInfo,
    Fundamentals,
    NoDataError,
    PriceSeries,
    SourceInfo,
)

FUNDAMENTAL_FIELDS = (
    "total_revenue",
    "gross_profit",
    "operating_income",
    "net_income",
    "ebitda",
    "diluted_eps",
    "diluted_shares",
)
# yfinance reports these in their home currency, not USD (see the snapshot's SOURCE.md).
REPORTING_CURRENCY = {"TSM": "TWD"}


def file_stem(ticker: str) -> str:
    """Snapshot files use the class dot (BRK.B); Yahoo uses a dash (BRK-B). Accept both."""
    return ticker.upper().replace("-", ".")


class SnapshotProvider:
    name = "snapshot"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._bars: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    @cached_property
    def manifest(self) -> dict[str, dict[str, str]]:
        return {row["ticker"]: row for row in self._read_csv("manifest.csv")}

    @cached_property
    def companies(self) -> dict[str, dict[str, str]]:
        return {row["ticker"]: row for row in self._read_csv("companies.csv")}

    def _read_csv(self, name: str) -> list[dict[str, str]]:
        path = self.directory / name
        if not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def last_day(self) -> date | None:
        """The newest day any file of the snapshot reaches (from the manifest)."""
        ends = [row.get("end", "") for row in self.manifest.values()]
        ends = [end for end in ends if end]
        return date.fromisoformat(max(ends)) if ends else None

    def tickers(self) -> list[str]:
        return sorted(path.stem for path in self.directory.glob("*.csv") if path.stem.isupper())

    def _unknown(self, ticker: str, what: str) -> NoDataError:
        known = self.tickers()
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        return NoDataError(
            f"{ticker} has no {what} in the offline snapshot ({len(known)} tickers: "
            f"{listed or 'none'}); check the ticker"
        )

    def source_info(self, ticker: str) -> SourceInfo:
        row = self.manifest.get(file_stem(ticker), {})
        repo = row.get("source_repo", "unknown origin")
        basis = row.get("price_basis", "adjustment unknown")
        is_dividend_adjusted = "dividend-adjusted" in basis and "NOT dividend" not in basis
        short_basis = (
            "split- and dividend-adjusted (returns are total returns)"
            if is_dividend_adjusted
            else "split-adjusted, not dividend-adjusted (returns exclude dividends)"
        )
        if "NOT" not in basis and "AND" not in basis:
            short_basis = basis
        return SourceInfo(
            provider=self.name,
            label=f"offline snapshot {repo} (data to {row.get('end', '?')})",
            price_basis=short_basis,
            is_dividend_adjusted=is_dividend_adjusted,
        )

    def _load_bars(self, ticker: str) -> pd.DataFrame:
        stem = file_stem(ticker)
        with self._lock:
            if stem in self._bars:
                return self._bars[stem]
        path = self.directory / f"{stem}.csv"
        if not path.is_file():
            raise self._unknown(ticker, "price file")
        frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
        frame = frame.reindex(columns=PRICE_COLUMNS).astype(float).sort_index()
        frame = frame[~frame.index.duplicated(keep="last")].dropna(subset=["close"])
        with self._lock:
            self._bars[stem] = frame
        return frame

    def history(self, ticker: str, start: date, end: date) -> PriceSeries:
        """The whole file: the service selects the period (and knows what is missing)."""
        return PriceSeries(
            ticker=ticker.upper(), bars=self._load_bars(ticker), source=self.source_info(ticker)
        )

    def profile(self, ticker: str) -> CompanyInfo:
        row = self.companies.get(file_stem(ticker))
        if row is None:
            raise self._unknown(ticker, "company profile")
        origin = row.get("source", "")
        extra: dict[str, str] = {}
        manifest = self.manifest.get(file_stem(ticker))
        if manifest:
            extra = {"price_history": f"{manifest['start']} to {manifest['end']}"}
        return CompanyInfo(
            ticker=row["ticker"],
            name=row["name"],
            sector=row.get("sector") or None,
            industry=row.get("industry") or None,
            extra=extra,
            source=f"offline snapshot companies.csv ({origin})",
        )

    def fundamentals(self, ticker: str) -> Fundamentals:
        stem = file_stem(ticker)
        rows = [row for row in self._read_csv("fundamentals_annual.csv") if row["ticker"] == stem]
        if not rows:
            raise self._unknown(ticker, "fundamentals")
        parsed = []
        for row in sorted(rows, key=lambda r: r["fiscal_year_end"], reverse=True):
            item: dict[str, object] = {"fiscal_year_end": row["fiscal_year_end"]}
            for name in FUNDAMENTAL_FIELDS:
                text = row.get(name, "")
                item[name] = float(text) if text not in ("", None) else None
            parsed.append(item)
        return Fundamentals(
            ticker=stem,
            rows=parsed,
            currency=REPORTING_CURRENCY.get(stem, "USD"),
            source="offline snapshot fundamentals_annual.csv (heliar-k/market-base, from yfinance)",
            statements=("income statement",),
        )
