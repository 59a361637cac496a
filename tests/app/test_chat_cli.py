"""`huijin chat --verify`: the verification's steps, scores and rethinks in the terminal and in
the JSON, over the real agent path (scripted turns) and real SQLite."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from agent.verify import judge
from app.chat_cli import render_chat, render_verification
from tests.agent.conftest import ScriptedEngine
from tests.agent.test_graph import RETURNS_2023
from tests.agent.test_verify import AGENT_ANSWER, EVIDENCE, rethought

QUESTION = "How did NVDA do in 2023?"


def test_verification_prints_scored_steps_rethinks_and_the_verified_answer(capsys):
    render_verification(judge(rethought(), AGENT_ANSWER, EVIDENCE))
    out = capsys.readouterr().out
    assert "verification · AR-Sampling · PRM verifier · 1 path(s), chosen 1" in out
    assert "[0.25] step 1 ✗ weak, rethought" in out and "[0.70] step 1 ↻ rethink" in out
    assert "Wait! Maybe I made some mistakes in Step 1." in out
    assert "verified answer (confirmed)" in out and "238.95%" in out
    assert "rethinks on this path: 1" in out and "3 model calls" in out


def test_chat_verify_json_keeps_the_answer_when_verification_cannot_run(make_assistant, capsys):
    # The scripted engine cannot continue a partial turn, so AR-Sampling cannot run: the JSON
    # says so and the agent's answer stands; the verification is logged with the episode.
    assistant = make_assistant(ScriptedEngine([RETURNS_2023, AGENT_ANSWER]))
    render_chat(assistant, QUESTION, "t-verify", as_json=True, verify=True)
    payload = json.loads(capsys.readouterr().out)
    verification = payload["verification"]
    assert payload["answer"] == verification["answer"] == AGENT_ANSWER
    assert verification["status"] == "unconfirmed" and verification["steps"] == []
    assert verification["reason"].startswith("the verification could not run")
    logged = assistant.store.get(payload["trajectory_id"]).extra["verification"]
    assert logged == verification


def test_chat_verify_rich_says_the_answer_was_kept(make_assistant, capsys):
    assistant = make_assistant(ScriptedEngine([RETURNS_2023, AGENT_ANSWER]))
    render_chat(assistant, QUESTION, None, as_json=False, verify=True)
    out = capsys.readouterr().out
    assert out.index("238.95%") < out.index("answer kept: the verification did not confirm it")


@pytest.mark.slow
def test_chat_verify_cli_end_to_end(tmp_path, monkeypatch, snapshot_dir):
    from app.cli import app

    for key in list(os.environ):
        if key.startswith("HUIJIN_") and key not in {"HUIJIN_CACHE_DIR", "HUIJIN_MARKET_SNAPSHOT"}:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("HUIJIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HUIJIN_MARKET_LIVE", "false")
    monkeypatch.setenv("HUIJIN_REASON_NUM_SAMPLES", "1")
    monkeypatch.setenv("HUIJIN_MAX_NEW_TOKENS", "64")
    result = CliRunner().invoke(
        app, ["chat", "What was the total return of NVDA in 2023?", "--verify", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    verification = payload["verification"]
    assert verification["status"] in {"confirmed", "revised", "unconfirmed"}
    if payload["tool_calls"]:
        assert verification["usage"]["generated_tokens"] > 0
        assert all(step["score"] is not None for step in verification["steps"])
