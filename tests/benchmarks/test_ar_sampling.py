"""benchmarks/ar_sampling.py: tiny real runs on the embedded model (one per dataset, through the
project's loaders and scorers), resuming and extending a run without redoing finished problems,
refusing changed settings, and the goal table on hand-made records."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from _ar_sampling_report import FAIL, NOT_MEASURED, PASS, goals, markdown, plot_png, table
from ar_sampling import Stopped, parse_args, run_benchmark

TINY = ("--max-tokens", "32")


def _shared_dir(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{variable} is not set to a directory (make test sets it to ../shared/data)")
    return Path(value)


@pytest.fixture(scope="module")
def data_dirs() -> tuple[Path, Path]:
    return _shared_dir("HUIJIN_BENCHMARKS_DIR"), _shared_dir("HUIJIN_MARKET_SNAPSHOT")


class CountingEngine:
    """The real engine, recording every generation request that reaches it (prompt text)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.prompts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def complete(self, prompt: str | Sequence[int], params: Any = None) -> Any:
        self.prompts.append(str(prompt))
        return self._engine.complete(prompt, params)

    def chat(self, messages: Any, tools: Any = None, params: Any = None) -> Any:
        self.prompts.append(str(messages))
        return self._engine.chat(messages, tools, params)

    def chat_batch(self, conversations: Any, tools: Any = None, params: Any = None) -> Any:
        self.prompts.extend(str(c) for c in conversations)
        return self._engine.chat_batch(conversations, tools, params)


def _args(dirs: tuple[Path, Path], out: Path, dataset: str, *extra: str) -> Any:
    benchmarks, market = dirs
    return parse_args(
        [
            *("--dataset", dataset, "--n-max", "2", "--concurrency", "2"),
            *("--out-dir", str(out), "--data-dir", str(benchmarks), "--market-dir", str(market)),
            *extra,
        ]
    )


def _stored(out: Path, dataset: str) -> dict[str, Any]:
    stem = out / f"ar_sampling_{dataset}_verifier"
    assert stem.with_suffix(".md").is_file() and stem.with_suffix(".png").stat().st_size > 1000
    return json.loads(stem.with_suffix(".json").read_text())


def _check_records(data: dict[str, Any], num: int, max_tokens: int) -> None:
    records = data["problems"]
    assert [r["index"] for r in records] == list(range(num))
    for record in records:
        assert set(record["methods"]) == {
            f"{m}@{n}"
            for n in (1, 2)
            for m in ("greedy", "sc", "bon", "weighted", "ar-best", "ar-weighted", "ar-majority")
        }
        for key, entry in record["methods"].items():
            n = 1 if key.startswith("greedy") else int(key.rpartition("@")[2])
            assert isinstance(entry["is_correct"], bool)
            assert 0 < entry["generated_tokens"] <= n * max_tokens
    assert {row["num_problems"] for row in data["table"]} == {num}


def test_gsm8k_run_resumes_extends_and_refuses_other_settings(data_dirs, embedded_engine, tmp_path):
    engine = CountingEngine(embedded_engine)
    run_benchmark(engine, _args(data_dirs, tmp_path, "gsm8k", "--num-problems", "1", *TINY))
    first = _stored(tmp_path, "gsm8k")
    _check_records(first, 1, 32)
    assert first["problems"][0]["gold"] == "72" and engine.prompts

    # The same command again: everything is done, so the model is not asked anything.
    engine.prompts.clear()
    run_benchmark(engine, _args(data_dirs, tmp_path, "gsm8k", "--num-problems", "1", *TINY))
    again = _stored(tmp_path, "gsm8k")
    assert engine.prompts == [] and again["problems"] == first["problems"]
    assert again["meta"]["elapsed_s"] >= first["meta"]["elapsed_s"]

    # A larger K extends the run: only the new problem reaches the engine.
    run_benchmark(engine, _args(data_dirs, tmp_path, "gsm8k", "--num-problems", "2", *TINY))
    extended = _stored(tmp_path, "gsm8k")
    _check_records(extended, 2, 32)
    assert extended["problems"][0] == first["problems"][0]
    assert engine.prompts and not any("Natalia" in prompt for prompt in engine.prompts)
    assert all("Weng earns" in prompt for prompt in engine.prompts)

    engine.prompts.clear()
    with pytest.raises(ValueError, match=r"\(p 0\.4 -> 0\.3\); pass --restart") as error:
        run_benchmark(engine, _args(data_dirs, tmp_path, "gsm8k", *TINY, "--p", "0.3"))
    assert "\n" not in str(error.value) and engine.prompts == []


# FinQA's page makes every request (each AR step too) re-read ~1,200 prompt tokens: one problem
# takes 30-60 s on 2 busy cores, so it runs with `make test-slow`; tooluse takes ~12 s.
@pytest.mark.parametrize("dataset", [pytest.param("finqa", marks=pytest.mark.slow), "tooluse"])
def test_one_problem_of_each_other_dataset(data_dirs, embedded_engine, tmp_path, dataset):
    run_benchmark(
        embedded_engine,
        _args(data_dirs, tmp_path, dataset, "--num-problems", "1", "--max-tokens", "24"),
    )
    data = _stored(tmp_path, dataset)
    _check_records(data, 1, 24)
    meta = data["meta"]
    if dataset == "finqa":
        assert meta["title"] == "FinQA (test file; no dev split is available here)"
        assert meta["num_problems_available"] == 100
        assert "evals/scorers/finqa.py" in meta["scorer"]
    else:
        assert meta["settings"]["split"] == "dev" and meta["num_problems_available"] == 15
        assert data["problems"][0]["id"].split("-")[1] in {
            "npv",
            "irr",
            "loan_payment",
            "loan_interest",
            "savings_fv",
        }
    text = (tmp_path / f"ar_sampling_{dataset}_verifier.md").read_text()
    assert "## Goals (issue 8)" in text and f"ar_sampling_{dataset}_verifier.png" in text


