"""benchmarks/eval_table.py without a model: which cells it plans, the resume state it keeps in the
work dir, and the table it renders from stored results (real EvalResult rows, built in memory)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from _eval_table_report import markdown, remaining_estimate, summarize, throughput_lines
from eval_table import (
    BENCHMARK_ORDER,
    Cell,
    CellState,
    StateError,
    TableState,
    parse_list,
    parse_splits,
    plan_cells,
    plan_throughput,
)

from core.db.eval_models import EvalResult

# -- planning ---------------------------------------------------------------------------------------


def test_default_plan_covers_every_benchmark_in_both_modes():
    cells = plan_cells(list(BENCHMARK_ORDER), ["direct", "agent"], 100)
    assert [(c.benchmark, c.mode) for c in cells] == [
        (b, m) for b in BENCHMARK_ORDER for m in ("direct", "agent")
    ]
    by_name = {(c.benchmark, c.mode): c for c in cells}
    # Dev where the benchmark has one, else the split with the reason the table prints.
    assert by_name["tatqa", "direct"].split == "dev" and by_name["tatqa", "direct"].note == ""
    assert by_name["convfinqa", "agent"].split == "dev"
    assert by_name["finqa", "agent"].split == "test" and "dev" in by_name["finqa", "agent"].note
    assert by_name["gsm8k", "direct"].split == "test" and by_name["gsm8k", "direct"].note
    # The tool-use suite runs its whole test split; the rest a sample of --limit.
    assert by_name["tooluse", "agent"].limit is None
    assert by_name["tooluse", "agent"].split == "test"
    assert {c.limit for c in cells if c.benchmark != "tooluse"} == {100}
    assert len({c.key for c in cells}) == len(cells)


def test_keys_name_what_makes_a_run_different():
    # Another limit is another run; the tool-use suite's whole split is one run whatever the limit.
    two = {c.key for c in plan_cells(["gsm8k", "tooluse"], ["direct"], 2)}
    hundred = {c.key for c in plan_cells(["gsm8k", "tooluse"], ["direct"], 100)}
    assert two & hundred == {"tooluse/test/direct/all"}
    assert "gsm8k/test/direct/n2" in two


def test_subsets_keep_table_order_and_unknown_names_fail_with_the_choices():
    assert parse_list("tooluse, finqa", BENCHMARK_ORDER, "benchmark") == ["finqa", "tooluse"]
    with pytest.raises(ValueError, match="unknown benchmark fiqa; known: finqa"):
        parse_list("fiqa", BENCHMARK_ORDER, "benchmark")
    with pytest.raises(ValueError, match="at least one mode"):
        parse_list(" , ", ("direct", "agent"), "mode")
    with pytest.raises(ValueError, match="--limit"):
        plan_cells(["gsm8k"], ["direct"], 0)


def test_split_override_is_noted_in_the_table():
    splits = parse_splits(["gsm8k=train"])
    (cell,) = plan_cells(["gsm8k"], ["direct"], 5, splits)
    assert (cell.split, cell.note, cell.key) == (
        "train",
        "chosen with --split",
        "gsm8k/train/direct/n5",
    )
    for bad in ("gsm8k", "=dev", "nosuch=dev"):
        with pytest.raises(ValueError):
            parse_splits([bad])


def test_throughput_measures_each_slice_at_concurrency_1_and_8():
    cells = plan_throughput(16)
    assert [(c.benchmark, c.mode, c.concurrency) for c in cells] == [
        ("tooluse", "agent", 1),
        ("tooluse", "agent", 8),
        ("gsm8k", "direct", 1),
        ("gsm8k", "direct", 8),
    ]
    assert all(c.limit == 16 for c in cells)
    accuracy_keys = {c.key for c in plan_cells(["gsm8k", "tooluse"], ["direct", "agent"], 16)}
    assert not accuracy_keys & {c.key for c in cells}


# -- the resume state -------------------------------------------------------------------------------

FINGERPRINT = {"model": "embedded", "seed": "0", "max_new_tokens": "256"}


def test_state_round_trips_and_a_new_work_dir_starts_empty(tmp_path):
    path = tmp_path / "work" / "state.json"
    state = TableState.load(path, FINGERPRINT)
    assert state.cells == {} and state.throughput == {}
    state.cells["gsm8k/test/direct/n2"] = CellState(run_id="abc", wall_s=20.5, timed_examples=2)
    state.save(path)
    assert not list(path.parent.glob("*.tmp"))  # written whole, then renamed
    again = TableState.load(path, FINGERPRINT)
    assert again.cells["gsm8k/test/direct/n2"].run_id == "abc"
    assert again.cells["gsm8k/test/direct/n2"].timed_examples == 2
    assert json.loads(path.read_text())["fingerprint"] == FINGERPRINT


def test_state_of_other_settings_or_a_broken_file_is_refused(tmp_path):
    path = tmp_path / "state.json"
    TableState(fingerprint=FINGERPRINT).save(path)
    with pytest.raises(StateError, match=r"seed: '0' there, '1' now.*another --work-dir"):
        TableState.load(path, {**FINGERPRINT, "seed": "1"})
    path.write_text("{not json")
    with pytest.raises(StateError, match="move it away"):
        TableState.load(path, FINGERPRINT)


# -- the table --------------------------------------------------------------------------------------


def result(correct: bool, duration: float, method: str = "numeric", **kwargs) -> EvalResult:
    values = {
        "run_id": "r",
        "example_id": f"e{duration}",
        "example_index": 0,
        "correct": correct,
        "score": float(correct),
        "method": method,
        "duration_s": duration,
        "num_tool_calls": 0,
        "num_tool_errors": 0,
        "error": "",
        "stop_reason": "stop",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return EvalResult(**{**values, **kwargs})


def cell_dict(cell: Cell, rows: list[EvalResult], planned: int, wall: float | None) -> dict:
    return {
        "benchmark": cell.benchmark,
        "split": cell.split,
        "split_note": cell.note,
        "mode": cell.mode,
        "n_planned": planned,
        **summarize(rows),
        "wall_s_per_example": wall,
    }


def test_summary_leaves_unscored_answers_out_of_the_accuracy():
    rows = [
        result(True, 2.0),
        result(False, 4.0),
        result(False, 6.0, method="unscored (free-text answer needs --judge)"),
        result(False, 0.0, error="ValueError: boom", stop_reason="error"),
    ]
    summary = summarize(rows)
    assert (summary["n"], summary["n_scored"], summary["unscored"]) == (4, 3, 1)
    assert summary["accuracy"] == pytest.approx(1 / 3)
    low, high = summary["ci95"]
    assert 0 < low < 1 / 3 < high < 1
    assert summary["mean_latency_s"] == pytest.approx(4.0)  # the failed example is not timed
    assert summary["errors"] == 1
    assert summary["stop_reasons"] == {"error": 1, "stop": 3}
    empty = summarize([])
    assert empty["accuracy"] is None and empty["ci95"] is None and empty["n"] == 0


def test_markdown_table_has_every_cell_the_context_column_and_throughput():
    _, finqa_agent, gsm8k_direct, gsm8k_agent = plan_cells(
        ["finqa", "gsm8k"], ["direct", "agent"], 4
    )
    cells = [
        cell_dict(finqa_agent, [], 4, None),
        cell_dict(gsm8k_direct, [result(True, 1.0), result(False, 3.0)], 4, 2.5),
        cell_dict(
            gsm8k_agent,
            [result(False, 10.0, num_tool_calls=2, num_tool_errors=1)] * 4,
            4,
            12.0,
        ),
    ]
    throughput = [
        {"benchmark": "gsm8k", "split": "test", "mode": "direct", "n": 16, "concurrency": 1,
         "examples_per_min": 6.0},
        {"benchmark": "gsm8k", "split": "test", "mode": "direct", "n": 16, "concurrency": 8,
         "examples_per_min": 15.0},
    ]  # fmt: skip
    report = {
        "date": "2026-01-01",
        "machine_summary": "a test machine",
        "engine": {"model_id": "SmolLM2-135M-Instruct", "backend": "transformers"},
        "settings": {"seed": "0"},
        "limit": 4,
        "cells": cells,
        "throughput": throughput,
        "remaining": remaining_estimate(cells),
        "command": "python benchmarks/eval_table.py --limit 4",
    }
    text = markdown(report)
    assert "# Eval table: `SmolLM2-135M-Instruct`" in text
    # An unfinished cell says how far it got and shows no accuracy.
    assert "| finqa | test | agent | 0/4 | - |" in text
    # Accuracy with its interval; the published score beside the first GSM8K row only, cited.
    gsm8k_rows = [line for line in text.splitlines() if line.startswith("| gsm8k")]
    assert gsm8k_rows[0].startswith("| gsm8k | test | direct | 2/4 | 50.0% [")
    assert "SmolLM2-135M-Instruct: 1.4% (GSM8K 5-shot, lighteval) [2]" in gsm8k_rows[0]
    assert "1.4%" not in gsm8k_rows[1]
    assert "| 8 / 4 |" in gsm8k_rows[1]  # agent: tool calls / tool errors
    assert "[2] SmolLM2-135M-Instruct, GSM8K 5-shot, lighteval" in text
    assert "Instruction model" in text
    # Notes are numbered in table order: FinQA's published score comes first.
    finqa_row = next(line for line in text.splitlines() if line.startswith("| finqa"))
    assert finqa_row.rstrip().endswith("61.24% (FinQA test, execution accuracy) [1] |")
    assert "[1] FinQANet (RoBERTa-large" in text
    assert "- finqa (test): no dev split available" in text
    assert "| gsm8k/test | direct | 16 | 6.00 | 15.00 | 2.50x |" in text
    # 4 finqa examples at the agent mode's measured 12 s, and 2 gsm8k direct ones at 2.5 s.
    assert report["remaining"] == {"examples": 6, "seconds": 53, "examples_without_timing": 0}
    assert "Not finished: 6 examples" in text


def test_throughput_row_without_both_levels_shows_no_speedup():
    lines = throughput_lines(
        [{"benchmark": "tooluse", "split": "test", "mode": "agent", "n": 16, "concurrency": 1,
          "examples_per_min": 3.0}]
    )  # fmt: skip
    assert lines[-1] == "| tooluse/test | agent | 16 | 3.00 | - |"
