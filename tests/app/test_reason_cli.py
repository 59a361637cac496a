"""`huijin reason`: rich rendering of a real result, JSON, and one-line errors on bad input."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.reason_cli import render_result
from model.reasoning import load_prm, reason

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"


@pytest.fixture
def clean_env(monkeypatch, tmp_path, huijin_cache_dir):
    for key in list(os.environ):
        if key.startswith("HUIJIN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("HUIJIN_CACHE_DIR", str(huijin_cache_dir))
    return tmp_path


def test_render_shows_every_step_score_rethink_and_the_answer(embedded_engine, capsys):
    result = reason(
        embedded_engine, QUESTION, prm=load_prm("verifier"), method="ar", num_samples=1,
        max_tokens=24, max_steps=3, temperature=0.0, threshold=1.0,
    )  # fmt: skip
    render_result(result)
    out = capsys.readouterr().out
    assert "Wait! Maybe I made some mistakes in Step" in out
    assert "↻ rethink" in out and "✗ weak, rethought" in out
    assert f"[{result.samples[0].steps[0].score:.2f}]" in out
    assert "answer (ar, PRM verifier)" in out and "generated tokens: " in out
    payload = json.loads(json.dumps(result.to_json()))
    assert payload["num_rethinks"] == result.num_rethinks >= 1
    assert payload["samples"][0]["rethinks"][0]["trigger"].startswith("Wait! Maybe")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["q", "--method", "beam"],
            "unknown method 'beam'; use one of ar, greedy, sc, bon, weighted",
        ),
        (["q", "--prm", "/no/such/prm"], "unknown PRM '/no/such/prm'"),
        (["q", "--prm", "verifier:x,judge"], "bad weight in PRM spec part 'verifier:x'"),
        (["q", "--n", "0"], "num_samples (N) must be at least 1"),
        (["q", "--p", "2"], "threshold (p) must be between 0 and 1"),
        (["q", "--selection", "best-ish"], "selection must be one of best, weighted, majority"),
        (["  ", "--method", "greedy"], "the question is empty"),
        (["q", "--context", "@/no/such/file"], "context file /no/such/file does not exist"),
    ],
)
def test_bad_input_is_one_red_line_and_exit_1(clean_env, args, message):
    result = CliRunner().invoke(app, ["reason", *args])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.slow
def test_reason_cli_json_end_to_end(clean_env):
    result = CliRunner().invoke(
        app,
        [
            "reason",
            QUESTION,
            "--method",
            "sc",
            "--n",
            "2",
            "--max-tokens",
            "12",
            "--seed",
            "0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    assert payload["method"] == "sc" and len(payload["samples"]) == 2
    assert payload["usage"]["generated_tokens"] == sum(
        s["usage"]["generated_tokens"] for s in payload["samples"]
    )
