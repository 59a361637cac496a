"""Hugging Face PRMs of the two published families, loaded from a checkpoint directory.

- `TokenProbPRM`: a causal LM trained to say "+" or "-" after each step; the step's score is
  P(+) / (P(+) + P(-)) at that position. Two input formats:
  * "chat" (RLHFlow/Llama3.1-8B-PRM-*): one user turn per step (the first prefixed by the
    question), each answered by an assistant turn "+"; read at the position before each "+".
  * "tag" (Math-Shepherd): "question step1 ки\\nstep2 ки..."; read at each step tag "ки".
- `RewardHeadPRM`: a transformer with a per-token classification head (Qwen2.5-Math-PRM, TRL
  PRMs): the assistant turn is the steps each followed by a separator ("<extra_0>"), and the
  score is the head's positive-class probability at each separator.

Positions are found from character offsets of the rendered text, never by searching for token
ids, so a "+" inside a step or a tokenizer that merges the tag with its neighbour cannot shift
them. Everything runs in eval mode, without gradients, in batches of `batch_size`.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from model.reasoning.prm import Solution

QWEN_PRM_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
MATH_SHEPHERD_TAG = "ки"


class PRMLoadError(ValueError):
    """A PRM checkpoint cannot be used; the message says what to do."""


class _Checkpoint:
    """Tokenizer + model from a directory, on one device, in eval mode."""

    def __init__(self, path: str | Path, model_class: Any, device: str, dtype: str, **kwargs: Any):
        from transformers import AutoTokenizer

        self.path = Path(path).expanduser()
        if not (self.path / "config.json").is_file():
            raise PRMLoadError(f"{self.path} is not a checkpoint directory (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        if not self.tokenizer.is_fast:
            raise PRMLoadError(f"{self.path}: the PRM needs a fast tokenizer (tokenizer.json)")
        dtypes = {
            "auto": None,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
        }
        if dtype not in dtypes:
            raise PRMLoadError(f"PRM dtype must be one of {', '.join(dtypes)}; got {dtype!r}")
        torch_dtype = dtypes[dtype]
        if torch_dtype is None:
            torch_dtype = torch.float32 if device == "cpu" else torch.bfloat16
        self.model = model_class.from_pretrained(self.path, dtype=torch_dtype, **kwargs)
        self.model.to(device).eval()
        self.device = device

    def encode(
        self, texts: Sequence[str], add_special_tokens: bool = False
    ) -> tuple[dict[str, torch.Tensor], list[list[tuple]]]:
        """Right-padded batch plus each text's token offsets (padding never moves a position).

        Chat-rendered text already holds its special tokens; plain text (Math-Shepherd) gets the
        tokenizer's BOS as its training did. Added tokens have empty spans, so no step maps to them.
        """
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id or 0
        rows = [
            self.tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
            for text in texts
        ]
        length = max(len(row["input_ids"]) for row in rows)
        input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            input_ids[i, :n] = torch.tensor(row["input_ids"])
            attention_mask[i, :n] = 1
        batch = {
            "input_ids": input_ids.to(self.device),
            "attention_mask": attention_mask.to(self.device),
        }
        return batch, [list(row["offset_mapping"]) for row in rows]


def token_at(offsets: Sequence[tuple[int, int]], char_index: int) -> int:
    """Index of the token whose span covers `char_index`."""
    for i, (start, end) in enumerate(offsets):
        if start <= char_index < end:
            return i
    raise AssertionError(f"no token covers character {char_index}")


def read_architecture(path: str | Path) -> tuple[str, dict[str, Any]]:
    """The checkpoint's first declared architecture and its config, for choosing a PRM class."""
    config_file = Path(path).expanduser() / "config.json"
    if not config_file.is_file():
        raise PRMLoadError(f"{path} is not a PRM checkpoint directory (no config.json)")
    config = json.loads(config_file.read_text())
    architectures = config.get("architectures") or [""]
    return str(architectures[0]), config


class _BatchedCheckpointPRM(abc.ABC):
    """Scores solutions `batch_size` at a time; subclasses render and read one batch."""

    batch_size: int

    def score(self, solutions: Sequence[Solution]) -> list[list[float]]:
        scores: list[list[float]] = []
        for first in range(0, len(solutions), self.batch_size):
            scores.extend(self._score_batch(solutions[first : first + self.batch_size]))
        return scores

    @abc.abstractmethod
    def _score_batch(self, solutions: Sequence[Solution]) -> list[list[float]]:
        """Per-step scores of one batch of solutions."""


