"""`reason()`: the one entry point the CLI, the evals and the agent call.

result = reason(engine, "How many clips ...?", prm=load_prm("verifier"), method="ar", num_samples=4)
result.answer, result.chosen.steps, result.samples[i].rethinks, result.usage.generated_tokens
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

from model.engine.types import ChatEngine
from model.reasoning.ar_sampling import ar_sampling
from model.reasoning.baselines import sample_solutions, score_samples
from model.reasoning.config import NEEDS_PRM, Method, ReasoningConfig, Selection
from model.reasoning.policy import Policy
from model.reasoning.prm import ProcessRewardModel
from model.reasoning.result import ReasoningResult, Sample
from model.reasoning.voting import best_of_n, majority_vote, representative, weighted_vote


def reason(
    engine: ChatEngine,
    question: str,
    prm: ProcessRewardModel | None = None,
    config: ReasoningConfig | None = None,
    context: str = "",
    **options: Any,
) -> ReasoningResult:
    """Answer `question` with the configured method; `options` override fields of `config`.

    `context` is text the answer must agree with (tool results, a table); it is shown to the
    policy before the question and handed to the PRM. Raises ValueError for a bad option or a
    method that needs a PRM without one.
    """
    config = (config or ReasoningConfig()).with_options(**options)
    if not question.strip():
        raise ValueError("the question is empty")
    if config.method in NEEDS_PRM and prm is None:
        raise ValueError(
            f"method {config.method.value} needs a PRM: pass prm=load_prm('verifier') "
            "(or 'judge', or a PRM checkpoint path)"
        )
    started = time.perf_counter()
    policy = Policy(engine, question, context, config.system_prompt)
    if config.method is Method.AR and not policy.can_continue:
        raise ValueError(
            f"AR-Sampling continues a partial assistant turn, which {engine.model_id} cannot do "
            "through this backend (no render_prompt); use the transformers backend"
        )
    if config.method is Method.AR:
        samples = ar_sampling(policy, question, context, prm, config)  # type: ignore[arg-type]
    else:
        samples = sample_solutions(policy, question, context, prm, config)
    chosen_index, answer, votes = choose(samples, config)
    return ReasoningResult(
        method=config.method,
        question=question,
        answer=answer,
        chosen_index=chosen_index,
        samples=samples,
        votes=votes,
        prm_name=prm.name if prm is not None else None,
        config=config,
        elapsed_s=time.perf_counter() - started,
    )


def reselect(
    result: ReasoningResult,
    method: Method | str,
    num_samples: int | None = None,
    selection: Selection | str | None = None,
) -> ReasoningResult:
    """The same samples under another rule, or only the first `num_samples` of them.

    Self-consistency, Best-of-N and weighted voting differ only in the rule, so one set of scored
    samples serves all three; AR-Sampling's paths are independent, so its first k paths are an
    honest AR run at N = k (the reference code subsamples the same way). Switching between AR and
    the whole-solution methods is not allowed: their samples are made differently.
    """
    config = result.config.with_options(
        method=method,
        num_samples=num_samples or result.config.num_samples,
        selection=selection or result.config.selection,
    )
    is_ar = config.method is Method.AR
    if is_ar != (result.method is Method.AR):
        raise ValueError(
            "AR-Sampling paths and whole-solution samples cannot stand in for each other"
        )
    if config.num_samples > len(result.samples):
        raise ValueError(f"only {len(result.samples)} samples to choose from")
    samples = result.samples[: config.effective_num_samples]
    if config.method in NEEDS_PRM and any(s.score is None for s in samples):
        raise ValueError(f"method {config.method.value} needs PRM-scored samples")
    chosen_index, answer, votes = choose(samples, config)
    return ReasoningResult(
        method=config.method,
        question=result.question,
        answer=answer,
        chosen_index=chosen_index,
        samples=samples,
        votes=votes,
        prm_name=result.prm_name,
        config=config,
        elapsed_s=result.elapsed_s,
    )


def rescore(result: ReasoningResult, prm: ProcessRewardModel, context: str = "") -> ReasoningResult:
    """The same whole-solution samples scored by another PRM (copies; `result` is unchanged);
    `context` is what `reason()` was given.

    Two PRMs compared on one set of samples differ only in their scores, and the policy's work is
    paid once. AR-Sampling's paths cannot be rescored: the PRM decided how they grew.
    """
    if result.method is Method.AR:
        raise ValueError("AR-Sampling paths depend on their PRM; run AR again with the other PRM")
    samples = copy.deepcopy(result.samples)
    score_samples(samples, result.question, context, prm, result.config)
    chosen_index, answer, votes = choose(samples, result.config)
    return dataclasses.replace(
        result,
        answer=answer,
        chosen_index=chosen_index,
        samples=samples,
        votes=votes,
        prm_name=prm.name,
    )


def choose(
    samples: list[Sample], config: ReasoningConfig
) -> tuple[int | None, str | None, dict[str, float]]:
    """(index of the sample shown, the chosen answer, the votes) under the method's rule."""
    answers = [sample.answer for sample in samples]
    scores = [s.score for s in samples] if all(s.score is not None for s in samples) else None
    rule = _rule(config)
    if rule is Selection.BEST:
        assert scores is not None, "best-of-N needs scored samples"
        index = best_of_n(scores)  # type: ignore[arg-type]
        answer = samples[index].answer if index is not None else None
        return index, answer, _counts(answers)
    if rule is Selection.WEIGHTED:
        assert scores is not None, "weighted voting needs scored samples"
        answer, votes = weighted_vote(answers, scores)  # type: ignore[arg-type]
    else:
        answer, votes = majority_vote(answers)
    index = representative(answers, answer, scores)
    if index is None and samples:
        index = 0  # no sample stated an answer: show the first
    return index, answer, votes


def _rule(config: ReasoningConfig) -> Selection:
    if config.method is Method.AR:
        return config.selection
    if config.method in (Method.SC, Method.GREEDY):
        return Selection.MAJORITY
    return Selection.BEST if config.method is Method.BON else Selection.WEIGHTED


def _counts(answers: list[str | None]) -> dict[str, float]:
    return majority_vote(answers)[1]
