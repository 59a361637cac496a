"""The agent's tool-call constraint: its first turn must be one valid call of an offered tool.

A financial question needs data, so the first model turn of an episode is forced (by the xgrammar
grammar of model/engine/tool_grammar.py) to call one of the offered tools with schema-valid
arguments and a ticker the market data knows; later turns, which read the tool results and
answer, are free text — or, when the final answer quotes the tools (`agent_answer=quote`), cut
short by `ShortAnswerProcessor` once they are clearly not another call. Engines without the per-request logits hook (a remote OpenAI-compatible
server) get `tool_choice: "required"` on that turn instead (see agent/graph.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from model.engine.hermes import TOOL_CALL_OPEN
from model.engine.tool_grammar import GrammarLogitsProcessor, ToolCallGrammar, call_schema
from model.engine.types import ToolSpec

__all__ = ["ShortAnswerProcessor", "ToolCallConstraint", "call_schema"]

# Enough tokens to see whether a turn opens a tool call ("<tool_call>" is 5 tokens in SmolLM2).
DECIDE_AFTER_TOKENS = 8


class ShortAnswerProcessor:
    """Ends a turn after a few tokens unless it opens another tool call.

    When the tools' own words are the answer, the model's answer turn only has to say whether
    it wants another call; letting it write 100 tokens of prose that are then discarded costs
    seconds a question on a CPU. The turn still ends by the model's stop token, so it is logged
    (token ids, logprobs) like any other.
    """

    def __init__(self, tokenizer: Any, stop_token_ids: Sequence[int], decide_after: int) -> None:
        self.tokenizer = tokenizer
        self.stop_id = int(stop_token_ids[0])
        self.decide_after = decide_after
        self.is_call = False

    def __call__(self, completion_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        if self.is_call or len(completion_ids) < self.decide_after:
            return logits
        text = self.tokenizer.decode(completion_ids, skip_special_tokens=True).lstrip()
        if text.startswith(TOOL_CALL_OPEN):
            self.is_call = True
            return logits
        stop = logits[..., self.stop_id].clone()
        logits.fill_(float("-inf"))
        logits[..., self.stop_id] = torch.where(torch.isfinite(stop), stop, 0.0)
        return logits


class ToolCallConstraint:
    """Builds per-request processors; grammars are compiled once per set of offered tools."""

    def __init__(self, grammar: ToolCallGrammar, short_answers: bool = False) -> None:
        self.grammar = grammar
        self.short_answers = short_answers

    def __call__(
        self, specs: Sequence[ToolSpec], step: int
    ) -> GrammarLogitsProcessor | ShortAnswerProcessor | None:
        """A processor forcing a tool call on the episode's first turn; afterwards none, or one
        that cuts a non-call turn short when the answer will quote the tools."""
        if step > 0:
            if not self.short_answers:
                return None
            grammar = self.grammar
            return ShortAnswerProcessor(
                grammar.tokenizer, grammar.stop_token_ids, DECIDE_AFTER_TOKENS
            )
        if not specs:
            return None
        return self.grammar.processor(specs)