class TokenProbPRM(_BatchedCheckpointPRM):
    """A "+/-" PRM: P(+) after each step, RLHFlow ("chat") or Math-Shepherd ("tag") format."""

    def __init__(
        self,
        path: str | Path,
        prm_format: str = "auto",
        device: str = "cpu",
        dtype: str = "auto",
        batch_size: int = 4,
        good_token: str = "+",
        bad_token: str = "-",
    ) -> None:
        from transformers import AutoModelForCausalLM

        self._ckpt = _Checkpoint(path, AutoModelForCausalLM, device, dtype)
        tokenizer = self._ckpt.tokenizer
        if prm_format == "auto":
            prm_format = "chat" if tokenizer.chat_template else "tag"
        if prm_format not in ("chat", "tag"):
            raise PRMLoadError("prm_format must be auto, chat (RLHFlow) or tag (Math-Shepherd)")
        if prm_format == "chat" and not tokenizer.chat_template:
            raise PRMLoadError(f"{path}: the chat format needs a tokenizer with a chat template")
        self.prm_format = prm_format
        self.batch_size = batch_size
        self.good_token = good_token
        # The ids the head compares, as the reference code takes them: the last id of each token.
        self.candidate_ids = [
            tokenizer.encode(token, add_special_tokens=False)[-1]
            for token in (good_token, bad_token)
        ]

    @property
    def name(self) -> str:
        return f"token-prob:{self._ckpt.path.name}"

    def _score_batch(self, solutions: Sequence[Solution]) -> list[list[float]]:
        texts, char_positions = [], []
        for solution in solutions:
            render = self._render_chat if self.prm_format == "chat" else self._render_tagged
            text, positions = render(solution) if solution.steps else ("", [])
            texts.append(text or " ")
            char_positions.append(positions)
        batch, offsets = self._ckpt.encode(texts, add_special_tokens=self.prm_format == "tag")
        with torch.no_grad():
            logits = self._ckpt.model(**batch).logits  # (batch, tokens, vocab)
        probs = logits[:, :, self.candidate_ids].float().softmax(dim=-1)[:, :, 0]  # P(+)
        results = []
        for row, (positions, row_offsets) in enumerate(zip(char_positions, offsets, strict=True)):
            tokens = [self._read_index(token_at(row_offsets, c)) for c in positions]
            results.append([float(probs[row, t]) for t in tokens])
        return results

    def _read_index(self, token: int) -> int:
        # chat: the logits before the "+" predict it; tag: the logits at the tag predict +/-.
        return token - 1 if self.prm_format == "chat" else token

    def _render_chat(self, solution: Solution) -> tuple[str, list[int]]:
        """The conversation text and the character index of each assistant "+"."""
        tokenizer = self._ckpt.tokenizer
        question = (
            f"{solution.context}\n\n{solution.question}" if solution.context else solution.question
        )
        conversation: list[dict[str, str]] = []
        positions = []
        for k, step in enumerate(solution.steps):
            text = f"{question} {step}" if k == 0 else step
            conversation.append({"role": "user", "content": text})
            prefix = tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True
            )
            conversation.append({"role": "assistant", "content": self.good_token})
            positions.append(len(prefix))
        full = tokenizer.apply_chat_template(conversation, tokenize=False)
        for position in positions:
            if full[position : position + len(self.good_token)] != self.good_token:
                raise PRMLoadError(
                    f"{self._ckpt.path}: its chat template does not put the assistant turn right "
                    "after the generation prompt; use prm_format='tag'"
                )
        return full, positions

    def _render_tagged(self, solution: Solution) -> tuple[str, list[int]]:
        """Math-Shepherd: question, then each step followed by " ки" and a newline."""
        question = (
            f"{solution.context}\n{solution.question}" if solution.context else solution.question
        )
        text, positions = f"{question} ", []
        for step in solution.steps:
            text += f"{step.replace(MATH_SHEPHERD_TAG, '')} {MATH_SHEPHERD_TAG}"
            positions.append(len(text) - 1)  # the tag's last character
            text += "\n"
        return text, positions


class RewardHeadPRM(_BatchedCheckpointPRM):
    """A token-classification PRM: the head's positive probability at each step separator."""

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        dtype: str = "auto",
        batch_size: int = 4,
        step_separator: str = "<extra_0>",
        system_prompt: str = QWEN_PRM_SYSTEM_PROMPT,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModel, AutoModelForTokenClassification

        architecture, config = read_architecture(path)
        is_remote = "auto_map" in config and not architecture.endswith("ForTokenClassification")
        if is_remote and not trust_remote_code:
            raise PRMLoadError(
                f"{path} ({architecture}) ships its own model code; pass trust_remote_code=True "
                "(or --trust-remote-code) if you trust it"
            )
        model_class = AutoModel if is_remote else AutoModelForTokenClassification
        kwargs = {"trust_remote_code": True} if is_remote else {}
        self._ckpt = _Checkpoint(path, model_class, device, dtype, **kwargs)
        if step_separator not in self._ckpt.tokenizer.get_vocab():
            step_separator = "\n\n"  # TRL-style PRMs label the last token of each step
        self.step_separator = step_separator
        self.system_prompt = system_prompt
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return f"reward-head:{self._ckpt.path.name}"

    def _score_batch(self, solutions: Sequence[Solution]) -> list[list[float]]:
        rendered = [self._render(solution) for solution in solutions]
        batch, offsets = self._ckpt.encode([text for text, _ in rendered])
        with torch.no_grad():
            output = self._ckpt.model(**batch)
        logits = (
            output.logits if hasattr(output, "logits") else output[0]
        )  # (batch, tokens, labels)
        logits = logits.float()
        # Two or more labels: softmax, label 1 is "correct"; one label: a sigmoid reward.
        probs = (
            logits.softmax(dim=-1)[:, :, 1] if logits.shape[-1] > 1 else logits[:, :, 0].sigmoid()
        )
        results = []
        for row, ((_, positions), row_offsets) in enumerate(zip(rendered, offsets, strict=True)):
            tokens = [token_at(row_offsets, c) for c in positions]
            results.append([float(probs[row, t]) for t in tokens])
        return results

    def _render(self, solution: Solution) -> tuple[str, list[int]]:
        """Chat-rendered text with the separator after every step, and each separator's last char."""
        separator = self.step_separator
        steps = [step.replace(separator, " ").strip() for step in solution.steps]
        answer = "".join(step + separator for step in steps)
        question = (
            f"{solution.context}\n\n{solution.question}" if solution.context else solution.question
        )
        tokenizer = self._ckpt.tokenizer
        if tokenizer.chat_template:
            messages = [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
            text = tokenizer.apply_chat_template(messages, tokenize=False)
        else:
            text = f"{question}\n{answer}"
        start = text.find(answer) if answer else len(text)
        assert start >= 0, "the chat template changed the assistant text"
        positions, cursor = [], start
        for step in steps:
            cursor += len(step) + len(separator)
            positions.append(cursor - 1)
        return text or " ", positions
