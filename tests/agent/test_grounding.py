from __future__ import annotations

from agent.grounding import (
    check_grounding,
    extract_numbers,
    flag_unsupported,
    quote_tool_results,
)

TOOL = (
    "NVDA 2022-12-30 to 2023-12-29: price return 238.95% (14.61 -> 49.52); "
    "max drawdown -0.1876; revenue 60,922,000,000"
)


def test_numbers_are_extracted_without_dates():
    assert extract_numbers("On 2023-12-29 it was 1,234.5 and -3.2%") == ["1,234.5", "-3.2"]


def test_rounded_scaled_and_percent_forms_are_supported():
    answer = (
        "NVDA returned 238.95% (about 239%), from 14.61 to 49.5; drawdown 18.76%; 60.9 billion."
    )
    report = check_grounding(answer, [TOOL])
    assert report.unsupported == []
    assert report.is_grounded


def test_invented_numbers_and_dates_are_flagged():
    report = check_grounding("It rose 250% by 2024-01-15, from 14.61.", [TOOL])
    assert report.unsupported == ["2024-01-15", "250"]
    assert "[unverified: 2024-01-15, 250" in flag_unsupported("It rose.", report)


def test_question_numbers_and_small_counts_are_fine():
    report = check_grounding("Of the 3 flows, 1,250 is the largest.", ["NPV of -1000, 1,250, 300?"])
    assert report.is_grounded


def test_quoting_tools_drops_tables_and_keeps_one_source_line():
    price_history = (
        "AAPL daily prices 2024-03-28 to 2024-04-30 (23 bars): close 171.48 -> 170.33\n"
        "date,open,high,low,close,volume (every 5th session shown)\n"
        "2024-03-28,171.75,172.23,170.51,171.48,65672700\n"
        "note: prices are split-adjusted\n"
        "source: offline snapshot; as of 2024-04-30"
    )
    quote = quote_tool_results(
        [price_history, "AAPL close 171.48\nsource: offline snapshot; as of 2024-04-30"]
    )
    assert quote.splitlines() == [
        "AAPL daily prices 2024-03-28 to 2024-04-30 (23 bars): close 171.48 -> 170.33",
        "note: prices are split-adjusted",
        "AAPL close 171.48",
        "source: offline snapshot; as of 2024-04-30",
    ]
    assert check_grounding(quote, [price_history]).is_grounded
