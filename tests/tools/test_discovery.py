"""Third-party tools through the `huijin.tools` entry point (real importlib.metadata), extra
modules by setting, and `huijin tools new` scaffolding."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.discovery import ENTRY_POINT_GROUP, build_registry
from tools.scaffold import ScaffoldError, builtin_dir, scaffold_tool

PLUGIN = Path(__file__).parent / "example_plugin"


def install_as_distribution(site: Path, entry_points: str) -> None:
    """What `pip install` leaves behind: the module plus a .dist-info with entry_points.txt."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLUGIN / "huijin_example_tools.py", site)
    info = site / "huijin_example_tools-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: huijin-example-tools\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


def test_an_installed_package_adds_its_tool(tmp_path, monkeypatch, context):
    install_as_distribution(
        tmp_path / "site",
        f"[{ENTRY_POINT_GROUP}]\nexample = huijin_example_tools:build_tools\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = build_registry(context)
    assert "example_dividend_yield" in registry.names
    outcome = registry.call("example_dividend_yield", {"dividend": 2, "price": 100})
    assert outcome.text.startswith("dividend yield 2.00%")
    # enable/disable by setting applies to third-party tools too
    context.settings = context.settings.model_copy(
        update={"disabled_tools": ["example_dividend_yield"]}
    )
    assert "example_dividend_yield" not in build_registry(context).names


def test_a_broken_entry_point_is_skipped_and_reported(tmp_path, monkeypatch, context):
    install_as_distribution(
        tmp_path / "site", f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module_xyz:build_tools\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = build_registry(context)
    assert "calculate" in registry.names
    assert any("no_such_module_xyz" in error for error in registry.load_errors)


@pytest.mark.slow
def test_pip_installed_example_package(tmp_path, monkeypatch, context):
    source = shutil.copytree(PLUGIN, tmp_path / "src")  # build litter stays out of the repo
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(tmp_path / "site"),
            str(source),
        ],
        check=True,
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert "example_dividend_yield" in build_registry(context).names


def test_new_tool_scaffold_works_and_appears_after_one_edit(tmp_path, monkeypatch, context):
    made = scaffold_tool(
        "growth_check", package_dir=tmp_path / "mytools", tests_dir=tmp_path / "mytests"
    )
    assert made.module == "growth_check" and "HUIJIN_TOOL_MODULES=growth_check" in made.next_step
    monkeypatch.syspath_prepend(str(tmp_path / "mytools"))
    # The generated test passes as written.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(made.test_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": f"{tmp_path / 'mytools'}:{Path(__file__).parents[2]}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The one edit: name the module in settings; then it is listed.
    assert "growth_check" not in build_registry(context).names
    context.settings = context.settings.model_copy(update={"tool_modules": ["growth_check"]})
    registry = build_registry(context)
    assert "growth_check" in registry.names
    assert registry.call(
        "growth_check", {"amount": 100, "rate": 0.05}
    ).result.value == pytest.approx(105)


def test_scaffold_refuses_bad_names_and_overwrites(tmp_path):
    with pytest.raises(ScaffoldError, match="snake_case"):
        scaffold_tool("Bad-Name", package_dir=tmp_path)
    with pytest.raises(ScaffoldError, match="snake_case"):
        scaffold_tool("class", package_dir=tmp_path)
    scaffold_tool("twice", package_dir=tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold_tool("twice", package_dir=tmp_path)
    scaffold_tool("twice", package_dir=tmp_path, force=True)


def test_builtin_scaffold_says_which_list_to_edit(tmp_path, monkeypatch):
    monkeypatch.setattr("tools.scaffold.builtin_dir", lambda: tmp_path / "tools" / "builtin")
    made = scaffold_tool("fresh_tool", tests_dir=tmp_path / "tests")
    assert made.module == "tools.builtin.fresh_tool"
    assert "BUILTIN_MODULES" in made.next_step
    assert made.module_path == tmp_path / "tools" / "builtin" / "fresh_tool.py"
    assert builtin_dir().name == "builtin"
