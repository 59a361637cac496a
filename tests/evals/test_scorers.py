"""Scorers against hand-made tricky cases, including the official scripts' behaviour."""

from __future__ import annotations

import pytest

from evals.benchmarks import load_benchmark
from evals.example import AnswerType, Example
from evals.scorers import LlmJudge, score_example
from evals.scorers.finqa_program import (
    ProgramError,
    execute_program,
    extract_program,
    programs_equivalent,
)
from evals.scorers.score import final_answer
from evals.scorers.tatqa import tatqa_metric


def number_example(benchmark: str, gold: float, **kwargs) -> Example:
    return Example(
        id="x", benchmark=benchmark, question="q", gold=f"{gold}", gold_value=gold, **kwargs
    )


@pytest.mark.parametrize(
    ("gold", "reply", "correct"),
    [
        (94.0, "Answer: 94", True),
        (94.0, "The net change was $94 million.\nAnswer: 94.0", True),
        (0.14136, "Answer: 14.1%", True),  # percent vs decimal, rounded to what is shown
        (0.14136, "Answer: 14%", True),
        (0.14136, "Answer: 0.1414", True),
        (14.136, "Answer: 0.14136", True),  # gold written in percent points
        (0.14136, "Answer: 15%", False),
        (0.003, "Answer: 0%", False),  # rounding to nothing is not a match
        (-35.0, "Answer: (35)", True),  # accountants' negative
        (5829.0, "Answer: $5,829", True),
        (94.0, "Answer: 95", False),
        (94.0, "I cannot tell.", False),
        (1.42403, "the change is 35.8, which is 142.4% of 25.14", False),  # unmarked: last number
        (1.42403, "the change is 35.8 on 25.14, that is 142.4%", True),
    ],
)
def test_finqa_execution_accuracy(gold, reply, correct):
    assert score_example(number_example("finqa", gold), reply).correct is correct


def test_finqa_yes_no():
    example = Example(
        id="x", benchmark="finqa", question="q", gold="yes", answer_type=AnswerType.BOOLEAN
    )
    assert score_example(example, "Answer: Yes, they were.").correct
    assert not score_example(example, "Answer: no").correct


def test_dsl_executes_every_operation():
    table = [["", "2019", "2018"], ["net revenue", "$ 1,250", "$ 1,000"], ["costs", "(5)", "15"]]
    assert execute_program("subtract(1250, 1000), divide(#0, 1000)") == 0.25
    assert execute_program("add(1, 2), multiply(#0, const_100)") == 300.0
    assert execute_program("exp(const_2, const_10)") == 1024.0
    assert execute_program("multiply(const_m1, 3)") == -3.0
    assert execute_program("greater(800, 700)") == "yes"
    assert execute_program("multiply(14.1%, const_100)") == 14.1
    assert execute_program("table_sum(net revenue, none)", table) == 2250.0
    assert execute_program("table_average(net revenue, none)", table) == 1125.0
    assert execute_program("table_max(costs, none)", table) == 15.0
    assert execute_program("table_min(costs, none)", table) == -5.0
    assert execute_program("divide(2, 3)") == 0.66667  # rounded to 5 decimals, as the official
    with pytest.raises(ProgramError, match="#3"):
        execute_program("add(1, 2), add(#3, 1)")
    with pytest.raises(ProgramError, match="no table row"):
        execute_program("table_sum(missing row, none)", table)
    with pytest.raises(ProgramError, match="unknown operation"):
        execute_program("modulo(3, 2)")
    with pytest.raises(ProgramError, match="fails"):
        execute_program("divide(1, 0)")


def test_program_accuracy_is_symbolic():
    gold = "subtract(1250, 1000), divide(#0, 1000)"
    assert programs_equivalent("subtract(1250, 1000), divide(#0, 1000)", gold)
    assert programs_equivalent("add(1, 2), divide(#0, 3)", "add(2, 1), divide(#0, 3)")
    assert not programs_equivalent("subtract(1000, 1250), divide(#0, 1000)", gold)
    # Same value, different computation: right answer, wrong program.
    assert not programs_equivalent("multiply(0.5, 0.5)", "divide(1, 4)")
    assert programs_equivalent("greater(3, 2)", "greater(3, 2)")


