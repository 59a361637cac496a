"""Rebuild the model turns of one logged episode into training sequences, token for token.

A model turn is logged as exactly the ids the model was given (`prompt_ids`: system prompt, user
question, earlier turns and tool results, rendered by the chat template) and the ids it wrote
(`completion_ids`, with their behaviour logprobs). A training sequence is `prompt_ids +
completion_ids` with a mask that is true only on the completion: system, user and tool-result
tokens are context, never targets.

When a turn's prompt starts with the previous sequence exactly (the agent's next turn re-reads its
own call and then the tool result), the turn is appended to that sequence instead of starting a
new one: a causal model computes the same logits for the shared prefix either way, so this is
exact and saves re-encoding the ~1.5k-token prompt once per turn. A turn longer than
`max_length` is skipped and counted, never truncated: cutting the prompt would train on a context
the model never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.trajectory import ModelTurnRecord, TrajectoryRecord


@dataclass
class Sample:
    """One training sequence: one or more consecutive model turns of one episode."""

    trajectory_id: str
    group_id: str
    input_ids: list[int] = field(default_factory=list)
    # True where the model wrote the token (it gets loss); false on every context token.
    completion_mask: list[bool] = field(default_factory=list)
    # log p_behaviour(token) where completion_mask is true, 0.0 elsewhere; aligned to input_ids.
    behaviour_logprobs: list[float] = field(default_factory=list)
    turn_indices: list[int] = field(default_factory=list)
    reward: float = 0.0
    is_correct: bool = False
    advantage: float = 0.0

    @property
    def num_completion_tokens(self) -> int:
        return sum(self.completion_mask)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class RebuildCounts:
    """Turns that did not become training tokens, by reason (reported, never silent)."""

    num_turns: int = 0
    too_long: int = 0
    empty: int = 0
    no_logprobs: int = 0

    def add(self, other: RebuildCounts) -> None:
        self.num_turns += other.num_turns
        self.too_long += other.too_long
        self.empty += other.empty
        self.no_logprobs += other.no_logprobs


def group_id_of(record: TrajectoryRecord) -> str:
    """The GRPO group: the same question within a run (the collect runner names it)."""
    extra = record.extra
    return str(extra.get("group_id") or extra.get("example_id") or record.question)


def rebuild_samples(
    record: TrajectoryRecord, max_length: int, need_logprobs: bool
) -> tuple[list[Sample], RebuildCounts]:
    """The episode's model turns as training sequences (see the module docstring)."""
    counts = RebuildCounts(num_turns=len(record.turns))
    samples: list[Sample] = []
    current: Sample | None = None
    for turn in record.turns:
        if not turn.completion_ids:
            counts.empty += 1
            continue
        if need_logprobs and turn.logprobs is None:
            counts.no_logprobs += 1
            continue
        if len(turn.prompt_ids) + len(turn.completion_ids) > max_length:
            counts.too_long += 1
            continue
        if current is not None and _extends(turn, current):
            _append(current, turn, start=len(current.input_ids))
        else:
            current = Sample(trajectory_id=record.id, group_id=group_id_of(record))
            _append(current, turn, start=0)
            samples.append(current)
    return samples, counts


def _extends(turn: ModelTurnRecord, sample: Sample) -> bool:
    n = len(sample.input_ids)
    return len(turn.prompt_ids) >= n and turn.prompt_ids[:n] == sample.input_ids


def _append(sample: Sample, turn: ModelTurnRecord, start: int) -> None:
    """Add the turn's new context (masked) and its completion (unmasked) to the sequence."""
    context = turn.prompt_ids[start:]
    completion = turn.completion_ids
    logprobs = turn.logprobs if turn.logprobs is not None else [0.0] * len(completion)
    sample.input_ids += [*context, *completion]
    sample.completion_mask += [False] * len(context) + [True] * len(completion)
    sample.behaviour_logprobs += [0.0] * len(context) + [float(lp) for lp in logprobs]
    sample.turn_indices.append(turn.turn_index)
