from __future__ import annotations

from model.reasoning.steps import (
    STEP_SYSTEM_PROMPT,
    split_steps,
    step_header,
    step_messages,
    step_number,
)


def test_a_step_is_the_text_up_to_a_blank_line():
    text = "## Step 1: Halve 48.\n48 / 2 = 24\n\n## Step 2: Add.\n48 + 24 = 72\n\nTherefore, the final answer is: $\\boxed{72}$."
    assert split_steps(text) == [
        "## Step 1: Halve 48.\n48 / 2 = 24",
        "## Step 2: Add.\n48 + 24 = 72",
        "Therefore, the final answer is: $\\boxed{72}$.",
    ]


def test_blank_lines_with_spaces_and_extra_blank_lines_split_once():
    assert split_steps("a\n  \n\n\nb\n\t\nc\n\n") == ["a", "b", "c"]


def test_headers_without_blank_lines_are_split_for_models_that_ignore_the_format():
    text = "## Step 1: 48 / 2 = 24\n## Step 2: 48 + 24 = 72\n**Step 3:** so 72"
    assert split_steps(text) == [
        "## Step 1: 48 / 2 = 24",
        "## Step 2: 48 + 24 = 72",
        "**Step 3:** so 72",
    ]


def test_a_numbered_list_in_one_paragraph_is_split_but_prose_lines_are_not():
    assert split_steps("1. Halve 48: 24.\n2. Add: 72.") == ["1. Halve 48: 24.", "2. Add: 72."]
    prose = "She sold 48 in April.\nShe sold 24 in May."
    assert split_steps(prose) == [prose]


def test_a_rethink_trigger_stays_with_the_redone_step():
    text = (
        "## Step 1: 48 * 2 = 96\n\nWait! Maybe I made some mistakes in Step 1. I need to rethink "
        "from it.\n## Step 1: 48 / 2 = 24"
    )
    steps = split_steps(text)
    assert len(steps) == 2
    assert steps[1].startswith("Wait! Maybe I made some mistakes in Step 1.")
    assert step_number(steps[1]) == 1


def test_empty_text_has_no_steps():
    assert split_steps("") == [] and split_steps("\n\n \n") == []


def test_step_number_reads_the_last_header_with_or_without_hashes():
    assert step_number("## Step 12: add") == 12
    assert step_number("Step 3: add") == 3
    assert step_number("**Step 4**: add") == 4
    assert step_number("no header, step 5 mentioned") is None
    assert step_header(3) == "## Step 3: "


def test_step_messages_put_context_before_the_question():
    messages = step_messages("How much?", context="Tool result: price 12.5")
    assert messages[0] == {"role": "system", "content": STEP_SYSTEM_PROMPT}
    assert messages[1]["content"] == "Tool result: price 12.5\n\nHow much?"
    assert "## Step 1:" in STEP_SYSTEM_PROMPT and "\\boxed{answer}" in STEP_SYSTEM_PROMPT
