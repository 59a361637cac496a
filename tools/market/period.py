"""Cut a price series to a period, saying what was missing: weekends and holidays (resolved by the
calendar), days without a bar, and ends beyond the data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import pandas as pd

from tools.market.calendar import SessionDate
from tools.market.provider import NoDataError, PriceSeries

GAP_NOTE_DAYS = 5  # a shorter shortfall at the end is a missing bar, a longer one the data's end


@dataclass(frozen=True)
class PricePeriod:
    """Bars from the base session (the close returns start from) to the end session."""

    series: PriceSeries  # restricted to the period, at least one bar
    start: SessionDate
    end: SessionDate
    notes: tuple[str, ...]

    @property
    def ticker(self) -> str:
        return self.series.ticker

    @property
    def first_date(self) -> date:
        return self.series.first_date

    @property
    def last_date(self) -> date:
        return self.series.last_date

    @property
    def source(self) -> str:
        return self.series.source.describe()


def select_period(series: PriceSeries, start: SessionDate, end: SessionDate) -> PricePeriod:
    bars = series.bars
    ticker = series.ticker
    if bars.empty:
        raise NoDataError(f"no prices for {ticker}")
    first, last = bars.index[0].date(), bars.index[-1].date()
    upto_end = bars[bars.index <= pd.Timestamp(end.session)]
    if upto_end.empty:
        raise NoDataError(
            f"no {ticker} prices on or before {end.session}; its data covers {first} to {last}"
        )
    notes = [note for note in (start.note, end.note) if note]
    at_or_before_start = upto_end[upto_end.index <= pd.Timestamp(start.session)]
    if at_or_before_start.empty:
        base = upto_end.index[0]
        notes.append(f"{ticker} data starts on {first}; the period starts there")
    else:
        base = at_or_before_start.index[-1]
        if base.date() != start.session:
            notes.append(f"no {ticker} bar on {start.session}; used the previous bar {base.date()}")
    end_bar = upto_end.index[-1].date()
    if end_bar != end.session:
        if (end.session - end_bar).days > GAP_NOTE_DAYS:
            notes.append(f"{ticker} data ends on {end_bar} (after that nothing is known)")
        else:
            notes.append(f"no {ticker} bar on {end.session}; used the previous bar {end_bar}")
    window = upto_end[upto_end.index >= base]
    restricted = dataclasses.replace(series, bars=window)
    return PricePeriod(series=restricted, start=start, end=end, notes=tuple(notes) + series.notes)


def common_window(periods: list[PricePeriod]) -> tuple[list[pd.Series], list[str]]:
    """Return prices of several periods cut to the dates all of them cover, with a note when
    that shortens any of them (sources end on different days)."""
    start = max(period.first_date for period in periods)
    end = min(period.last_date for period in periods)
    if start > end:
        names = ", ".join(f"{p.ticker} {p.first_date}..{p.last_date}" for p in periods)
        raise NoDataError(f"the tickers' data do not overlap ({names}); pick another period")
    notes = []
    for period in periods:
        if period.first_date != start or period.last_date != end:
            notes.append(
                f"{period.ticker} cut to the common window {start}..{end} "
                f"(its own data: {period.first_date}..{period.last_date})"
            )
    window = slice(pd.Timestamp(start), pd.Timestamp(end))
    return [period.series.return_prices.loc[window] for period in periods], notes


def basis_note(periods: list[PricePeriod]) -> str | None:
    """Say so when some returns include dividends and others do not."""
    with_div = [p.ticker for p in periods if p.series.source.is_dividend_adjusted]
    without = [p.ticker for p in periods if not p.series.source.is_dividend_adjusted]
    if with_div and without:
        return (
            f"returns of {', '.join(with_div)} include dividends but those of {', '.join(without)} "
            "do not (different price sources); the comparison is not like for like"
        )
    return None


def combined_notes(periods: list[PricePeriod], extra: list[str]) -> list[str]:
    """The periods' own notes (each once, in order) followed by `extra`."""
    return [*dict.fromkeys(note for period in periods for note in period.notes), *extra]


def combined_source(periods: list[PricePeriod]) -> str:
    """Every distinct data source of the periods, in order, as one line."""
    return " | ".join(dict.fromkeys(period.source for period in periods))
