"""`huijin tools new NAME`: write a working tool module and its test from a template."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

import tools.builtin

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,48}$")

MODULE_TEMPLATE = '''"""{title}: grows an amount by a rate (the scaffold's example; replace it)."""

from __future__ import annotations

from langchain_core.tools import BaseTool
from pydantic import Field

from tools.builtin.args import ToolArgs
from tools.result import ToolResult, fmt_num
from tools.tool import ToolContext, ToolError, define_tool


class {camel}Args(ToolArgs):
    # Every argument: a type, limits, and a description (the model reads it).
    amount: float = Field(gt=0, le=1e12, description="Starting amount.")
    rate: float = Field(ge=-0.99, le=10, description="Growth rate as a decimal (0.05 = 5%).")


class {camel}Result(ToolResult):
    amount: float
    rate: float
    value: float

    def summary(self) -> str:
        # The compact text the model sees; `source` and `as_of` are added after it.
        return f"{{fmt_num(self.amount)}} grown by {{self.rate:.2%}} is {{fmt_num(self.value)}}"


def {name}(args: {camel}Args, context: ToolContext) -> {camel}Result:
    """Grow an amount by one period's rate and give the resulting value.

    This docstring is the description the model reads: when you change what the tool does, say
    here what it answers and when to use it.
    """
    # Market data: context.market.period(ticker, start, end) -> bars, source, notes.
    # Database: `with context.database.session() as session: ...`.
    # Errors the user can fix: raise ToolError("one line that says what to do").
    if args.rate == 0:
        raise ToolError("rate is 0, so nothing changes; give a non-zero rate")
    return {camel}Result(
        amount=args.amount,
        rate=args.rate,
        value=args.amount * (1 + args.rate),
        source="computed",
        as_of=context.today(),
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool({name}, context)]
'''

TEST_TEMPLATE = """from __future__ import annotations

import pytest

from core.settings import load_settings
from tools.registry import ToolRegistry
from tools.tool import ToolContext
from {module} import build_tools


@pytest.fixture
def registry(tmp_path):
    context = ToolContext(load_settings(data_dir=tmp_path, market_live=False))
    yield ToolRegistry(build_tools(context))
    context.close()


def test_{name}_computes(registry):
    outcome = registry.call("{name}", {{"amount": 100, "rate": 0.05}})
    assert not outcome.is_error, outcome.text
    assert outcome.result.value == pytest.approx(105.0)
    assert "source: computed" in outcome.text


def test_{name}_bad_input_is_a_clear_error(registry):
    assert "amount" in registry.call("{name}", {{"amount": "lots", "rate": 0.1}}).text
    assert registry.call("{name}", {{"amount": 1, "rate": 0}}).is_error
"""


class ScaffoldError(ValueError):
    """The name or the destination is unusable; the message says what to change."""


@dataclass(frozen=True)
class Scaffolded:
    module_path: Path
    test_path: Path
    module: str  # the import path the test uses
    next_step: str


def builtin_dir() -> Path:
    return Path(tools.builtin.__file__).parent


def scaffold_tool(
    name: str,
    *,
    package_dir: Path | None = None,
    tests_dir: Path | None = None,
    module: str | None = None,
    force: bool = False,
) -> Scaffolded:
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{name!r} is not a usable tool name; use snake_case letters, digits and _ (2-49)"
        )
    is_builtin = package_dir is None or Path(package_dir).resolve() == builtin_dir().resolve()
    package_dir = Path(package_dir) if package_dir is not None else builtin_dir()
    if tests_dir is None:
        repo_tests = builtin_dir().parents[1] / "tests" / "tools"
        tests_dir = repo_tests if is_builtin and repo_tests.is_dir() else package_dir
    module = module or (f"tools.builtin.{name}" if is_builtin else name)
    module_path = package_dir / f"{name}.py"
    test_path = Path(tests_dir) / f"test_{name}.py"
    for path in (module_path, test_path):
        if path.exists() and not force:
            raise ScaffoldError(f"{path} already exists; pick another name or pass --force")
    camel = "".join(part.capitalize() for part in name.split("_"))
    title = name.replace("_", " ").capitalize()
    package_dir.mkdir(parents=True, exist_ok=True)
    Path(tests_dir).mkdir(parents=True, exist_ok=True)
    module_path.write_text(MODULE_TEMPLATE.format(name=name, camel=camel, title=title))
    test_path.write_text(TEST_TEMPLATE.format(name=name, module=module))
    if is_builtin:
        next_step = f'add "{module}" to BUILTIN_MODULES in {builtin_dir() / "__init__.py"}'
    else:
        next_step = (
            f"set HUIJIN_TOOL_MODULES={module} (with {package_dir} on PYTHONPATH), or declare "
            f'the entry point [project.entry-points."huijin.tools"] {name} = "{module}:build_tools"'
        )
    return Scaffolded(module_path, test_path, module, next_step)
