"""Loan amortisation schedule (numpy-financial): the payment, and each period's interest,
principal and remaining balance, with a per-year summary for the model."""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
from pydantic import Field

from tools.builtin.args import ToolArgs
from tools.result import ToolResult, fmt_num
from tools.tool import ToolContext


class AmortizationArgs(ToolArgs):
    principal: float = Field(gt=0, le=1e12, description="Amount borrowed.")
    annual_rate: float = Field(ge=0, le=1.0, description="Annual interest rate as a decimal.")
    years: float = Field(gt=0, le=50, description="Term in years.")
    payments_per_year: int = Field(default=12, ge=1, le=52, description="12 = monthly.")


class AmortizationSchedule(ToolResult):
    principal: float
    annual_rate: float
    num_payments: int
    payment: float
    total_paid: float
    total_interest: float

    def summary(self) -> str:
        lines = [
            f"loan {fmt_num(self.principal)} at {self.annual_rate * 100:.4g}% a year, "
            f"{self.num_payments} payments of {fmt_num(self.payment)}; total paid "
            f"{fmt_num(self.total_paid)}, total interest {fmt_num(self.total_interest)}",
            "year,interest,principal,balance_at_year_end",
        ]
        by_year: dict[int, list[float]] = {}
        for row in self.table or []:
            totals = by_year.setdefault(int(row["year"]), [0.0, 0.0, 0.0])
            totals[0] += float(row["interest"])
            totals[1] += float(row["principal"])
            totals[2] = float(row["balance"])
        for year, (interest, principal, balance) in by_year.items():
            lines.append(f"{year},{interest:.2f},{principal:.2f},{balance:.2f}")
        return "\n".join(lines)


def amortization_schedule(args: AmortizationArgs, context: ToolContext) -> AmortizationSchedule:
    """Fixed-payment loan schedule: payment per period, total interest, and per period the
    interest, principal and remaining balance (summarised per year). Rate is annual, decimal."""
    num_payments = max(1, round(args.years * args.payments_per_year))
    rate = args.annual_rate / args.payments_per_year
    periods = np.arange(1, num_payments + 1)
    # numpy-financial returns payments as negative cash flows; show them as positive amounts.
    payment = -float(npf.pmt(rate, num_payments, args.principal))
    interest = -npf.ipmt(rate, periods, num_payments, args.principal)
    principal = -npf.ppmt(rate, periods, num_payments, args.principal)
    balance = args.principal - np.cumsum(principal)
    table = [
        {
            "period": int(period),
            "year": int((period - 1) // args.payments_per_year + 1),
            "payment": round(payment, 2),
            "interest": round(float(i), 2),
            "principal": round(float(p), 2),
            "balance": round(max(float(b), 0.0), 2),
        }
        for period, i, p, b in zip(periods, interest, principal, balance, strict=True)
    ]
    total_paid = payment * num_payments
    return AmortizationSchedule(
        principal=args.principal,
        annual_rate=args.annual_rate,
        num_payments=num_payments,
        payment=payment,
        total_paid=total_paid,
        total_interest=total_paid - args.principal,
        source="computed (numpy-financial)",
        as_of=context.today(),
        table=table,
    )
