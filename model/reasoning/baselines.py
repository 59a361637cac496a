"""The methods AR-Sampling is compared with: N whole solutions, then a rule picks one.

Greedy chain-of-thought (one sample, temperature 0), self-consistency (majority vote), Best-of-N
by PRM and PRM-weighted voting all draw their samples here, with the same prompt, prefill, token
budget per sample and seeds, so the only difference between them is the rule.
"""

from __future__ import annotations

from model.engine.types import SamplingParams
from model.reasoning.answers import extract_answer
from model.reasoning.config import Method, ReasoningConfig
from model.reasoning.policy import Policy, TokenUsage
from model.reasoning.prm import ProcessRewardModel, Solution, aggregate_scores, check_scores
from model.reasoning.result import Sample, Step
from model.reasoning.steps import split_steps, step_header, step_number


def sample_solutions(
    policy: Policy,
    question: str,
    context: str,
    prm: ProcessRewardModel | None,
    config: ReasoningConfig,
) -> list[Sample]:
    """Draw the method's samples in one concurrent round and score their steps (if a PRM is given)."""
    is_greedy = config.method is Method.GREEDY
    prefill = step_header(1) if config.prefill_step_header and policy.can_continue else ""
    params = [
        SamplingParams(
            max_new_tokens=config.max_tokens,
            temperature=0.0 if is_greedy else config.temperature,
            top_p=config.top_p,
            seed=None if config.seed is None or is_greedy else config.seed + i,
            logprobs=False,
        )
        for i in range(config.effective_num_samples)
    ]
    results = policy.sample_many(prefill, params)
    samples = []
    for i, result in enumerate(results):
        usage = TokenUsage()
        usage.add(result)
        text = prefill + result.text
        samples.append(
            Sample(
                index=i,
                text=text,
                steps=numbered_steps(split_steps(text)),
                answer=extract_answer(text),
                score=None,
                usage=usage,
                finish_reason=result.finish_reason.value,
            )
        )
    if prm is not None:
        score_samples(samples, question, context, prm, config)
    return samples


def numbered_steps(texts: list[str]) -> list[Step]:
    steps: list[Step] = []
    for text in texts:
        number = step_number(text)
        if number is None:
            number = steps[-1].number + 1 if steps else 1
        steps.append(Step(text=text, number=number))
    return steps


def score_samples(
    samples: list[Sample],
    question: str,
    context: str,
    prm: ProcessRewardModel,
    config: ReasoningConfig,
) -> None:
    """Fill in every step's score and each sample's aggregated score, in one batched PRM call."""
    solutions = [
        Solution(question, tuple(s.text for s in sample.steps), context) for sample in samples
    ]
    scores = prm.score(solutions)
    check_scores(prm.name, solutions, scores)
    for sample, row in zip(samples, scores, strict=True):
        for step, score in zip(sample.steps, row, strict=True):
            step.score = score
        sample.score = aggregate_scores(row, config.aggregation)
