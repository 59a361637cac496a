"""`huijin tools list/run/new` through typer's runner, with the real registry and settings."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.tools_cli import tools_app

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HUIJIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUIJIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("HUIJIN_MARKET_LIVE", "false")
    for name in ("HUIJIN_ENABLED_TOOLS", "HUIJIN_DISABLED_TOOLS", "HUIJIN_TOOL_MODULES"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_list_json_gives_every_schema(env):
    result = runner.invoke(tools_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    schemas = json.loads(result.stdout)
    names = {schema["function"]["name"] for schema in schemas}
    assert {"get_price_history", "calculate", "portfolio_value", "price_chart"} <= names
    assert all(schema["type"] == "function" for schema in schemas)
    table = runner.invoke(tools_app, ["list"])
    assert table.exit_code == 0 and "get_price_history" in table.stdout


def test_done_when_command(env, snapshot_dir):
    args = '{"ticker": "AAPL", "start": "2024-01-02", "end": "2024-01-31"}'
    result = runner.invoke(tools_app, ["run", "get_price_history", "--args", args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["is_error"] is False
    assert payload["source"].startswith("offline snapshot heliar-k/market-base")
    assert payload["result"]["num_bars"] == 21 and payload["as_of"] == "2024-01-31"
    assert payload["result"]["table"][0]["close"] == 185.64


def test_run_errors_exit_1_with_one_line(env):
    bad_json = runner.invoke(tools_app, ["run", "calculate", "--args", "{oops"])
    assert bad_json.exit_code == 1 and "not valid JSON" in bad_json.output
    unknown = runner.invoke(tools_app, ["run", "nope"])
    assert unknown.exit_code == 1 and "unknown tool" in unknown.output
    as_json = runner.invoke(
        tools_app, ["run", "calculate", "--args", '{"expression": "1/0"}', "--json"]
    )
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["is_error"] is True


def test_run_plain_text_and_disable_by_env(env, monkeypatch):
    result = runner.invoke(tools_app, ["run", "calculate", "--args", '{"expression": "2 ** 10"}'])
    assert result.exit_code == 0 and result.stdout.startswith("2 ** 10 = 1024")
    monkeypatch.setenv("HUIJIN_DISABLED_TOOLS", "calculate,get_quote")
    listed = json.loads(runner.invoke(tools_app, ["list", "--json"]).stdout)
    assert "calculate" not in {schema["function"]["name"] for schema in listed}


def test_chart_writes_a_png(env, snapshot_dir):
    path = env / "chart.png"
    args = '{"tickers": ["AAPL", "SPY"], "start": "2024-01-02", "end": "2024-03-28"}'
    result = runner.invoke(tools_app, ["run", "price_chart", "--args", args, "--png", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_new_scaffolds_and_the_module_lists_after_one_edit(env, monkeypatch):
    result = runner.invoke(
        tools_app,
        ["new", "cli_made_tool", "--package-dir", str(env / "pkg"), "--tests-dir", str(env / "t")],
    )
    assert result.exit_code == 0, result.output
    assert (env / "pkg" / "cli_made_tool.py").is_file() and (
        env / "t" / "test_cli_made_tool.py"
    ).is_file()
    assert "HUIJIN_TOOL_MODULES=cli_made_tool" in result.stdout
    monkeypatch.syspath_prepend(str(env / "pkg"))
    monkeypatch.setenv("HUIJIN_TOOL_MODULES", "cli_made_tool")  # the one edit
    listed = json.loads(runner.invoke(tools_app, ["list", "--json"]).stdout)
    assert "cli_made_tool" in {schema["function"]["name"] for schema in listed}
    again = runner.invoke(
        tools_app,
        ["new", "cli_made_tool", "--package-dir", str(env / "pkg"), "--tests-dir", str(env / "t")],
    )
    assert again.exit_code == 1 and "already exists" in again.output
