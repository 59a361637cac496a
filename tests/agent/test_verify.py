"""The verified answer: the verdict rules (grounding, a stated answer, the PRM's last score,
agreement), AR-Sampling on the real embedded model over a real tool result, and the verification
logged on the episode's trajectory."""

from __future__ import annotations

import json

import pytest

from agent.verify import VerificationStatus, agrees, judge, stated_answer, tool_context
from model.reasoning import (
    Method,
    ReasoningConfig,
    ReasoningResult,
    Rethink,
    Sample,
    TokenUsage,
    rethink_trigger,
)
from model.reasoning.answers import extract_answer
from model.reasoning.baselines import numbered_steps
from model.reasoning.reason import choose
from model.reasoning.steps import split_steps
from tests.agent.conftest import ScriptedEngine
from tests.agent.test_graph import RETURNS_2023

QUESTION = "What was the total return of NVDA in 2023?"
AGENT_ANSWER = "NVDA returned 238.95% in 2023 (SPY 24.29%)."
# What get_returns says for NVDA in 2023 on the snapshot (the real tool's words, cut to its line).
TOOL_RESULT = (
    "NVDA 2022-12-30 to 2023-12-29: price return 238.95% (14.61 -> 49.52), annualised 240.37%; "
    "SPY 24.29% (annualised 24.38%)"
)
EVIDENCE = [QUESTION, TOOL_RESULT]


def reasoned(text: str, score: float = 0.7, threshold: float = 0.4) -> ReasoningResult:
    """A one-path AR result whose steps the PRM scored `score` (chosen by the real rule)."""
    config = ReasoningConfig(method=Method.AR, num_samples=1, threshold=threshold)
    steps = numbered_steps(split_steps(text))
    for step in steps:
        step.score = score
    sample = Sample(0, text, steps, extract_answer(text), score, TokenUsage(30, 400, 3), "stop")
    index, answer, votes = choose([sample], config)
    return ReasoningResult(Method.AR, QUESTION, answer, index, [sample], votes, "verifier", config)


BOXED = "## Step 1: The tool gives a price return of 238.95%.\n\nTherefore, the final answer is: "
RETHOUGHT = (
    "## Step 1: NVDA rose 312.5%.\n\n"
    "Wait! Maybe I made some mistakes in Step 1. I need to rethink from it.\n"
    "## Step 1: The tool gives a price return of 238.95%.\n\n"
    "Therefore, the final answer is: $\\boxed{238.95\\%}$."
)


def rethought() -> ReasoningResult:
    """A path whose first step (an invented number) was weak and redone, as AR-Sampling marks it."""
    result = reasoned(RETHOUGHT)
    sample = result.samples[0]
    weak, redo, _ = sample.steps
    weak.score, weak.triggered_rethink, redo.is_rethink = 0.25, True, True
    trigger = rethink_trigger(1)
    sample.rethinks.append(Rethink(0, 1, 0.25, trigger, RETHOUGHT.index(trigger)))
    return result


def test_a_grounded_stated_answer_that_agrees_confirms():
    verification = judge(reasoned(BOXED + "$\\boxed{238.95\\%}$."), AGENT_ANSWER, EVIDENCE)
    assert verification.status is VerificationStatus.CONFIRMED and verification.is_confirmed
    assert verification.answer == verification.verified_answer == "238.95%"
    assert verification.grounding.supported == ["238.95"]
    assert [s.score for s in verification.steps] == [0.7, 0.7]


def test_a_redone_step_does_not_count_against_the_answer():
    verification = judge(rethought(), AGENT_ANSWER, EVIDENCE)
    assert verification.status is VerificationStatus.CONFIRMED
    assert [(s.number, s.is_rethink, s.triggered_rethink) for s in verification.steps] == [
        (1, False, True),
        (1, True, False),
        (2, False, False),
    ]


def test_a_grounded_answer_that_differs_revises_and_says_so():
    verification = judge(reasoned(BOXED + "$\\boxed{14.61}$."), AGENT_ANSWER, EVIDENCE)
    assert verification.status is VerificationStatus.REVISED
    assert (
        verification.answer == "14.61" and "differs from the agent's answer" in verification.reason
    )


def test_an_unsupported_number_keeps_the_agents_answer():
    verification = judge(reasoned(BOXED + "$\\boxed{312.5\\%}$."), AGENT_ANSWER, EVIDENCE)
    assert verification.status is VerificationStatus.UNCONFIRMED
    assert verification.answer == AGENT_ANSWER and verification.verified_answer == "312.5%"
    assert verification.grounding.unsupported == ["312.5"]
    assert "312.5% has number(s) no tool returned (312.5)" in verification.reason


def test_no_stated_answer_keeps_the_agents_answer():
    # extract_answer falls back to the last number (14.61): that is not a stated answer.
    text = "## Step 1: \nThe total return of NVDA in 2023 was 238.95% (14.61)."
    result = reasoned(text)
    assert result.answer == "14.61" and stated_answer(result) is None
    verification = judge(result, AGENT_ANSWER, EVIDENCE)
    assert verification.status is VerificationStatus.UNCONFIRMED
    assert verification.answer == AGENT_ANSWER and verification.verified_answer is None
    assert verification.reason == "the step-by-step reasoning stated no final answer"


