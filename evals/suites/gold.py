"""Gold answers of the tool-use suite, computed straight from the snapshot's CSV files.

Independent of tools/: this module reads the CSVs with pandas and does the arithmetic with
numpy/scipy itself. It follows the same definitions the tools document, so an agent that calls
the tools correctly gets these numbers:
- a period's base price is the close of the last bar on or before the start day, its end price
  the close of the last bar on or before the end day; the snapshot's dividend-free tickers have no
  adjusted close, so returns are price returns on `close`;
- total return = end / base - 1; daily returns are simple (pct_change) within [base, end];
- max drawdown = min over the period of close / running max - 1 (a negative decimal);
- beta = cov(r, r_SPY) / var(r_SPY) over the days both have a return, sample (ddof=1) moments;
- annualised volatility = sample std of daily returns x sqrt(252);
- NPV discounts the first cash flow by nothing (t = 0), like numpy-financial, unlike a
  spreadsheet's NPV(); a loan payment is the level payment at the end of each period.
"""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq

TRADING_DAYS = 252


class Snapshot:
    """Daily closes per ticker from `<dir>/<TICKER>.csv`, read once each."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not (self.directory / "manifest.csv").is_file():
            raise FileNotFoundError(
                f"{self.directory} is not a market snapshot (no manifest.csv); set "
                "HUIJIN_MARKET_SNAPSHOT to the directory of daily-price CSVs"
            )
        self._closes: dict[str, pd.Series] = {}

    def manifest(self) -> list[dict[str, str]]:
        with (self.directory / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def as_traded_tickers(self) -> list[str]:
        """Tickers whose prices are not dividend-adjusted, so a 'close on a day' is the quote."""
        return sorted(
            row["ticker"] for row in self.manifest() if "NOT dividend" in row["price_basis"]
        )

    def closes(self, ticker: str) -> pd.Series:
        if ticker not in self._closes:
            frame = pd.read_csv(self.directory / f"{ticker}.csv", parse_dates=["date"])
            series = frame.set_index("date")["close"].astype(float).dropna().sort_index()
            self._closes[ticker] = series[~series.index.duplicated(keep="last")]
        return self._closes[ticker]

    def window(self, ticker: str, start: date, end: date) -> pd.Series:
        """Closes from the base bar (last on or before start) to the last bar on or before end."""
        closes = self.closes(ticker)
        upto = closes[closes.index <= pd.Timestamp(end)]
        before = upto[upto.index <= pd.Timestamp(start)]
        base = before.index[-1] if len(before) else upto.index[0]
        return upto[upto.index >= base]

    def close_on(self, ticker: str, day: date) -> float:
        closes = self.closes(ticker)
        return float(closes[closes.index <= pd.Timestamp(day)].iloc[-1])


def total_return(prices: pd.Series) -> float:
    return float(prices.iloc[-1] / prices.iloc[0] - 1.0)


def max_drawdown(prices: pd.Series) -> float:
    values = prices.to_numpy()
    return float(np.min(values / np.maximum.accumulate(values) - 1.0))


def beta(prices: pd.Series, benchmark: pd.Series) -> float:
    joined = pd.concat([prices.pct_change(), benchmark.pct_change()], axis=1, join="inner").dropna()
    own, bench = joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()
    return float(np.cov(own, bench, ddof=1)[0, 1] / np.var(bench, ddof=1))


def annualized_volatility(prices: pd.Series) -> float:
    returns = prices.pct_change().dropna().to_numpy()
    return float(np.std(returns, ddof=1) * math.sqrt(TRADING_DAYS))


def npv(rate: float, cashflows: list[float]) -> float:
    return float(sum(cf / (1.0 + rate) ** t for t, cf in enumerate(cashflows)))


def irr(cashflows: list[float]) -> float:
    """The rate in (-0.99, 10) where NPV is 0 (cash flows: one outflow, then inflows)."""
    return float(brentq(lambda rate: npv(rate, cashflows), -0.99, 10.0, xtol=1e-12))


def loan_payment(principal: float, annual_rate: float, years: int, per_year: int = 12) -> float:
    """Level payment per period (a positive amount) that repays `principal`."""
    rate, count = annual_rate / per_year, years * per_year
    if rate == 0:
        return principal / count
    return principal * rate / (1.0 - (1.0 + rate) ** -count)


def future_value(monthly_deposit: float, annual_rate: float, years: int) -> float:
    """Value after `years` of a deposit at the end of each month, compounded monthly."""
    rate, count = annual_rate / 12, years * 12
    return monthly_deposit * ((1.0 + rate) ** count - 1.0) / rate
