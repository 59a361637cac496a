from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from app.cli import app


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("HUIJIN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "absent.toml"))
    return tmp_path


def test_config_show_json_reports_values_and_sources(clean_env, monkeypatch):
    toml = clean_env / "mine.toml"
    toml.write_text('model = "/models/x"\n')
    monkeypatch.setenv("HUIJIN_OPENAI_API_KEY", "sk-secret")
    result = CliRunner().invoke(app, ["config", "show", "--json", "--config", str(toml)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["model"] == {"value": "/models/x", "source": f"config file {toml}"}
    assert shown["openai_api_key"]["value"] == "***"
    assert "sk-secret" not in result.stdout
    assert shown["host"]["value"] == "127.0.0.1"


def test_config_show_table(clean_env):
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "max_batch_size" in result.stdout and "default" in result.stdout


def test_bad_setting_is_one_line_not_a_traceback(clean_env, monkeypatch):
    monkeypatch.setenv("HUIJIN_MAX_BATCH_SIZE", "lots")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert "HUIJIN_MAX_BATCH_SIZE" in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_is_reported(clean_env):
    result = CliRunner().invoke(app, ["config", "show", "--config", "/no/such/file.toml"])
    assert result.exit_code == 1
    assert "does not exist" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["app", "--host", "0.0.0.0"], {}, "exposes the app"),
        (["app", "--share"], {}, "public share link"),
        (["app"], {"HUIJIN_AUTH": "no-colon"}, "user:password"),
    ],
)
def test_app_refuses_unsafe_or_bad_login_settings(clean_env, monkeypatch, args, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
