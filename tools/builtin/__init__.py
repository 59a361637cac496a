"""The built-in tools. Each module exposes `build_tools(context) -> list[BaseTool]`.

To add a built-in tool module, list it in BUILTIN_MODULES (`huijin tools new` tells you so).
"""

from __future__ import annotations

BUILTIN_MODULES = [
    "tools.builtin.prices",
    "tools.builtin.returns",
    "tools.builtin.risk",
    "tools.builtin.compare",
    "tools.builtin.company",
    "tools.builtin.fundamentals",
    "tools.builtin.calculator",
    "tools.builtin.tvm",
    "tools.builtin.position",
    "tools.builtin.portfolio",
    "tools.builtin.chart",
]
