"""TVM tools through the registry, against published values and numpy-financial itself."""

from __future__ import annotations

import numpy_financial as npf
import pytest


def value(registry, name, arguments):
    outcome = registry.call(name, arguments)
    assert not outcome.is_error, outcome.text
    return outcome.result


def test_mortgage_payment_matches_the_textbook_value(registry):
    # $200,000 over 30 years at 6 % a year, monthly: $1,199.10 (standard amortisation tables)
    result = value(registry, "tvm_payment", {"rate": 0.005, "nper": 360, "pv": 200000})
    assert result.value == pytest.approx(-1199.10, abs=0.005)
    assert "pmt = -1,199.10" in result.to_text()
    assert result.source == "computed (numpy-financial)"
    # The interest those payments add up to: 360 x 1,199.10 - 200,000 = 231,676.38
    assert (
        "payment 1,199.10 a period, paid out; over 360 payments: total paid 431,676.38, of which "
        "interest 231,676.38"
    ) in result.to_text()


def test_npv_irr_fv_pv(registry):
    # -100 now, 60 in one and two periods at 10 %: -100 + 54.5455 + 49.5868
    npv = value(registry, "tvm_npv", {"rate": 0.1, "cashflows": [-100, 60, 60]})
    assert npv.value == pytest.approx(-100 + 60 / 1.1 + 60 / 1.21)
    assert npv.value == pytest.approx(4.1322, abs=1e-4)
    # numpy-financial's documented example: irr([-100, 39, 59, 55, 20]) = 0.28095
    irr = value(registry, "tvm_irr", {"cashflows": [-100, 39, 59, 55, 20]})
    assert irr.value == pytest.approx(0.28095, abs=1e-5)
    assert npf.npv(irr.value, [-100, 39, 59, 55, 20]) == pytest.approx(0, abs=1e-8)
    # numpy-financial's documented example: fv(0.05/12, 120, -100, -100) = 15692.93
    fv = value(
        registry, "tvm_future_value", {"rate": 0.05 / 12, "nper": 120, "pmt": -100, "pv": -100}
    )
    assert fv.value == pytest.approx(15692.93, abs=0.01)
    pv = value(
        registry, "tvm_present_value", {"rate": 0.05 / 12, "nper": 120, "pmt": -100, "fv": 15692.93}
    )
    assert pv.value == pytest.approx(-100, abs=0.01)
    begin = value(registry, "tvm_payment", {"rate": 0.01, "nper": 12, "pv": 1000, "when": "begin"})
    assert begin.value == pytest.approx(npf.pmt(0.01, 12, 1000, when="begin"))


def test_amortization_schedule_adds_up(registry):
    result = value(
        registry, "amortization_schedule", {"principal": 10000, "annual_rate": 0.06, "years": 2}
    )
    rate, n = 0.005, 24
    closed_form = 10000 * rate / (1 - (1 + rate) ** -n)  # annuity formula
    assert result.payment == pytest.approx(closed_form)
    assert result.num_payments == 24 and len(result.table) == 24
    assert sum(row["principal"] for row in result.table) == pytest.approx(10000, abs=0.05)
    assert result.table[-1]["balance"] == pytest.approx(0, abs=0.01)
    assert result.table[0]["interest"] == pytest.approx(50.0)  # 10000 * 0.5 %
    assert result.total_interest == pytest.approx(closed_form * 24 - 10000)
    assert "year,interest,principal" in result.to_text()


def test_bad_tvm_input_is_a_clear_error(registry):
    outcome = registry.call("tvm_irr", {"cashflows": [100, 20, 30]})
    assert outcome.is_error and "negative and one positive" in outcome.text
    outcome = registry.call("tvm_payment", {"rate": -2, "nper": 12, "pv": 100})
    assert outcome.is_error and "rate" in outcome.text
    outcome = registry.call("tvm_npv", {"rate": 0.1, "cashflows": []})
    assert outcome.is_error and "cashflows" in outcome.text
