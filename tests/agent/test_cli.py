"""`huijin chat` rendering and `huijin trajectories` over real SQLite (scripted turns)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.chat_cli import render_chat
from app.trajectories_cli import trajectories_app
from tests.agent.conftest import ScriptedEngine
from tests.agent.test_graph import RETURNS_2023

ANSWER = "NVDA returned 238.95% in 2023."


def test_chat_json_and_trajectories_cli(make_assistant, agent_settings, monkeypatch, capsys):
    assistant = make_assistant(ScriptedEngine([RETURNS_2023, ANSWER]))
    render_chat(assistant, "How did NVDA do in 2023?", "cli-thread", as_json=True)
    payload = json.loads(capsys.readouterr().out)
    assert payload["answer"] == ANSWER and payload["thread_id"] == "cli-thread"
    assert payload["tool_calls"][0]["name"] == "get_returns"

    monkeypatch.setenv("HUIJIN_DATA_DIR", str(agent_settings.data_dir))
    runner = CliRunner()
    listed = runner.invoke(trajectories_app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["id"] == payload["trajectory_id"]
    shown = runner.invoke(trajectories_app, ["show", payload["trajectory_id"][:8]])
    assert shown.exit_code == 0 and "get_returns" in shown.output and "238.95" in shown.output
    exported = runner.invoke(trajectories_app, ["export", "--jsonl"])
    lines = [line for line in exported.stdout.splitlines() if line.startswith("{")]
    assert json.loads(lines[0])["turns"][0]["completion_ids"]


def test_chat_rich_rendering_shows_steps(make_assistant, capsys):
    assistant = make_assistant(ScriptedEngine([RETURNS_2023, ANSWER]))
    render_chat(assistant, "How did NVDA do in 2023?", None, as_json=False)
    out = capsys.readouterr().out
    assert "tool call" in out and "get_returns" in out and "238.95%" in out and "answer" in out
