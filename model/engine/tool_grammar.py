"""Grammar-constrained tool calls (xgrammar): whatever a model writes is one valid Hermes call.

The grammar accepts exactly one Hermes block,

    <tool_call>\n{"name": "<one offered tool>", "arguments": {<that tool's JSON schema>}}\n</tool_call>

with no free whitespace (a small model otherwise pads with spaces and newlines until the token
budget runs out) and, optionally, tickers restricted to the symbols the market data knows (an
enum instead of the schema's pattern). A `LogitsProcessor` then masks, at each step, every token
the grammar cannot accept next; after the closing tag only an end-of-turn token remains.

Used by the engine's callers through the per-request `logits_processor=` hook: the agent (its
first turn must call a tool) and the OpenAI-compatible server (`tool_choice: "required"`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Sequence
from typing import Any

import torch
import xgrammar as xgr

from model.engine.hermes import TOOL_CALL_CLOSE, TOOL_CALL_OPEN
from model.engine.types import ToolSpec

_TICKER_KEYS = ("ticker", "benchmark", "tickers")


def call_schema(specs: Sequence[ToolSpec], known_tickers: Collection[str] = ()) -> dict[str, Any]:
    """JSON schema of `{"name": ..., "arguments": {...}}` for any one of the offered tools."""
    options = []
    for spec in specs:
        function = spec.get("function", spec)
        arguments = _bound_patterns(
            _constrain_tickers(copy.deepcopy(function["parameters"]), known_tickers)
        )
        arguments.setdefault("additionalProperties", False)
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": arguments},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


MAX_ITEMS_IN_CALL = 40
_OPEN_REPEAT = re.compile(r"^\^?(\[[^\]]+\])\+\$?$")


def _bound_patterns(schema: Any) -> Any:
    """`pattern: ^[...]+$` with a maxLength becomes `^[...]{min,max}$`.

    xgrammar ignores minLength/maxLength next to a pattern, and an unbounded string is where a
    small model runs away until the token budget is spent.
    """
    if isinstance(schema, list):
        return [_bound_patterns(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _bound_patterns(value) for key, value in schema.items()}
    if out.get("type") == "array":  # a list the model writes itself: never a runaway
        out["maxItems"] = min(int(out.get("maxItems", MAX_ITEMS_IN_CALL)), MAX_ITEMS_IN_CALL)
    match = _OPEN_REPEAT.match(str(out.get("pattern", "")))
    if match and "maxLength" in out:
        low = max(int(out.get("minLength", 1)), 1)
        out["pattern"] = f"^{match.group(1)}{{{low},{int(out['maxLength'])}}}$"
        out.pop("minLength", None)
        out.pop("maxLength", None)
    return out


def _constrain_tickers(schema: Any, known: Collection[str], key: str = "") -> Any:
    """Replace ticker patterns with an enum of the known symbols, wherever tickers appear."""
    if isinstance(schema, list):
        return [_constrain_tickers(item, known, key) for item in schema]
    if not isinstance(schema, dict):
        return schema
    is_ticker = key in _TICKER_KEYS or "ticker symbol" in str(schema.get("description", "")).lower()
    if known and is_ticker and schema.get("type") == "string":
        schema = {k: v for k, v in schema.items() if k not in ("pattern", "minLength", "maxLength")}
        schema["enum"] = sorted(known)
        return schema
    out = {}
    for name, value in schema.items():
        if name == "properties":
            out[name] = {p: _constrain_tickers(s, known, p) for p, s in value.items()}
        elif name in ("items", "anyOf", "oneOf"):
            out[name] = _constrain_tickers(value, known, key)
        else:
            out[name] = value
    return out


def tool_call_grammar(
    specs: Sequence[ToolSpec], known_tickers: Collection[str] = ()
) -> xgr.Grammar:
    body = xgr.Grammar.from_json_schema(
        json.dumps(call_schema(specs, known_tickers)),
        any_whitespace=False,
        separators=(", ", ": "),
    )
    return xgr.Grammar.concat(
        xgr.Grammar.from_ebnf(f"root ::= {json.dumps(TOOL_CALL_OPEN + chr(10))}"),
        body,
        xgr.Grammar.from_ebnf(f"root ::= {json.dumps(chr(10) + TOOL_CALL_CLOSE)}"),
    )


class GrammarLogitsProcessor:
    """Masks the logits of one request to what the grammar allows next (one per request)."""

    def __init__(self, compiled: xgr.CompiledGrammar, vocab_size: int) -> None:
        self.matcher = xgr.GrammarMatcher(compiled)
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self.vocab_size = vocab_size
        self.num_accepted = 0

    def __call__(self, completion_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        # The engine hands over all completion ids so far; feed the matcher only the new ones.
        for token_id in completion_ids[self.num_accepted :]:
            if not self.matcher.accept_token(token_id):
                raise ValueError(f"token {token_id} breaks the tool-call grammar")
        self.num_accepted = len(completion_ids)
        self.matcher.fill_next_token_bitmask(self.bitmask)
        if logits.shape[-1] > self.vocab_size:  # padded embedding rows: never real tokens
            logits[self.vocab_size :] = float("-inf")
        row = logits.view(1, -1)  # (1, vocab)
        xgr.apply_token_bitmask_inplace(row, self.bitmask, vocab_size=self.vocab_size)
        return logits


class ToolCallGrammar:
    """Compiles tool-call grammars for one tokenizer (once per set of offered tools) and hands out
    a fresh logits processor per request."""

    def __init__(
        self,
        tokenizer: Any,
        stop_token_ids: Collection[int],
        known_tickers: Collection[str] = (),
        vocab_size: int | None = None,
    ) -> None:
        self.vocab_size = vocab_size or len(tokenizer)
        self.tokenizer = tokenizer
        self.stop_token_ids = sorted(stop_token_ids)
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=self.vocab_size, stop_token_ids=sorted(stop_token_ids)
        )
        self.compiler = xgr.GrammarCompiler(info)
        self.known_tickers = frozenset(known_tickers)
        self._compiled: dict[tuple[str, ...], xgr.CompiledGrammar] = {}

    def compile(self, specs: Sequence[ToolSpec]) -> xgr.CompiledGrammar:
        key = tuple(json.dumps(spec, sort_keys=True) for spec in specs)
        if key not in self._compiled:
            grammar = tool_call_grammar(specs, self.known_tickers)
            self._compiled[key] = self.compiler.compile_grammar(grammar)
        return self._compiled[key]

    def processor(self, specs: Sequence[ToolSpec]) -> GrammarLogitsProcessor:
        """A logits processor that makes one request's completion a call of one of `specs`."""
        return GrammarLogitsProcessor(self.compile(specs), self.vocab_size)


def engine_tool_grammar(engine: Any, known_tickers: Collection[str] = ()) -> ToolCallGrammar | None:
    """A ToolCallGrammar for an engine with a tokenizer and the `logits_processor=` hook, else
    None (a remote server constrains calls itself when asked with `tool_choice`)."""
    import inspect

    tokenizer = getattr(engine, "tokenizer", None)
    stream_chat = getattr(engine, "stream_chat", None)
    if tokenizer is None or stream_chat is None:
        return None
    if "logits_processor" not in inspect.signature(stream_chat).parameters:
        return None
    stop_ids = getattr(engine, "eos_ids", None) or [tokenizer.eos_token_id]
    return ToolCallGrammar(tokenizer, stop_ids, known_tickers)
