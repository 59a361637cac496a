"""Financial calculator: safe arithmetic on an expression, by walking its syntax tree (never eval).

Allowed: numbers, + - * / // % **, parentheses, the constants pi and e, and the functions listed
in FUNCTIONS. Everything is computed in floating point; limits keep a hostile expression cheap.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from langchain_core.tools import BaseTool
from pydantic import Field

from tools.builtin.args import ToolArgs
from tools.result import ToolResult
from tools.tool import ToolContext, ToolError, define_tool

MAX_LENGTH = 500
MAX_NODES = 300
MAX_EXPONENT = 10_000

BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "ln": math.log,
    "log": math.log,  # log(x) natural, log(x, base)
    "log10": math.log10,
    "abs": abs,
    "round": lambda x, digits=0: round(x, int(digits)),  # digits arrive as floats
    "floor": math.floor,
    "ceil": math.ceil,
    "min": min,
    "max": max,
}
CONSTANTS = {"pi": math.pi, "e": math.e}


class CalculatorArgs(ToolArgs):
    expression: str = Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description="Arithmetic expression, e.g. '1000 * (1 + 0.05) ** 10' or 'sqrt(252) * 0.012'.",
    )


class Calculation(ToolResult):
    expression: str
    value: float

    def summary(self) -> str:
        return f"{self.expression} = {self.value:.10g}"


def evaluate(expression: str) -> float:
    """Value of an arithmetic expression; ToolError (one line) for anything else."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(
            f"cannot parse {expression!r} ({exc.msg}); write plain arithmetic"
        ) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError("expression too long; split it into smaller steps")
    try:
        value = _eval(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero in the expression") from None
    except OverflowError:
        raise ToolError("the result is too large to represent") from None
    except (ValueError, TypeError) as exc:
        raise ToolError(f"math error: {exc}") from None
    if isinstance(value, complex) or not math.isfinite(value):
        raise ToolError("the result is not a finite real number")
    return float(value)


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolError(f"exponent {right:g} is too large (limit {MAX_EXPONENT})")
        return BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and not node.keywords
    ):
        return FUNCTIONS[node.func.id](*(_eval(arg) for arg in node.args))
    allowed = ", ".join(sorted(FUNCTIONS))
    raise ToolError(
        f"unsupported element {ast.unparse(node)!r}; use numbers, + - * / // % **, "
        f"parentheses, pi, e and {allowed}"
    )


def calculate(args: CalculatorArgs, context: ToolContext) -> Calculation:
    """Evaluate an arithmetic expression exactly as written (no variables, no code). Use it for
    every computation instead of doing arithmetic in your head. Percentages as decimals."""
    value = evaluate(args.expression)
    return Calculation(
        expression=args.expression,
        value=value,
        source="computed (safe arithmetic evaluator)",
        as_of=context.today(),
    )


def build_tools(context: ToolContext) -> list[BaseTool]:
    return [define_tool(calculate, context)]
