"""benchmarks/agent_quality.py --kv-cache without a model: the arms it plans, the agreement it
counts between KV caches and the report it renders (rows built in memory, as the script makes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS_DIR) not in sys.path:  # the script imports its report module as a sibling
    sys.path.insert(0, str(BENCHMARKS_DIR))

from _agent_quality_report import agreement, markdown  # noqa: E402
from agent_quality import GOALS, Arm, plan_arms, split_list  # noqa: E402


def test_without_kv_caches_the_arms_are_the_answer_modes() -> None:
    arms = plan_arms([], ["model", "quote"])
    assert arms == [Arm(None, "model"), Arm(None, "quote")]
    assert [arm.label for arm in arms] == ["answer=model", "answer=quote"]  # as before


def test_kv_caches_are_grouped_so_each_engine_loads_once() -> None:
    arms = plan_arms(split_list("fp16, nqkv4,nqkv4_fit"), ["quote", "model"])
    assert [arm.kv_cache for arm in arms] == ["fp16", "fp16", "nqkv4", "nqkv4", *["nqkv4_fit"] * 2]
    assert arms[0].label == "kv=fp16, answer=quote"


def test_an_unknown_kv_cache_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown --kv-cache preallocated; choose from fp16, "):
        plan_arms(["fp16", "preallocated"], ["quote"])


def _row(question: str, arm: str, tools: list[str], answer: str, right: bool) -> dict:
    return {
        "id": question,
        "split": "dev",
        "template": "close_on_date",
        "arm": arm,
        "tools_called": tools,
        "arguments": [{"ticker": "AAPL"}] * len(tools),
        "answer": answer,
        "right_tool": bool(tools),
        "right_number": right,
    }


def test_agreement_and_report_compare_each_cache_with_the_first() -> None:
    fp16, nqkv = "kv=fp16, answer=quote", "kv=nqkv4_fit, answer=quote"
    rows = [
        _row("q1", fp16, ["price_on"], "AAPL closed at 171.48.", True),
        _row("q2", fp16, ["price_on"], "AAPL closed at 170.03.", True),
        _row("q1", nqkv, ["price_on"], "AAPL closed at 171.48.", True),
        _row("q2", nqkv, ["price_on", "price_on"], "AAPL closed at 170.03.", True),
    ]
    same = agreement(rows, fp16, nqkv)
    assert same == {"questions": 2, "same_calls": 1, "same_answer": 2}
    summary = {
        "questions": 2,
        "valid_calls": 1.0,
        "right_tool": 1.0,
        "right_number": 1.0,
        "answers_replaced": 0.0,
        "mean_steps": 2.0,
        "median_latency_s": 9.5,
    }
    report = {
        "model_id": "smollm2-135m-instruct",
        "machine": "x86_64, 2 cores, torch threads 2",
        "load_average_start": 1.0,
        "seed": 0,
        "date": "2026-01-01",
        "engines": {
            "fp16": {"kv_cache": "preallocated", "decode_weights": "int8", "load_time_s": 3.0},
            "nqkv4_fit": {
                "kv_cache": "nqkv4_fit",
                "kv_residual_tokens": 128,
                "decode_weights": "int8",
                "load_time_s": 3.2,
            },
        },
        "summary": {f"{fp16}: all": summary, f"{nqkv}: all": summary},
        "goals": GOALS,
        "goals_met": {fp16: {"right_tool": True}, nqkv: {"right_tool": True}},
        "agreement": {nqkv: same},
        "rows": rows,
    }
    text = markdown(report)
    assert "- kv=nqkv4_fit: engine cache `nqkv4_fit` (kv_residual_tokens 128)" in text
    assert f"- {nqkv}: same tool calls and arguments 1/2, same answer text 2/2" in text
    assert "| close_on_date | 2 | 2 / 2 | 2 / 2 |" in text
