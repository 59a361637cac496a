"""The README is the user's reference: it must list every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from core.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [
        f"{ENV_PREFIX}{name.upper()}"
        for name in Settings.model_fields
        if f"`{ENV_PREFIX}{name.upper()}`" not in text
    ]
    assert not missing, f"add these settings to the README's table: {missing}"


def test_readme_has_the_two_setup_commands():
    text = README.read_text()
    assert "make app" in text and "make test" in text
