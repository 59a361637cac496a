"""The real text NQKV is measured on: FinQA filing excerpts and GSM8K questions (general text).

Read from the benchmark files under `benchmarks_dir` (see shared/data/benchmarks/SOURCES.md);
nothing is copied into the repository. When a file is missing, a short public-domain paragraph
written for this project stands in, and the result says so through the text's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

FINQA_FILE = Path("finqa/derived_my_Fin_Skill/finqa_test.json")
GSM8K_FILE = Path("gsm8k/test.jsonl")

FALLBACK_TEXT = (
    "The river ran low that autumn, and the mill by the bridge turned only in the mornings. "
    "The miller kept a ledger of every sack of grain, the price paid and the flour returned, "
    "and at the end of each month he added the columns twice, once from the top and once from "
    "the bottom, because a sum that agrees with itself is the only kind he trusted. "
)


def _finqa_contexts(benchmarks_dir: Path) -> list[str]:
    data = json.loads((benchmarks_dir / FINQA_FILE).read_text(encoding="utf-8"))
    return [item["context"] for item in data["data"]]


def _gsm8k_questions(benchmarks_dir: Path) -> list[str]:
    lines = (benchmarks_dir / GSM8K_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def _take(tokenizer: Any, parts: list[str], num_tokens: int) -> torch.Tensor:
    """(1, num_tokens) ids of the parts joined by blank lines, starting with BOS if the model has one."""
    ids: list[int] = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    for part in parts:
        ids += tokenizer(part + "\n\n", add_special_tokens=False).input_ids
        if len(ids) >= num_tokens:
            break
    body = ids[1:] if tokenizer.bos_token_id is not None else list(ids)
    if not body:
        raise ValueError("no text to take tokens from; check the benchmark files")
    while len(ids) < num_tokens:  # too little text: repeat it (only the fallback gets here)
        ids += body
    return torch.tensor([ids[:num_tokens]])


def load_calibration(
    benchmarks_dir: Path | None, tokenizer: Any, num_tokens: int
) -> torch.Tensor | None:
    """(1, num_tokens) ids of FinQA excerpts from the 81st on.

    The measured text starts at the first excerpt and the greedy prompt at the 51st; each takes
    only the few excerpts it needs (one is ~500-1000 tokens), so the three never overlap.
    """
    if benchmarks_dir is None or not (benchmarks_dir / FINQA_FILE).is_file():
        return None
    return _take(tokenizer, _finqa_contexts(benchmarks_dir)[80:], num_tokens)


def load_texts(
    benchmarks_dir: Path | None, tokenizer: Any, num_tokens: int, prompt_tokens: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """({text name: (1, num_tokens) ids}, (1, prompt_tokens) greedy prompt ids)."""
    texts: dict[str, torch.Tensor] = {}
    finqa: list[str] = []
    if benchmarks_dir is not None and (benchmarks_dir / FINQA_FILE).is_file():
        finqa = _finqa_contexts(benchmarks_dir)
        texts["finqa"] = _take(tokenizer, finqa[:50], num_tokens)
    if benchmarks_dir is not None and (benchmarks_dir / GSM8K_FILE).is_file():
        texts["gsm8k"] = _take(tokenizer, _gsm8k_questions(benchmarks_dir), num_tokens)
    if not texts:
        texts["fallback"] = _take(tokenizer, [FALLBACK_TEXT] * 4, num_tokens)
    # The greedy prompt comes from excerpts not in the perplexity text.
    prompt_parts = finqa[50:] or [FALLBACK_TEXT] * 4
    return texts, _take(tokenizer, prompt_parts, prompt_tokens)
