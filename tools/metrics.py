"""Return and risk arithmetic on daily price series (pure functions; the tools only call these).

Conventions: simple daily returns; 252 trading days a year; annualised return is geometric over
calendar days (365.25 a year); sample (ddof=1) standard deviations; the risk-free rate is an
annual rate turned into a daily one geometrically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

TRADING_DAYS = 252
DAYS_PER_YEAR = 365.25


def total_return(prices: pd.Series) -> float:
    return float(prices.iloc[-1] / prices.iloc[0] - 1.0)


def annualized_return(total: float, first: date, last: date) -> float | None:
    """Geometric annual rate; None for a period shorter than a day or a total loss."""
    days = (last - first).days
    if days < 1 or total <= -1.0:
        return None
    return float((1.0 + total) ** (DAYS_PER_YEAR / days) - 1.0)


def daily_returns(prices: pd.Series) -> pd.Series:
    return prices.pct_change().dropna()


def annualized_volatility(returns: pd.Series) -> float | None:
    if len(returns) < 2:
        return None
    return float(returns.std(ddof=1) * math.sqrt(TRADING_DAYS))


def daily_risk_free(annual_rate: float) -> float:
    return (1.0 + annual_rate) ** (1.0 / TRADING_DAYS) - 1.0


def sharpe_ratio(returns: pd.Series, risk_free_rate: float = 0.0) -> float | None:
    """Annualised mean excess daily return over its annualised standard deviation."""
    if len(returns) < 2:
        return None
    excess = returns - daily_risk_free(risk_free_rate)
    std = excess.std(ddof=1)
    if not std > 1e-12:
        return None
    return float(excess.mean() / std * math.sqrt(TRADING_DAYS))


def sortino_ratio(returns: pd.Series, risk_free_rate: float = 0.0) -> float | None:
    """Like Sharpe, but divides by the downside deviation sqrt(mean(min(excess, 0)^2))."""
    if len(returns) < 2:
        return None
    excess = returns - daily_risk_free(risk_free_rate)
    downside = math.sqrt(float(np.mean(np.minimum(excess.to_numpy(), 0.0) ** 2)))
    if not downside > 1e-12:
        return None
    return float(excess.mean() / downside * math.sqrt(TRADING_DAYS))


def beta(returns: pd.Series, benchmark: pd.Series) -> float | None:
    """cov(r, b) / var(b) over the days both have a return."""
    joined = pd.concat([returns, benchmark], axis=1, join="inner").dropna()
    if len(joined) < 2:
        return None
    variance = joined.iloc[:, 1].var(ddof=1)
    if not variance > 1e-18:
        return None
    return float(joined.iloc[:, 0].cov(joined.iloc[:, 1], ddof=1) / variance)


def correlation(returns: pd.Series, other: pd.Series) -> float | None:
    joined = pd.concat([returns, other], axis=1, join="inner").dropna()
    if len(joined) < 2 or joined.std(ddof=1).min() <= 1e-12:
        return None
    return float(joined.iloc[:, 0].corr(joined.iloc[:, 1]))


@dataclass(frozen=True)
class Drawdown:
    depth: float  # e.g. -0.25 for a 25 % fall; 0.0 when prices never fell below a peak
    peak_date: date | None
    trough_date: date | None
    recovery_date: date | None  # first date back at the peak; None if not recovered


def max_drawdown(prices: pd.Series) -> Drawdown:
    """Largest fall from a running peak, with the peak, the trough and the recovery dates."""
    running_peak = prices.cummax()
    drawdowns = prices / running_peak - 1.0
    depth = float(drawdowns.min())
    if depth >= 0.0:
        return Drawdown(0.0, None, None, None)
    trough = drawdowns.idxmin()
    peak = prices.loc[:trough].idxmax()
    after = prices.loc[trough:]
    recovered = after[after >= prices.loc[peak]]
    recovery = recovered.index[0].date() if len(recovered) else None
    return Drawdown(depth, peak.date(), trough.date(), recovery)