def test_finqa_reply_with_program_gets_program_accuracy(samples):
    example = load_benchmark("finqa", samples / "finqa_sample.json", "test")[0]
    reply = "Program: subtract(1250, 1000), divide(#0, 1000)\nAnswer: 25%"
    score = score_example(example, reply)
    assert score.correct and score.details["program_correct"] is True
    assert score.details["program_result"] == 0.25
    assert extract_program("no program here") is None


def test_dsl_reproduces_real_convfinqa_answers(benchmarks_dir):
    """Every gold turn program of the real ConvFinQA dev file executes to its gold answer."""
    path = benchmarks_dir / "convfinqa/derived_JoyMurmur_finqa-agent/convfinqa_dataset.json"
    turns = load_benchmark("convfinqa", path, "dev")
    checked = mismatched = 0
    for turn in turns:
        if not turn.program or "(" not in turn.program or turn.gold_value is None:
            continue
        checked += 1
        result = execute_program(turn.program, turn.context_table)
        if not isinstance(result, float) or abs(result - turn.gold_value) > 1e-4 * max(
            1, abs(turn.gold_value)
        ):
            mismatched += 1
    assert checked > 500
    assert mismatched / checked < 0.01


@pytest.mark.parametrize(
    ("gold", "scale", "kind", "pred", "pred_scale", "em", "f1"),
    [
        (["$1,496.5"], "million", "span", ["1496.5"], "million", 1.0, 1.0),
        (["$1,496.5"], "million", "span", ["1496.5"], "", 0.0, 0.0),  # scale is part of the answer
        (["-12.6"], "million", "arithmetic", ["(12.6)"], "million", 1.0, 1.0),
        (["-22.22"], "percent", "arithmetic", ["-22.22%"], "percent", 1.0, 1.0),
        (["-22.22"], "percent", "arithmetic", ["-0.2222"], "", 1.0, 1.0),  # add_percent_pred
        (["-22.22"], "percent", "arithmetic", ["-22.2"], "percent", 0.0, 0.0),  # F1 = EM here
        (["Germany", "Japan"], "", "multi-span", ["Japan", "Germany"], "", 1.0, 1.0),
        (
            ["fixed-price type", "cost-plus type"],
            "",
            "multi-span",
            ["cost-plus type"],
            "",
            0.0,
            0.75,  # 3 of 5 distinct gold tokens, all predicted ones right
        ),
        (
            ["the modified retrospective method"],
            "",
            "span",
            ["Modified retrospective method."],
            "",
            1.0,
            1.0,
        ),
        (["2019"], "", "span", ["2018"], "", 0.0, 0.0),
        (["2019 revenue"], "", "span", ["2018 revenue"], "", 0.0, 0.0),  # numbers must agree
        (["2"], "", "count", ["2"], "", 1.0, 1.0),
        (["x"], "", "span", [""], "", 0.0, 0.0),
    ],
)
def test_tatqa_metric_matches_the_official_behaviour(gold, scale, kind, pred, pred_scale, em, f1):
    assert tatqa_metric(gold, scale, kind, pred, pred_scale) == (em, f1)


def test_tatqa_reads_scale_from_the_reply(samples):
    examples = {e.id: e for e in load_benchmark("tatqa", samples / "tatqa_sample.json", "dev")}
    assert score_example(examples["q1"], "Answer: $1,200.5 million").correct
    assert not score_example(examples["q1"], "Answer: 1,200.5").correct
    assert score_example(examples["q2"], "Answer: -22.22%").correct
    assert score_example(examples["q3"], "Answer: Japan; Germany").correct
    partial = score_example(examples["q3"], "Answer: Germany")
    assert not partial.correct and 0 < partial.value < 1


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ("3 * 12 = 36\n#### 36", True),
        ("So the answer is 36.", True),
        ("They have $1,000 left.", False),  # gold 36
        ("The answer is 36 pens, from 3 boxes of 12", True),  # marked: first number on the line
        ("3 boxes of 12 give 36", True),  # unmarked: the last number
        ("36.5", False),
    ],
)
def test_gsm8k_final_number(reply, correct):
    assert score_example(number_example("gsm8k", 36.0), reply).correct is correct


