"""Price/performance chart: a plotly figure (as JSON) for the UI; the CLI renders it to PNG."""

from __future__ import annotations

from datetime import date

from langchain_core.tools import BaseTool
from pydantic import Field

from tools.builtin.args import DateRangeArgs, Ticker
from tools.builtin.prices import resolve_end
from tools.market.period import basis_note, combined_notes, combined_source, common_window
from tools.result import ToolResult, fmt_num
from tools.tool import ToolContext, define_tool


class ChartArgs(DateRangeArgs):
    tickers: list[Ticker] = Field(min_length=1, max_length=6, description="1 to 6 tickers.")
    normalize: bool = Field(
        default=True, description="Rebase every line to 100 at the start (performance chart)."
    )


class Chart(ToolResult):
    title: str
    start: date
    end: date
    final_values: dict[str, float]
    normalized: bool

    def summary(self) -> str:
        values = ", ".join(f"{t} {fmt_num(v)}" for t, v in self.final_values.items())
        basis = "rebased to 100 at the start" if self.normalized else "prices"
        return f"chart '{self.title}' ({basis}) drawn; values at {self.end}: {values}"


def price_chart(args: ChartArgs, context: ToolContext) -> Chart:
    """Draw a line chart of one or more tickers' prices between two dates (by default rebased to
    100 at the start, to compare performance). The chart is shown to the user; you get the end
    values."""
    tickers = list(dict.fromkeys(args.tickers))
    end = resolve_end(args, context)
    periods = [context.market.period(ticker, args.start, end) for ticker in tickers]
    prices, notes = common_window(periods)
    notes = combined_notes(periods, notes)
    note = basis_note(periods)
    if note:
        notes.append(note)
    traces = []
    final_values = {}
    for period, series in zip(periods, prices, strict=True):
        values = series / series.iloc[0] * 100.0 if args.normalize else series
        final_values[period.ticker] = round(float(values.iloc[-1]), 4)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": period.ticker,
                "x": [stamp.date().isoformat() for stamp in values.index],
                "y": [round(float(v), 4) for v in values],
            }
        )
    first, last = prices[0].index[0].date(), prices[0].index[-1].date()
    title = f"{', '.join(final_values)} {first} to {last}"
    y_title = "value (start = 100)" if args.normalize else "price"
    figure = {
        "data": traces,
        "layout": {
            "title": {"text": title},
            "xaxis": {"title": {"text": "date"}},
            "yaxis": {"title": {"text": y_title}},
            "template": "plotly_white",
        },
    }
    return Chart(
        title=title,
        start=first,
        end=last,
        final_values=final_values,
        normalized=args.normalize,
        source=combined_source(periods),
        as_of=last,
        notes=notes,
        figure=figure,
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(price_chart, context)]
