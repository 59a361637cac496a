"""Company profile: name, sector, industry (and, live, country, currency, market cap)."""

from __future__ import annotations

from langchain_core.tools import BaseTool

from tools.builtin.args import Ticker, ToolArgs
from tools.result import ToolResult
from tools.tool import ToolContext, define_tool


class CompanyArgs(ToolArgs):
    ticker: Ticker


class CompanyProfile(ToolResult):
    ticker: str
    name: str
    sector: str | None
    industry: str | None
    details: dict[str, object]

    def summary(self) -> str:
        text = (
            f"{self.ticker}: {self.name}; sector {self.sector or 'n/a'}; "
            f"industry {self.industry or 'n/a'}"
        )
        if self.details:
            text += "; " + ", ".join(f"{key} {value}" for key, value in self.details.items())
        return text


def get_company_profile(args: CompanyArgs, context: ToolContext) -> CompanyProfile:
    """Who a ticker is: company name, sector and industry (GICS offline), plus more details when
    live data is available."""
    info = context.market.profile(args.ticker)
    return CompanyProfile(
        ticker=info.ticker,
        name=info.name,
        sector=info.sector,
        industry=info.industry,
        details=dict(info.extra),
        source=info.source,
        as_of=context.today(),
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(get_company_profile, context)]