@pytest.mark.parametrize(
    ("gold", "reply", "correct"),
    [
        ("\\frac{5}{6}", "so $\\boxed{\\frac{5}{6}}$", True),
        ("\\frac{5}{6}", "The answer is $\\boxed{10/12}$", True),
        ("\\frac{5}{6}", "Answer: 0.8333", False),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "$\\boxed{(3, \\pi/2)}$", True),
        ("2", "$x = \\boxed{-2}$", False),
        ("\\sqrt{2}", "$\\boxed{2^{1/2}}$", True),
    ],
)
def test_math500_symbolic_equivalence(gold, reply, correct):
    example = Example(
        id="x", benchmark="math500", question="q", gold=gold, answer_type=AnswerType.EXPRESSION
    )
    assert score_example(example, reply).correct is correct


def test_math500_scores_from_a_worker_thread():
    from concurrent.futures import ThreadPoolExecutor

    example = Example(id="x", benchmark="math500", question="q", gold="\\frac{1}{2}")
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(score_example, example, "$\\boxed{0.5}$").result().correct


def test_financebench_numeric_match(samples):
    numeric, free = load_benchmark("financebench", samples / "financebench_sample.jsonl", "test")
    assert score_example(numeric, "Answer: $1,577 million").correct
    assert score_example(numeric, "Answer: about $1.58 billion").correct  # another scale, rounded
    assert not score_example(numeric, "Answer: $1,700 million").correct
    unscored = score_example(free, "Answer: yes")
    assert not unscored.correct and unscored.method.startswith("unscored")


def test_financebench_llm_judge_is_marked(samples, embedded_engine):
    _, free = load_benchmark("financebench", samples / "financebench_sample.jsonl", "test")
    score = score_example(free, "Yes, for ten years in a row.", judge=LlmJudge(embedded_engine))
    assert score.is_judged and score.method == f"llm-judge:{embedded_engine.model_id}"
    assert "judge_reply" in score.details


def test_final_answer_extraction():
    assert final_answer("work...\nAnswer: 42 dollars\nThanks") == "42 dollars"
    assert final_answer("so \\boxed{\\frac{1}{2}} it is") == "\\frac{1}{2}"
    assert final_answer("line one\nline two") == "line two"


def tooluse_example(gold: float | str, **metadata) -> Example:
    if isinstance(gold, str):
        return Example(
            id="t",
            benchmark="tooluse",
            question="q",
            gold=gold,
            answer_type=AnswerType.SPAN,
            metadata={"choices": ["NVDA", "PG"], **metadata},
        )
    return Example(
        id="t",
        benchmark="tooluse",
        question="q",
        gold=f"{gold}",
        gold_value=gold,
        metadata=metadata,
    )


@pytest.mark.parametrize(
    ("example", "reply", "correct"),
    [
        # The agent quoting its tool: the result is stated first, the inputs come last.
        (
            tooluse_example(-471.8553),
            "npv = -471.86 (exact -471.8553083; rate=0.06, cashflows=[-5000.0, 1200.0, 1880.0])\n"
            "source: computed (numpy-financial); as of 2026-11-26",
            True,
        ),
        (tooluse_example(0.180052, rel_tol=1e-3), "irr = 18.0052% (exact 0.1800523)", True),
        (tooluse_example(-0.2783, sign_free=True), "max drawdown 27.83% (peak 2020-02-05)", True),
        (tooluse_example(-0.2783), "max drawdown 27.83%", False),  # the sign matters here
        (tooluse_example(483.32), "The payment is 438.32 a month.", False),
        (tooluse_example(2024.0), "as of 2024-03-01", False),  # a date is not a number
        (
            tooluse_example("NVDA"),
            "NVDA minus PG: 62.08 percentage points\nhighest total return: NVDA (123.78%)\n"
            "source: offline snapshot",
            True,
        ),
        (tooluse_example("NVDA"), "NVDA 123.78%, PG 61.70%", False),  # names both: no choice
    ],
)
def test_tooluse_answers_state_the_gold(example, reply, correct):
    assert score_example(example, reply).correct is correct
