"""An example third-party tool package: it adds one tool through the `huijin.tools` entry point."""

from __future__ import annotations

from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from tools.result import ToolResult
from tools.tool import ToolContext, define_tool


class DividendYieldArgs(BaseModel):
    dividend: float = Field(ge=0, description="Annual dividend per share.")
    price: float = Field(gt=0, description="Share price.")


class DividendYield(ToolResult):
    value: float

    def summary(self) -> str:
        return f"dividend yield {self.value:.2%}"


def example_dividend_yield(args: DividendYieldArgs, context: ToolContext) -> DividendYield:
    """Dividend yield: annual dividend per share divided by the share price."""
    return DividendYield(
        value=args.dividend / args.price, source="computed (example plugin)", as_of=context.today()
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(example_dividend_yield, context)]
