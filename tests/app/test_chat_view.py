"""How agent events become the page's messages (no server needed)."""

from __future__ import annotations

import json

import gradio as gr

from agent.api import AgentAnswer, AnswerEvent, TokenEvent, ToolCallEvent, ToolResultEvent
from app.ui.chat_view import THINKING, EpisodeView, answer_footer, history_messages
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
