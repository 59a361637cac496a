"""The xgrammar tool-call grammar on the real embedded tokenizer."""

from __future__ import annotations

import pytest
import torch
import xgrammar as xgr

from agent.constrained import ToolCallConstraint, call_schema
from core.settings import load_settings
from model.engine.tool_grammar import ToolCallGrammar
from tests.agent.conftest import TODAY
from tools.discovery import build_registry
from tools.tool import ToolContext

TICKERS = ["AAPL", "NVDA", "SPY"]


@pytest.fixture(scope="module")
def specs():
    settings = load_settings(tool_modules=[], enabled_tools=None, disabled_tools=[])
    registry = build_registry(ToolContext(settings, today=TODAY))
    return [registry.schema(name) for name in ("get_returns", "get_quote", "tvm_npv")]


@pytest.fixture(scope="module")
def constraint(embedded_engine):
    return ToolCallConstraint(
        ToolCallGrammar(embedded_engine.tokenizer, embedded_engine.eos_ids, TICKERS)
    )


def accepts(constraint, specs, engine, text: str) -> bool:
    matcher = xgr.GrammarMatcher(constraint.grammar.compile(specs))
    return all(matcher.accept_token(i) for i in engine.tokenize(text)) and matcher.accept_token(
        min(engine.eos_ids)
    )


def test_valid_call_is_accepted(constraint, specs, embedded_engine):
    text = (
        '<tool_call>\n{"name": "get_returns", "arguments": {"start": "2023-01-01", '
        '"end": "2023-12-31", "ticker": "NVDA"}}\n</tool_call>'
    )
    assert accepts(constraint, specs, embedded_engine, text)


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "get_returns", "arguments": {"start": "2023-01-01", "ticker": "ZZZZ"}}',  # ticker
        '{"name": "get_price", "arguments": {"ticker": "NVDA"}}',  # tool not offered
        '{"name": "get_quote",  "arguments": {"ticker": "NVDA"}}',  # free whitespace
        '{"name": "tvm_npv", "arguments": {"rate": 0.05}}',  # required cashflows missing
    ],
)
def test_invalid_calls_are_rejected(constraint, specs, embedded_engine, body):
    assert not accepts(constraint, specs, embedded_engine, f"<tool_call>\n{body}\n</tool_call>")


def test_processor_forces_the_opening_tag_then_only_eos(constraint, specs, embedded_engine):
    processor = constraint(specs, step=0)
    assert constraint(specs, step=1) is None  # later turns answer freely
    vocab = len(embedded_engine.tokenizer)
    logits = processor([], torch.zeros(vocab))
    allowed = torch.isfinite(logits).nonzero().flatten().tolist()
    assert allowed and all(
        "<tool_call>".startswith(embedded_engine.detokenize([i])) for i in allowed
    )
    call = '<tool_call>\n{"name": "get_quote", "arguments": {"ticker": "AAPL"}}\n</tool_call>'
    logits = processor(embedded_engine.tokenize(call), torch.zeros(vocab))
    assert set(torch.isfinite(logits).nonzero().flatten().tolist()) <= set(embedded_engine.eos_ids)


def test_tickers_become_an_enum():
    spec = {
        "type": "function",
        "function": {
            "name": "compare_tickers",
            "parameters": {
                "type": "object",
                "properties": {
                    "tickers": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[A-Z]+$"},
                    }
                },
            },
        },
    }
    schema = call_schema([spec], TICKERS)
    items = schema["properties"]["arguments"]["properties"]["tickers"]["items"]
    assert items == {"type": "string", "enum": TICKERS}


def test_short_answers_stop_prose_but_not_a_further_call(embedded_engine):
    from agent.constrained import DECIDE_AFTER_TOKENS, ShortAnswerProcessor

    tokenizer, stop = embedded_engine.tokenizer, list(embedded_engine.eos_ids)
    prose = embedded_engine.tokenize("NVDA rose a lot in 2023 and then some more after that")
    processor = ShortAnswerProcessor(tokenizer, stop, DECIDE_AFTER_TOKENS)
    logits = torch.zeros(len(tokenizer))
    assert torch.isfinite(processor(prose[: DECIDE_AFTER_TOKENS - 1], logits.clone())).all()
    forced = processor(prose[:DECIDE_AFTER_TOKENS], logits.clone())
    assert torch.isfinite(forced).sum() == 1 and forced.argmax() == stop[0]
    opening = embedded_engine.tokenize('<tool_call>\n{"name": "get_quote", "arguments": {')
    call = ShortAnswerProcessor(tokenizer, stop, DECIDE_AFTER_TOKENS)
    assert torch.isfinite(call(opening, logits.clone())).all()
