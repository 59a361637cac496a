"""AR-Sampling (adaptive rectification, arXiv 2504.01317), as its reference code runs it.

N paths grow together, one step per round: every active path continues its partial assistant
turn until the next blank line ("\\n\\n", a step; also a new "##" header line, for models that
skip the blank line), the PRM scores each path's steps, and a path
whose newest step scores below p gets the trigger

    Wait! Maybe I made some mistakes in Step k. I need to rethink from it.
    ## Step k: <- the policy continues from here

appended after that step, which stays in the context. A step may be rethought at most m times in
a row; the counter resets when a step passes (or when a redo fails and m is spent). A path ends
at EOS, when its token budget is spent, or after `max_steps` rounds (the last round writes to
the end, as in the reference). The final step is never rethought.

Differences from the reference, each on purpose: k falls back to the step's position when the
model wrote no "Step k:" header (the reference then skips the rethink); and token counts are
recorded for every path (the reference left them at 0); a "step" that is only a blank line is
drawn again (at most twice, sampled paths only) rather than scored as a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.engine.types import ChatResult, FinishReason, SamplingParams
from model.reasoning.answers import extract_answer
from model.reasoning.config import ReasoningConfig
from model.reasoning.policy import Policy, TokenUsage
from model.reasoning.prm import ProcessRewardModel, Solution, aggregate_scores, check_scores
from model.reasoning.result import Rethink, Sample, Step
from model.reasoning.steps import STEP_SEPARATOR, STEP_STOPS, split_steps, step_header, step_number

_MAX_BLANK_STEPS = 2


def rethink_trigger(step_number: int) -> str:
    """The exact text appended after a weak step k: the paper's sentence, then a new header."""
    return (
        f"Wait! Maybe I made some mistakes in Step {step_number}. I need to rethink from it.\n"
        f"{step_header(step_number)}"
    )


@dataclass
class _Path:
    index: int
    text: str = ""  # the assistant turn so far, as the policy will be asked to continue it
    pending: str = ""  # text we appended since the last step (prefill header or a trigger)
    steps: list[Step] = field(default_factory=list)
    rethinks: list[Rethink] = field(default_factory=list)
    rethinks_in_a_row: int = 0
    blank_in_a_row: int = 0
    is_pending_rethink: bool = False
    usage: TokenUsage = field(default_factory=TokenUsage)
    finish_reason: str = ""

    @property
    def is_done(self) -> bool:
        return bool(self.finish_reason)


def ar_sampling(
    policy: Policy, question: str, context: str, prm: ProcessRewardModel, config: ReasoningConfig
) -> list[Sample]:
    """Run AR-Sampling for one question; returns the N finished paths as samples."""
    prefill = step_header(1) if config.prefill_step_header else ""
    paths = [_Path(index=i, text=prefill, pending=prefill) for i in range(config.num_samples)]
    for round_index in range(config.max_steps):
        active = [path for path in paths if not path.is_done]
        if not active:
            break
        is_last_round = round_index == config.max_steps - 1
        params = [_step_params(path, round_index, is_last_round, config) for path in active]
        results = policy.continue_many([path.text for path in active], params)
        grown = [
            path
            for path, result in zip(active, results, strict=True)
            if _append_step(path, result, policy.is_end_of_turn(result) or is_last_round, config)
        ]
        solutions = [Solution(question, tuple(s.text for s in p.steps), context) for p in grown]
        scores = prm.score(solutions) if solutions else []
        check_scores(prm.name, solutions, scores)
        for path, row in zip(grown, scores, strict=True):
            for step, score in zip(path.steps, row, strict=True):
                step.score = score
        for path in grown:
            if not path.is_done:
                _maybe_rethink(path, config)
    for path in paths:
        if not path.is_done:
            path.finish_reason = "max_steps"
    return [_to_sample(path, config) for path in paths]


def _step_params(
    path: _Path, round_index: int, is_last_round: bool, config: ReasoningConfig
) -> SamplingParams:
    remaining = config.max_tokens - path.usage.generated_tokens
    seed = None if config.seed is None else config.seed + 1000 * path.index + round_index
    return SamplingParams(
        max_new_tokens=max(1, remaining),
        temperature=config.temperature,
        top_p=config.top_p,
        stop=() if is_last_round else STEP_STOPS,
        seed=seed,
        logprobs=False,
    )


def _append_step(path: _Path, result: ChatResult, is_end: bool, config: ReasoningConfig) -> bool:
    """Add what the policy wrote as one step (several if it wrote to the end in one go).

    Returns whether the path has new steps to score.
    """
    path.usage.add(result)
    is_blank = not result.text.strip()
    if is_blank and not is_end:
        # Only a blank line or a bare "##" came before the stop: nothing to score. A sampled path
        # tries again next round (new seed); greedy would repeat itself, so it ends.
        path.blank_in_a_row += 1
        is_retry = config.temperature > 0 and path.blank_in_a_row <= _MAX_BLANK_STEPS
        if is_retry and path.usage.generated_tokens < config.max_tokens:
            return False
        is_end = True
    path.blank_in_a_row = 0
    chunk = path.pending + result.text
    path.text += result.text
    path.pending = ""
    is_redo, path.is_pending_rethink = path.is_pending_rethink, False
    pieces = split_steps(chunk) if is_end else [chunk.strip()]
    num_steps = len(path.steps)
    for piece in (p for p in pieces if p):
        number = step_number(piece)
        if number is None:
            number = path.steps[-1].number + 1 if path.steps else 1
        path.steps.append(Step(text=piece, number=number, is_rethink=is_redo))
        is_redo = False
    if (
        result.finish_reason is FinishReason.LENGTH
        or path.usage.generated_tokens >= config.max_tokens
    ):
        path.finish_reason = "length"
    elif is_end:
        path.finish_reason = "stop"
    else:
        path.text += STEP_SEPARATOR  # the engine cut the stop string off; the step ends with it
    return len(path.steps) > num_steps


def _maybe_rethink(path: _Path, config: ReasoningConfig) -> None:
    weak = path.steps[-1]
    assert weak.score is not None
    if weak.score < config.threshold and path.rethinks_in_a_row < config.max_rethinks:
        trigger = rethink_trigger(weak.number)
        path.rethinks.append(
            Rethink(
                step_index=len(path.steps) - 1,
                step_number=weak.number,
                score=weak.score,
                trigger=trigger,
                offset=len(path.text),
            )
        )
        weak.triggered_rethink = True
        path.text += trigger
        path.pending = trigger
        path.is_pending_rethink = True
        path.rethinks_in_a_row += 1
    else:
        path.rethinks_in_a_row = 0


def _to_sample(path: _Path, config: ReasoningConfig) -> Sample:
    scores = [step.score for step in path.steps if step.score is not None]
    return Sample(
        index=path.index,
        text=path.text,
        steps=path.steps,
        answer=extract_answer(path.text),
        score=aggregate_scores(scores, config.aggregation),
        usage=path.usage,
        finish_reason=path.finish_reason,
        rethinks=path.rethinks,
    )
