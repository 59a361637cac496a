"""The FinQA reasoning DSL: parse, execute against a table, and compare two programs.

A program is steps separated by commas, each `op(arg1, arg2)`; an argument is a number ("5829",
"14.1%", "$ 5,829"), a constant (`const_100`, `const_m1` = -1), a reference `#n` to step n's
result, or for the table ops a row name. Ops: add subtract multiply divide exp greater, and
table_sum table_average table_max table_min over the numbers of a row. The result is the last
step's, rounded to 5 decimals as the official evaluation does ("yes"/"no" for greater).

Program accuracy, as in the paper, asks whether a predicted program is the gold one up to
algebra (a + b == b + a): both are turned into sympy expressions over one symbol per distinct
argument and their difference must simplify to 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

ARITHMETIC = ("add", "subtract", "multiply", "divide", "exp", "greater")
TABLE_OPS = ("table_sum", "table_average", "table_max", "table_min")
STEP_RE = re.compile(r"\s*([a-z_]+)\s*\(\s*(.*?)\s*\)\s*(?:,|$)")


class ProgramError(ValueError):
    """The program cannot be parsed or executed; the message says which step and why."""


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[str, str]


def parse_program(program: str) -> list[Step]:
    text = program.strip().removesuffix("EOF").strip().rstrip(",")
    steps, position = [], 0
    while position < len(text):
        match = STEP_RE.match(text, position)
        if not match:
            raise ProgramError(f"cannot read a step at {text[position : position + 30]!r}")
        op, inside = match.group(1), match.group(2)
        if op not in ARITHMETIC + TABLE_OPS:
            raise ProgramError(f"step {len(steps)}: unknown operation {op!r}")
        parts = _split_args(inside)
        if op in TABLE_OPS and len(parts) == 1:
            parts = [parts[0], "none"]
        if len(parts) != 2:
            raise ProgramError(f"step {len(steps)}: {op} takes 2 arguments, got {len(parts)}")
        steps.append(Step(op, (parts[0], parts[1])))
        position = match.end()
    if not steps:
        raise ProgramError("the program is empty")
    return steps


def _split_args(inside: str) -> list[str]:
    # Row names may contain commas ("net revenue , total"); a numeric or #n argument never
    # does, so split on the last comma.
    if "," not in inside:
        return [inside.strip()] if inside.strip() else []
    head, tail = inside.rsplit(",", 1)
    return [head.strip(), tail.strip()]


def to_number(text: str) -> float | None:
    """A program or table number: '5,829', '$ 5829', '14.1%' (0.141), 'const_m1', '(32)'."""
    token = text.strip()
    if token.startswith("const_"):
        name = token.removeprefix("const_")
        return -1.0 if name == "m1" else _float(name)
    token = token.replace("$", "").replace(",", "").replace(" ", "")
    if token.startswith("(") and token.endswith(")"):  # accountants' negative: (5) is -5
        token = "-" + token[1:-1]
    token = token.split("(")[0]  # FinQA tables write "-32 ( 32 )": the number comes first
    if token.endswith("%"):
        value = _float(token[:-1].strip())
        return None if value is None else value / 100.0
    return _float(token)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _row(table: list[list[str]], name: str) -> list[float]:
    for row in table:
        if row and row[0].strip().lower() == name.strip().lower():
            values = [to_number(cell) for cell in row[1:]]
            if any(v is None for v in values) or not values:
                raise ProgramError(f"row {name!r} holds a cell that is not a number")
            return values  # type: ignore[return-value]
    raise ProgramError(f"no table row named {name!r}")


def execute_program(program: str, table: list[list[str]] | None = None) -> float | str:
    """The program's result: a float rounded to 5 decimals, or 'yes'/'no'."""
    results: list[float | str] = []
    for index, step in enumerate(parse_program(program)):
        if step.op in TABLE_OPS:
            row = _row(table or [], step.args[0])
            value: float | str = {
                "table_sum": sum(row),
                "table_average": sum(row) / len(row),
                "table_max": max(row),
                "table_min": min(row),
            }[step.op]
        else:
            a, b = (_argument(arg, results, index) for arg in step.args)
            try:
                value = _apply(step.op, a, b)
            except (ZeroDivisionError, OverflowError) as exc:
                raise ProgramError(f"step {index}: {step.op}({a}, {b}) fails: {exc}") from None
        results.append(value)
    last = results[-1]
    return last if isinstance(last, str) else round(last, 5)


def _argument(arg: str, results: list[float | str], index: int) -> float:
    if arg.startswith("#"):
        ref = int(arg[1:]) if arg[1:].isdigit() else -1
        if not 0 <= ref < len(results) or isinstance(results[ref], str):
            raise ProgramError(f"step {index}: {arg} is not an earlier numeric step")
        return results[ref]  # type: ignore[return-value]
    value = to_number(arg)
    if value is None:
        raise ProgramError(f"step {index}: argument {arg!r} is not a number")
    return value


def _apply(op: str, a: float, b: float) -> float | str:
    if op == "add":
        return a + b
    if op == "subtract":
        return a - b
    if op == "multiply":
        return a * b
    if op == "divide":
        return a / b
    if op == "exp":
        return float(a**b)
    return "yes" if a > b else "no"


def programs_equivalent(predicted: str, gold: str) -> bool:
    """Program accuracy: the two programs compute the same expression of the same arguments."""
    try:
        both = symbolic_pair(predicted, gold)
    except (ProgramError, IndexError, ValueError):
        return False
    if both is None:
        return _normalised(predicted) == _normalised(gold)
    a, b = both
    return sympy.simplify(a - b) == 0


def symbolic_pair(first: str, second: str) -> tuple[sympy.Expr, sympy.Expr] | None:
    """Both programs as expressions over shared symbols (one per distinct argument value or row
    name); None when either uses greater(), which has no algebraic form."""
    symbols: dict[str, sympy.Symbol] = {}
    out = []
    for program in (first, second):
        results: list[sympy.Expr] = []
        for step in parse_program(program):
            if step.op == "greater":
                return None
            args = [_leaf(arg, results, symbols) for arg in step.args]
            if step.op in TABLE_OPS:
                results.append(sympy.Function(step.op)(args[0]))
                continue
            a, b = args
            results.append(
                {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a / b, "exp": a**b}[
                    step.op
                ]
            )
        out.append(results[-1])
    return out[0], out[1]


def _leaf(arg: str, results: list[sympy.Expr], symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    if arg.startswith("#"):
        return results[int(arg[1:])]
    value = to_number(arg)
    key = f"{value:.10g}" if value is not None else arg.strip().lower()
    if key not in symbols:
        symbols[key] = sympy.Symbol(f"a{len(symbols)}")
    return symbols[key]


def _normalised(program: str) -> str:
    return re.sub(r"\s+", "", program.lower())


PROGRAM_IN_TEXT = re.compile(
    r"((?:(?:add|subtract|multiply|divide|exp|greater|table_sum|table_average|table_max|table_min)"
    r"\s*\([^()]*\)\s*,?\s*)+)"
)


def extract_program(reply: str) -> str | None:
    """The last DSL program written in a reply, if any."""
    found = PROGRAM_IN_TEXT.findall(reply)
    return found[-1].strip().rstrip(",") if found else None