def test_reasoning_the_prm_still_rejects_keeps_the_agents_answer():
    verification = judge(reasoned(BOXED + "$\\boxed{238.95}$.", score=0.25), AGENT_ANSWER, EVIDENCE)
    assert verification.status is VerificationStatus.UNCONFIRMED
    assert verification.answer == AGENT_ANSWER
    assert "still scores 0.25, under p = 0.4, after 0 rethink(s)" in verification.reason


def test_agreement_allows_rounding_and_percent_decimal_switches():
    assert agrees("238.95%", AGENT_ANSWER) and agrees("239", "it rose 238.95%")
    assert agrees("0.2389", "a 23.89% gain") and not agrees("14.61", AGENT_ANSWER)
    assert agrees("yes", "Yes, it did.") and not agrees("no", "Yes, it did.")


def test_tool_context_names_each_result_and_cuts_long_ones():
    text = tool_context([("get_returns", TOOL_RESULT), ("get_quote", "close 49.52")])
    assert (
        text
        == f"Tool result (get_returns):\n{TOOL_RESULT}\n\nTool result (get_quote):\nclose 49.52"
    )
    cut = tool_context([("price_history", "1,2,3\n" * 2000)], max_chars=100)
    assert len(cut) < 140 and cut.endswith("[... tool results cut ...]")


def test_assistant_verifies_an_episode_and_logs_it(make_assistant, embedded_engine):
    scripted = make_assistant(ScriptedEngine([RETURNS_2023, AGENT_ANSWER]))
    answer = scripted.ask(QUESTION)
    before = scripted.store.get(answer.trajectory_id)

    # A backend that cannot continue a partial turn cannot run AR-Sampling: the answer stands.
    refused = scripted.verify(answer)
    assert refused.status is VerificationStatus.UNCONFIRMED and refused.answer == AGENT_ANSWER
    assert refused.reason.startswith("the verification could not run: AR-Sampling continues")

    # The real model re-derives the same logged episode (same database); p = 1 makes every step
    # that is not the last one weak, so the rethink machinery runs.
    real = make_assistant(
        embedded_engine,
        reason_num_samples=1,
        max_new_tokens=40,
        reason_temperature=0.0,
        reason_threshold=1.0,
    )
    verification = real.verify(answer)
    assert verification.reasoning is not None and verification.reasoning.method is Method.AR
    assert 0 < verification.usage.generated_tokens <= 40
    steps = verification.steps
    assert steps and all(step.score is not None for step in steps)
    assert verification.rethinks, "p = 1 must trigger a rethink"
    for rethink in verification.rethinks:
        assert steps[rethink.step_index].triggered_rethink and rethink.score < 1.0
        if rethink.step_index + 1 < len(steps):
            redo = steps[rethink.step_index + 1]
            assert redo.is_rethink and redo.text.startswith(
                f"Wait! Maybe I made some mistakes in Step {rethink.step_number}."
            )
    if verification.status is VerificationStatus.UNCONFIRMED:
        assert verification.answer == AGENT_ANSWER
    else:
        assert verification.grounding.is_grounded
        assert verification.answer == verification.verified_answer

    record = real.store.get(answer.trajectory_id)
    assert record.extra["verification"] == json.loads(json.dumps(verification.to_json()))
    assert record.extra["grounding"] == before.extra["grounding"]  # the episode's log is kept
    assert [t.completion_ids for t in record.turns] == [t.completion_ids for t in before.turns]
    logged = record.extra["verification"]
    assert logged["usage"]["generated_tokens"] == verification.usage.generated_tokens
    assert logged["prm"] == "verifier" and logged["config"]["threshold"] == 1.0
    assert [s["score"] for s in logged["steps"]] == [s.score for s in steps]


def test_an_episode_without_tool_results_is_not_verified(make_assistant, embedded_engine):
    answer = make_assistant(ScriptedEngine(["Hello, ask me about markets."])).ask("hi")
    verification = make_assistant(embedded_engine).verify(answer)
    assert verification.status is VerificationStatus.UNCONFIRMED
    assert verification.reasoning is None and verification.usage.generated_tokens == 0
    assert verification.reason == "the episode has no tool results to re-derive the answer from"


@pytest.mark.slow
def test_real_agent_episode_then_verification(make_assistant, embedded_engine):
    assistant = make_assistant(
        embedded_engine, agent_max_new_tokens=64, agent_max_steps=2, reason_num_samples=2,
        max_new_tokens=96,
    )  # fmt: skip
    answer = assistant.ask(QUESTION)
    verification = assistant.verify(answer)
    logged = assistant.store.get(answer.trajectory_id).extra["verification"]
    assert logged["status"] == verification.status.value
    if answer.tool_calls and any(not c["is_error"] for c in answer.tool_calls):
        assert verification.reasoning is not None and len(verification.reasoning.samples) == 2
    if verification.status is VerificationStatus.UNCONFIRMED:
        assert verification.answer == answer.answer
