"""Time value of money with numpy-financial: NPV, IRR, payment, future and present value, and a
loan amortisation schedule.

Sign convention (numpy-financial, as in spreadsheets): money received is positive, money paid
out negative; rates are per period, as decimals. `npv` discounts the first cash flow by nothing
(it happens now), unlike a spreadsheet's NPV(), which starts one period later.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy_financial as npf
from langchain_core.tools import BaseTool
from pydantic import Field

from tools.builtin.args import ToolArgs
from tools.result import ToolResult, fmt_num, fmt_pct
from tools.tool import ToolContext, ToolError, define_tool

SOURCE = "computed (numpy-financial)"
Rate = Field(ge=-0.99, le=10.0, description="Interest rate per period as a decimal (0.05 = 5%).")
Periods = Field(gt=0, le=1200, description="Number of periods (e.g. months).")
When = Field(default="end", description="Payments at the 'end' or 'begin' of each period.")
CashFlows = Field(
    min_length=1, max_length=600, description="Cash flows per period, the first one now (t=0)."
)


class NpvArgs(ToolArgs):
    rate: float = Rate
    cashflows: list[float] = CashFlows


class IrrArgs(ToolArgs):
    cashflows: list[float] = Field(
        min_length=2, max_length=600, description="Cash flows per period, the first one now."
    )


class PaymentArgs(ToolArgs):
    rate: float = Rate
    nper: float = Periods
    pv: float = Field(description="Present value (a loan received is positive).")
    fv: float = Field(default=0.0, description="Value left after the last payment.")
    when: Literal["end", "begin"] = When


class FutureValueArgs(ToolArgs):
    rate: float = Rate
    nper: float = Periods
    pmt: float = Field(default=0.0, description="Payment each period (paid in is negative).")
    pv: float = Field(default=0.0, description="Present value (invested now is negative).")
    when: Literal["end", "begin"] = When


class PresentValueArgs(ToolArgs):
    rate: float = Rate
    nper: float = Periods
    pmt: float = Field(default=0.0, description="Payment each period (received is positive).")
    fv: float = Field(default=0.0, description="Amount at the end (received is positive).")
    when: Literal["end", "begin"] = When


class TvmValue(ToolResult):
    quantity: str
    value: float
    inputs: dict[str, object]
    detail: str = ""  # what the figure implies, in words (a loan's total interest)

    def summary(self) -> str:
        inputs = ", ".join(f"{key}={value}" for key, value in self.inputs.items())
        shown = fmt_pct(self.value, 4) if self.quantity == "irr" else fmt_num(self.value, 2)
        text = f"{self.quantity} = {shown} (exact {self.value:.10g}; {inputs})"
        return f"{text}\n{self.detail}" if self.detail else text


def _finite(quantity: str, value: float, hint: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ToolError(f"{quantity} has no finite solution for these inputs; {hint}")
    return value


def _result(context: ToolContext, quantity: str, value: float, args: ToolArgs) -> TvmValue:
    return TvmValue(
        quantity=quantity,
        value=value,
        inputs=args.model_dump(),
        source=SOURCE,
        as_of=context.today(),
    )


def tvm_npv(args: NpvArgs, context: ToolContext) -> TvmValue:
    """Net present value of cash flows at a per-period rate; the first cash flow is now (t=0) and
    is not discounted. Outflows negative, inflows positive."""
    value = _finite("npv", npf.npv(args.rate, args.cashflows), "check the rate")
    return _result(context, "npv", value, args)


def tvm_irr(args: IrrArgs, context: ToolContext) -> TvmValue:
    """Internal rate of return (IRR) per period of an investment's cash flows (first one now,
    e.g. the amount invested as a negative). Needs at least one negative and one positive."""
    if not (min(args.cashflows) < 0 < max(args.cashflows)):
        raise ToolError("IRR needs at least one negative and one positive cash flow")
    value = _finite("irr", npf.irr(args.cashflows), "the cash flows may have no real IRR")
    return _result(context, "irr", value, args)


def tvm_payment(args: PaymentArgs, context: ToolContext) -> TvmValue:
    """Payment per period that pays off a present value (e.g. a loan) over nper periods at a
    per-period rate (annual rate / 12 for monthly). A loan received (pv > 0) gives a negative
    payment (money paid out)."""
    value = _finite(
        "pmt",
        npf.pmt(args.rate, args.nper, args.pv, args.fv, when=args.when),
        "check rate and nper",
    )
    result = _result(context, "pmt", value, args)
    if args.pv > 0 > value:  # a loan: what the payments cost beyond the principal
        paid = -value * args.nper
        interest = paid - args.pv - args.fv
        result.detail = (
            f"payment {fmt_num(-value)} a period, paid out; over {args.nper:g} payments: "
            f"total paid {fmt_num(paid)}, of which interest {fmt_num(interest)}"
        )
    return result


def tvm_future_value(args: FutureValueArgs, context: ToolContext) -> TvmValue:
    """Future value: what regular deposits (savings) and a present amount grow to after nper
    periods at a per-period rate. Money invested is negative, so a positive result is what you
    get back."""
    value = npf.fv(args.rate, args.nper, args.pmt, args.pv, when=args.when)
    return _result(context, "fv", _finite("fv", value, "check rate and nper"), args)


def tvm_present_value(args: PresentValueArgs, context: ToolContext) -> TvmValue:
    """Present value of regular payments and a final amount at a per-period rate (e.g. what an
    annuity is worth today). Amounts received positive; the result is what to pay now (negative)."""
    value = npf.pv(args.rate, args.nper, args.pmt, args.fv, when=args.when)
    return _result(context, "pv", _finite("pv", value, "check rate and nper"), args)


def build_tools(context: ToolContext) -> list[BaseTool]:
    from tools.builtin.amortization import amortization_schedule

    return [
        define_tool(function, context)
        for function in (
            tvm_npv,
            tvm_irr,
            tvm_payment,
            tvm_future_value,
            tvm_present_value,
            amortization_schedule,
        )
    ]
