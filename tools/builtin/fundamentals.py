"""Annual fundamentals: income-statement items (and balance-sheet items when live), with margins."""

from __future__ import annotations

from datetime import date

from langchain_core.tools import BaseTool
from pydantic import Field

from tools.builtin.args import Ticker, ToolArgs
from tools.result import ToolResult, fmt_pct
from tools.tool import ToolContext, define_tool

PER_SHARE = {"diluted_eps"}


class FundamentalsArgs(ToolArgs):
    ticker: Ticker
    years: int = Field(default=4, ge=1, le=10, description="How many recent fiscal years.")


class FundamentalsResult(ToolResult):
    ticker: str
    currency: str
    statements: list[str]

    def summary(self) -> str:
        lines = [
            f"{self.ticker} annual {', '.join(self.statements)} (amounts in {self.currency}; "
            "B = billions, M = millions)"
        ]
        for row in self.table or []:
            items = [
                f"{key} {_amount(key, value)}"
                for key, value in row.items()
                if key != "fiscal_year_end"
            ]
            lines.append(f"FY ending {row['fiscal_year_end']}: " + ", ".join(items))
        return "\n".join(lines)


def _amount(key: str, value: object) -> str:
    if value is None:
        return "n/a"
    number = float(value)  # type: ignore[arg-type]
    if key.endswith("_margin"):
        return fmt_pct(number, 1)
    if key in PER_SHARE or abs(number) < 1e5:
        return f"{number:,.2f}"
    if abs(number) >= 1e9:
        return f"{number / 1e9:,.2f}B"
    return f"{number / 1e6:,.2f}M"


def _with_margins(row: dict[str, object]) -> dict[str, object]:
    revenue = row.get("total_revenue")
    out = dict(row)
    for name in ("gross_profit", "operating_income", "net_income"):
        value = row.get(name)
        margin_name = name.replace("_profit", "").replace("_income", "") + "_margin"
        is_usable = isinstance(revenue, float) and revenue > 0 and isinstance(value, float)
        out[margin_name] = value / revenue if is_usable else None  # type: ignore[operator]
    return out


def get_fundamentals(args: FundamentalsArgs, context: ToolContext) -> FundamentalsResult:
    """Annual financial statement items of a company for recent fiscal years: revenue, gross
    profit, operating income, net income, EBITDA, diluted EPS and shares, with margins (plus
    balance-sheet items when live data is available)."""
    data = context.market.fundamentals(args.ticker)
    rows = [_with_margins(row) for row in data.rows[: args.years]]
    newest = date.fromisoformat(str(rows[0]["fiscal_year_end"])) if rows else None
    return FundamentalsResult(
        ticker=data.ticker,
        currency=data.currency,
        statements=list(data.statements),
        source=data.source,
        as_of=newest,
        table=rows,
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(get_fundamentals, context)]
