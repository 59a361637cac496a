"""How agent events become the page's messages (no server needed)."""

from __future__ import annotations

import json

import gradio as gr

from agent.api import AgentAnswer, AnswerEvent, TokenEvent, ToolCallEvent, ToolResultEvent
from agent.verify import judge
from app.ui.chat_view import THINKING, VERIFYING, EpisodeView, answer_footer, history_messages
from tests.agent.test_verify import AGENT_ANSWER, BOXED, EVIDENCE, reasoned, rethought
from tools.result import ToolOutcome, ToolResult

FIGURE = {"data": [{"type": "scatter", "x": ["2024-01-02", "2024-01-03"], "y": [100, 101]}]}


def _answer(text: str, unsupported: list[str] | None = None) -> AgentAnswer:
    return AgentAnswer(
        answer=text,
        stop_reason="answered",
        thread_id="t",
        trajectory_id="0123456789abcdef",
        grounding={"supported": [], "unsupported": unsupported or []},
        num_steps=2,
        duration_s=1.5,
    )


def test_tool_call_markup_is_never_shown_as_text() -> None:
    view = EpisodeView("How did NVDA do?")
    view.add(TokenEvent("<tool"))
    assert view.messages[-1].content == THINKING
    view.add(TokenEvent('_call>{"name": "get_returns"'))
    assert view.messages[-1].content == THINKING
    view.add(ToolCallEvent("c1", "get_returns", {"ticker": "NVDA", "start": "2023-01-01"}))
    assert [m.content for m in view.messages if m.content == THINKING] == []
    step = view.messages[-1]
    assert step.metadata["title"].startswith("Tool call · get_returns(")
    assert step.metadata["status"] == "pending"


def test_step_gets_its_result_and_chart_then_answer() -> None:
    view = EpisodeView("Plot NVDA")
    view.add(ToolCallEvent("c1", "price_chart", {"tickers": ["NVDA"]}))
    result = ToolResult(source="snapshot", as_of=None, figure=FIGURE)
    view.add(ToolResultEvent("c1", ToolOutcome("price_chart", {}, "chart drawn", result=result)))
    step = view.messages[1]
    assert step.metadata["status"] == "done" and "chart drawn" in step.content
    assert isinstance(view.messages[2].content, gr.Plot)
    view.add(TokenEvent("NVDA rose 5.00%"))
    assert view.messages[-1].content == "NVDA rose 5.00%"
    view.add(AnswerEvent(_answer("NVDA rose 5.00%.")))
    texts = [m.content for m in view.messages if isinstance(m.content, str)]
    assert texts.count("NVDA rose 5.00%.") == 1 and "NVDA rose 5.00%" not in texts
    assert view.messages[-1].metadata["title"] == "About this answer"


def test_error_result_and_failure_are_marked() -> None:
    view = EpisodeView("q")
    view.add(ToolCallEvent("c1", "get_quote", {"ticker": "ZZZZ"}))
    view.add(ToolResultEvent("c1", ToolOutcome("get_quote", {}, "error: no data", is_error=True)))
    assert view.messages[1].metadata["title"].startswith("Tool error")
    view.add(ToolCallEvent("c2", "get_quote", {"ticker": "AAPL"}))
    view.fail("The model could not answer")
    assert all(m.metadata.get("status") != "pending" for m in view.messages if m.metadata)
    assert view.messages[-1].content.startswith("⚠️ The model could not answer")


def test_footer_reports_unsupported_numbers() -> None:
    assert "numbers checked" in answer_footer(_answer("ok"))
    footer = answer_footer(_answer("42", unsupported=["42"]))
    assert "1 number(s) not found" in footer and "0123456789ab" in footer


def test_saved_thread_is_rendered_with_its_steps() -> None:
    call = {"id": "c1", "type": "function"}
    call["function"] = {"name": "get_quote", "arguments": json.dumps({"ticker": "AAPL"})}
    history = [
        {"role": "user", "content": "AAPL?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_quote", "content": "close 171.48"},
        {"role": "assistant", "content": "AAPL closed at 171.48."},
    ]
    shown = history_messages(history)
    assert [m.role for m in shown] == ["user", "assistant", "assistant"]
    assert "close 171.48" in shown[1].content and shown[1].metadata["status"] == "done"
    assert shown[2].content == "AAPL closed at 171.48."


def test_saved_thread_shows_the_replacing_answer_only() -> None:
    history = [
        {"role": "user", "content": "NVDA?"},
        {"role": "assistant", "content": "NVDA rose 312.5%."},
        {"role": "assistant", "content": "NVDA price return 238.95%"},
    ]
    assert [m.content for m in history_messages(history)] == ["NVDA?", "NVDA price return 238.95%"]


def _verified_view(verification) -> EpisodeView:
    view = EpisodeView("How did NVDA do in 2023?")
    view.add(AnswerEvent(_answer(AGENT_ANSWER)))
    view.begin_verification()
    pending = view.messages[-1]
    assert pending.content == VERIFYING and pending.metadata["status"] == "pending"
    view.show_verification(verification)
    return view


def test_verification_step_lists_scored_steps_marks_rethinks_then_the_answer() -> None:
    view = _verified_view(judge(rethought(), AGENT_ANSWER, EVIDENCE))
    step, verified = view.messages[-2], view.messages[-1]
    assert step.metadata["title"] == "Verification · 3 steps · 1 rethought"
    assert step.metadata["status"] == "done"
    lines = step.content.splitlines()
    assert lines[0] == "**Step 1** · score `0.25` · under p · ✗ weak, rethought"
    assert lines[1] == "> Step 1: NVDA rose 312.5%."  # the "##" would render as a heading
    assert "**Step 1** · score `0.70` · ↻ redone" in lines
    assert "> Wait! Maybe I made some mistakes in Step 1. I need to rethink from it." in lines
    assert lines[-1].startswith("_AR-Sampling · PRM verifier · p = 0.4 · 1 path(s)")
    assert verified.content.startswith("✓ **Verified answer: 238.95%**")
    assert "agrees with the answer above" in verified.content
    # The page keeps the agent's answer and its footer above the verification.
    assert [m.content for m in view.messages[1:3]] == [AGENT_ANSWER, answer_footer(view.answer)]


def test_unconfirmed_verification_says_the_answer_stands() -> None:
    result = reasoned(BOXED + "$\\boxed{312.5\\%}$.")
    view = _verified_view(judge(result, AGENT_ANSWER, EVIDENCE))
    assert view.messages[-1].content.startswith(
        "⚠ The verification did not confirm this answer: the re-derived answer 312.5%"
    )
    assert view.messages[-1].content.endswith("The answer above stands.")
    assert view.verification is not None and view.verification.answer == AGENT_ANSWER


def test_failed_verification_leaves_no_pending_step() -> None:
    view = EpisodeView("q")
    view.add(AnswerEvent(_answer("ok")))
    view.begin_verification()
    view.fail("The model could not answer")
    assert all(m.metadata.get("status") != "pending" for m in view.messages if m.metadata)
    assert view.messages[-1].content.startswith("⚠️ The model could not answer")
