"""Episodes for the training tests, logged as the agent logs them.

`scripted_episode` renders a two-turn tool-use episode (tool call, tool result, answer) with the
engine's own chat template and the real tokenizer, so its ids are exactly what the model would
see; its behaviour logprobs are given. `sampled_episode` has the real embedded model write both
turns (real ids, real logprobs).
"""

from __future__ import annotations

import json
from typing import Any

from core.trajectory import ModelTurnRecord, ToolCallRecordModel, TrajectoryRecord
from model.engine.chat_template import ChatTemplate
from model.engine.hermes import format_tool_calls
from model.engine.tokenizer_fingerprint import tokenizer_fingerprint
from model.engine.types import SamplingParams

SYSTEM = "You answer questions about stock prices. Call a tool, then answer from its result."
TOOL = {
    "type": "function",
    "function": {
        "name": "get_quote",
        "description": "The close of a ticker on a day.",
        "parameters": {
            "type": "object",
            "properties": {"ticker": {"type": "string"}, "date": {"type": "string"}},
            "required": ["ticker", "date"],
        },
    },
}


def _call(ticker: str, day: str) -> dict[str, Any]:
    arguments = json.dumps({"ticker": ticker, "date": day})
    return {
        "id": "call_0",
        "type": "function",
        "function": {"name": "get_quote", "arguments": arguments},
    }


_FINGERPRINTS: dict[int, str] = {}


def fingerprint_of(tokenizer: Any) -> str:
    """The tokenizer's fingerprint, computed once per tokenizer object (it hashes 49k tokens)."""
    if id(tokenizer) not in _FINGERPRINTS:
        _FINGERPRINTS[id(tokenizer)] = tokenizer_fingerprint(tokenizer)
    return _FINGERPRINTS[id(tokenizer)]


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tool_result(ticker: str, day: str, close: float) -> str:
    return f"{ticker} close on {day}: {close:.2f}"


def episode_messages(question: str, ticker: str, day: str, close: float) -> list[list[dict]]:
    """The conversation before each of the two model turns."""
    first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    second = [
        *first,
        {"role": "assistant", "content": "", "tool_calls": [_call(ticker, day)]},
        {"role": "tool", "tool_call_id": "call_0", "content": tool_result(ticker, day, close)},
    ]
    return [first, second]


def scripted_episode(
    tokenizer: Any,
    *,
    question: str,
    ticker: str,
    day: str,
    close: float,
    answer: str,
    run_id: str | None = None,
    group_id: str = "q1",
    score: float | None = 1.0,
    logprob: float = -0.5,
    fingerprint: str | None = None,
    unsupported: list[str] | None = None,
) -> TrajectoryRecord:
    template = ChatTemplate(tokenizer)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    completions = [format_tool_calls([_call(ticker, day)]), answer]
    fingerprint = fingerprint_of(tokenizer) if fingerprint is None else fingerprint
    turns = []
    for index, (messages, text) in enumerate(
        zip(episode_messages(question, ticker, day, close), completions, strict=True)
    ):
        prompt_ids = _ids(tokenizer, template.render(messages, [TOOL]))
        completion_ids = [*_ids(tokenizer, text), end]
        turns.append(
            ModelTurnRecord(
                turn_index=index,
                prompt_ids=prompt_ids,
                completion_ids=completion_ids,
                logprobs=[logprob] * len(completion_ids),
                text=text,
                finish_reason="tool_calls" if index == 0 else "stop",
                tokenizer_fingerprint=fingerprint,
            )
        )
    return _record(
        question, ticker, day, close, answer, turns, run_id, group_id, score, unsupported
    )


# Two groups of two KO questions, one right and one wrong answer in each: GRPO signal everywhere.
TWO_GROUPS = [("a", 1.0, 56.97), ("a", 0.0, 55.1), ("b", 0.0, 12.5), ("b", 1.0, 13.0)]


def save_two_groups(store: Any, tokenizer: Any, run_id: str) -> None:
    """Log `TWO_GROUPS` as scripted episodes of run `run_id` (behaviour logprobs -2)."""
    for group, score, close in TWO_GROUPS:
        store.save(
            scripted_episode(
                tokenizer,
                question=f"What was KO's close? ({group})",
                ticker="KO",
                day="2023-11-06",
                close=close,
                answer=f"KO closed at {close}.",
                run_id=run_id,
                group_id=group,
                score=score,
                logprob=-2.0,
            )
        )


def sampled_episode(
    engine: Any,
    *,
    question: str,
    ticker: str,
    day: str,
    close: float,
    run_id: str | None,
    group_id: str,
    score: float,
    seed: int,
    max_new_tokens: int = 24,
) -> TrajectoryRecord:
    """Both turns written by the real model (sampled, seeded) on the scripted conversation."""
    turns, texts = [], []
    for index, messages in enumerate(episode_messages(question, ticker, day, close)):
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.8, seed=seed + index)
        result = engine.chat(messages, [TOOL], params)
        texts.append(result.text)
        turns.append(
            ModelTurnRecord(
                turn_index=index,
                prompt_ids=result.prompt_ids,
                completion_ids=result.completion_ids,
                logprobs=result.logprobs,
                text=result.text,
                finish_reason=result.finish_reason.value,
                tokenizer_fingerprint=engine.tokenizer_fingerprint,
            )
        )
    return _record(question, ticker, day, close, texts[-1], turns, run_id, group_id, score, None)


def _record(
    question: str,
    ticker: str,
    day: str,
    close: float,
    answer: str,
    turns: list[ModelTurnRecord],
    run_id: str | None,
    group_id: str,
    score: float | None,
    unsupported: list[str] | None,
) -> TrajectoryRecord:
    terms = {} if score is None else {"score": score, "correct": score >= 1.0, "method": "test"}
    return TrajectoryRecord(
        run_id=run_id,
        model_id="SmolLM2-135M-Instruct",
        question=question,
        final_answer=answer,
        stop_reason="answered",
        messages=[],
        extra={
            "group_id": group_id,
            "grounding": {"supported": [f"{close:.2f}"], "unsupported": unsupported or []},
        },
        reward=score,
        reward_terms=terms,
        turns=turns,
        tool_calls=[
            ToolCallRecordModel(
                turn_index=0,
                name="get_quote",
                arguments={"ticker": ticker, "date": day},
                result=tool_result(ticker, day, close),
            )
        ],
    )
