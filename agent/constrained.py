"""The agent's tool-call constraint: its first turn must be one valid call of an offered tool.

A financial question needs data, so the first model turn of an episode is forced (by the xgrammar
grammar of model/engine/tool_grammar.py) to call one of the offered tools with schema-valid
arguments and a ticker the market data knows; later turns, which read the tool results and
answer, are free text. Engines without the per-request logits hook (a remote OpenAI-compatible
server) get `tool_choice: "required"` on that turn instead (see agent/graph.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from model.engine.tool_grammar import GrammarLogitsProcessor, ToolCallGrammar, call_schema
from model.engine.types import ToolSpec

__all__ = ["ToolCallConstraint", "call_schema"]


class ToolCallConstraint:
    """Builds per-request processors; grammars are compiled once per set of offered tools."""

    def __init__(self, grammar: ToolCallGrammar) -> None:
        self.grammar = grammar

    def __call__(self, specs: Sequence[ToolSpec], step: int) -> GrammarLogitsProcessor | None:
        """A processor forcing a tool call on the episode's first turn; None afterwards."""
        if step > 0 or not specs:
            return None
        return self.grammar.processor(specs)