def test_two_prms_score_the_same_samples_in_one_run(data_dirs, embedded_engine, tmp_path):
    """--prm verifier --prm judge: one file each; greedy and the whole solutions are drawn once,
    so every non-AR row is the same samples (same tokens), only their selection may differ."""
    prms = ("--prm", "verifier", "--prm", "judge")
    args = _args(data_dirs, tmp_path, "tooluse", "--num-problems", "1", *TINY, *prms)
    engine = CountingEngine(embedded_engine)
    paths = run_benchmark(engine, args)
    assert [p.name for p in paths] == [
        "ar_sampling_tooluse_verifier.md",
        "ar_sampling_tooluse_judge.md",
    ]
    verifier, judge = (json.loads(p.with_suffix(".json").read_text()) for p in paths)
    assert verifier["meta"]["run_with"] == {"judge": 1} and judge["meta"]["run_with"] == {
        "verifier": 1
    }
    assert judge["meta"]["prm_calls"] > 0 and verifier["meta"]["prm_calls"] is None
    assert judge["meta"]["settings"]["prm"] == "judge"
    for key, entry in verifier["problems"][0]["methods"].items():
        if not key.startswith("ar-"):
            other = judge["problems"][0]["methods"][key]
            assert entry["generated_tokens"] == other["generated_tokens"], key
    assert "very samples PRM judge scored" in paths[0].read_text()
    (paths[1].with_suffix(".json")).unlink()  # the judge's file lost: only the judge reruns
    engine.prompts.clear()
    run_benchmark(engine, args)
    assert engine.prompts
    rerun = [json.loads(p.with_suffix(".json").read_text()) for p in paths]
    assert rerun[0]["problems"] == verifier["problems"]
    # New samples for the judge: neither file claims to share them any more.
    assert rerun[0]["meta"]["run_with"] == {} and rerun[1]["meta"]["run_with"] == {}
    assert "very samples" not in paths[0].read_text()


# -- the goal table, on records made by hand ---------------------------------------------------


def _entry(correct: bool, tokens: int) -> dict[str, Any]:
    return {
        "is_correct": correct,
        "generated_tokens": tokens,
        "prompt_tokens": 2 * tokens,
        "num_rethinks": 1,
        "num_rethinks_passed": 1 if correct else 0,
    }


def _record(index: int, right: dict[str, bool]) -> dict[str, Any]:
    """Four problems; `right` says which methods solve this one (at every N)."""
    methods = {}
    for n in (1, 2, 4):
        for name, per_sample in (("greedy", 100), ("bon", 100), ("ar-best", 90)):
            tokens = per_sample if name == "greedy" else per_sample * n
            methods[f"{name}@{n}"] = _entry(right.get(name, False), tokens)
    return {"index": index, "id": f"p{index}", "gold": "1", "methods": methods}


def test_goals_pass_fail_and_not_measured(tmp_path):
    records = [
        _record(0, {"ar-best": True, "bon": True, "greedy": True}),
        _record(1, {"ar-best": True, "bon": True}),
        _record(2, {"ar-best": True}),
        _record(3, {"bon": True}),
    ]
    rows = table(records)
    by_key = {row["method"]: row for row in rows}
    assert by_key["ar-best@2"]["accuracy"] == 0.75 and by_key["bon@2"]["accuracy"] == 0.75
    assert by_key["greedy@1"]["ci_low"] < 0.25 < by_key["greedy@1"]["ci_high"]
    assert by_key["ar-best@1"]["rethinks_passed"] == 0.75

    result = {(g["n"], g["goal"]): g for g in goals(rows, [1, 2, 4])}
    above_greedy = result[1, "AR (best) > greedy"]
    assert above_greedy["status"] == PASS and above_greedy["ci_overlap"]  # 3/4 vs 1/4 of four
    assert result[2, "AR (best) >= BoN at the same N"]["status"] == PASS  # a tie counts
    # AR at N spends 90 N tokens, Best-of-2N 200 N: fewer where 2N was measured, else unknown.
    tokens = "AR (best) tokens < BoN@2N tokens"
    assert (
        result[1, tokens]["status"] == PASS and "90 vs 200 (BoN@2)" in result[1, tokens]["detail"]
    )
    assert result[2, tokens]["status"] == PASS
    assert result[4, tokens]["status"] == NOT_MEASURED
    assert "would be 800 vs AR's 360 (an estimate)" in result[4, tokens]["detail"]

    # One BoN win more and AR falls below it.
    records.append(_record(4, {"bon": True}))
    result = {(g["n"], g["goal"]): g for g in goals(table(records), [1, 2, 4])}
    assert result[4, "AR (best) >= BoN at the same N"]["status"] == FAIL

    meta = {
        "settings": dict.fromkeys(
            ("model", "prm", "p", "m", "temperature", "max_tokens", "n_max", "seed"), 1
        ),
        "title": "hand-made",
        "source": "memory",
        "scorer": "hand",
        "num_problems_done": 5,
        "num_problems_planned": 5,
        "num_problems_available": 5,
        "elapsed_s": 1.0,
        "cpu_count": 2,
        "concurrency": 1,
        "load_average": "0.0",
        "plot": "plot.png",
    }
    text = markdown(table(records), list(result.values()), meta)
    assert "| 4 | AR (best) tokens < BoN@2N tokens | not measured |" in text
    assert "| ar-best@4 | 0.600 [" in text and "![accuracy vs generated tokens](plot.png)" in text
    plot_png(table(records), "hand-made", tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")
    assert str(Stopped(3, 10)) == ("stopped; 3/10 problems done, rerun the same command to resume")
