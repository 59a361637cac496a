from __future__ import annotations

import pytest

from core.settings import (
    EngineBackend,
    SettingsError,
    describe_settings,
    load_settings,
    mask_url_password,
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No HUIJIN_* variable or .env file of the developer's leaks into these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("HUIJIN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "absent.toml"))


def test_defaults():
    settings = load_settings()
    assert settings.backend is EngineBackend.TRANSFORMERS
    assert settings.model == "embedded"
    assert settings.host == "127.0.0.1"
    assert settings.resolved_database_url().startswith("sqlite:///")
    assert settings.resolved_database_url().endswith("huijin.db")


def test_priority_and_origin(monkeypatch, tmp_path):
    toml = tmp_path / "huijin.toml"
    toml.write_text('model = "/models/from-toml"\nport = 7000\nmax_batch_size = 4\n')
    (tmp_path / ".env").write_text("HUIJIN_PORT=7100\n")
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(toml))
    monkeypatch.setenv("HUIJIN_MAX_BATCH_SIZE", "8")
    settings, reports = describe_settings({"temperature": 0.7})
    origin = {r.name: r.source for r in reports}
    assert settings.model == "/models/from-toml" and origin["model"].startswith("config file")
    assert settings.port == 7100 and origin["port"] == ".env file"
    assert settings.max_batch_size == 8 and origin["max_batch_size"] == "environment"
    assert settings.temperature == 0.7 and origin["temperature"] == "argument"
    assert origin["device"] == "default"


def test_secrets_are_masked(monkeypatch):
    monkeypatch.setenv("HUIJIN_OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("HUIJIN_DATABASE_URL", "postgresql+psycopg://me:hunter2@db/huijin")
    settings, reports = describe_settings()
    shown = {r.name: r.value for r in reports}
    assert shown["openai_api_key"] == "***"
    assert "hunter2" not in shown["database_url"] and "me:***@db" in shown["database_url"]
    assert settings.openai_api_key.get_secret_value() == "sk-very-secret"


def test_bad_value_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("HUIJIN_PORT", "eighty")
    with pytest.raises(SettingsError, match="HUIJIN_PORT"):
        load_settings()
    monkeypatch.setenv("HUIJIN_PORT", "80")
    monkeypatch.setenv("HUIJIN_BACKEND", "tensorflow")
    with pytest.raises(SettingsError, match="HUIJIN_BACKEND"):
        load_settings()


def test_malformed_toml_is_a_settings_error(monkeypatch, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(bad))
    with pytest.raises(SettingsError, match=r"bad\.toml"):
        load_settings()


def test_mask_url_password_leaves_passwordless_urls():
    assert mask_url_password("sqlite:///x.db") == "sqlite:///x.db"
