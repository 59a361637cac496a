"""The return/risk arithmetic against hand-computed values."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from tools import metrics

DAYS = pd.bdate_range("2024-01-01", periods=8)


def series(values) -> pd.Series:
    return pd.Series(values, index=DAYS[: len(values)], dtype=float)


def test_total_and_annualized_return():
    assert metrics.total_return(series([100, 90, 125])) == pytest.approx(0.25)
    start = date(2020, 1, 1)
    # 21 % over 730 days: (1.21) ** (365.25 / 730) - 1 = 10.0072 % (about 10 % a year)
    value = metrics.annualized_return(0.21, start, start + timedelta(days=730))
    assert value == pytest.approx(1.21 ** (365.25 / 730) - 1)
    assert value == pytest.approx(0.100072, abs=1e-6)
    assert metrics.annualized_return(0.1, start, start) is None  # no time passed
    assert metrics.annualized_return(-1.0, start, start + timedelta(days=10)) is None


def test_volatility_hand_computed():
    returns = pd.Series([0.01, -0.01, 0.02, -0.02])
    # mean 0; sample variance (1 + 1 + 4 + 4)e-4 / 3; times sqrt(252)
    expected = math.sqrt(0.001 / 3) * math.sqrt(252)
    assert metrics.annualized_volatility(returns) == pytest.approx(expected)
    assert expected == pytest.approx(0.28983, abs=1e-5)
    assert metrics.annualized_volatility(pd.Series([0.01])) is None


def test_sharpe_and_sortino_hand_computed():
    # mean 0.02, sample std 0.01 -> 2 * sqrt(252)
    assert metrics.sharpe_ratio(pd.Series([0.01, 0.02, 0.03])) == pytest.approx(2 * math.sqrt(252))
    # mean 0.005; downside deviation sqrt((0 + 1e-4 + 0 + 4e-4) / 4) = 0.0111803
    sortino = metrics.sortino_ratio(pd.Series([0.02, -0.01, 0.03, -0.02]))
    assert sortino == pytest.approx(0.005 / math.sqrt(1.25e-4) * math.sqrt(252))
    assert sortino == pytest.approx(7.0993, abs=1e-4)
    assert metrics.sortino_ratio(pd.Series([0.01, 0.02])) is None  # no downside at all
    assert metrics.sharpe_ratio(pd.Series([0.01, 0.01, 0.01])) is None  # zero deviation


def test_risk_free_rate_lowers_sharpe():
    returns = pd.Series([0.01, 0.0, 0.02, -0.005, 0.004])
    assert metrics.sharpe_ratio(returns, 0.05) < metrics.sharpe_ratio(returns, 0.0)
    assert metrics.daily_risk_free(0.05) == pytest.approx(1.05 ** (1 / 252) - 1)


def test_beta_and_correlation():
    own = pd.Series([0.1, -0.1, 0.2, -0.05], index=DAYS[:4])
    half = own / 2
    assert metrics.beta(own, half) == pytest.approx(2.0)
    assert metrics.correlation(own, half) == pytest.approx(1.0)
    assert metrics.correlation(own, -own) == pytest.approx(-1.0)
    assert metrics.beta(own, pd.Series(0.01, index=DAYS[:4])) is None  # flat benchmark


def test_max_drawdown_with_dates():
    prices = series([100, 110, 99, 121, 110])
    drawdown = metrics.max_drawdown(prices)
    assert drawdown.depth == pytest.approx(-0.10)
    assert drawdown.peak_date == DAYS[1].date()
    assert drawdown.trough_date == DAYS[2].date()
    assert drawdown.recovery_date == DAYS[3].date()
    unrecovered = metrics.max_drawdown(series([100, 80, 90]))
    assert unrecovered.depth == pytest.approx(-0.2) and unrecovered.recovery_date is None
    rising = metrics.max_drawdown(series([1, 2, 3]))
    assert rising.depth == 0.0 and rising.peak_date is None
