"""The chat page: conversation list and settings on the side, the chat with its tool steps in the
middle, and a plain `/chat` API endpoint for `gradio_client`.

Everything goes through one shared `Assistant` (thread-safe; the engine batches concurrent
requests), so several analysts' conversations run at once without mixing state: each browser
tab holds its own thread id in a `gr.State`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from agent.api import Assistant
from app.ui.chat_view import EpisodeView, history_messages
from model.engine.types import EngineError

log = logging.getLogger(__name__)

EXAMPLE_QUESTIONS = [
    "How did NVDA do against SPY in 2023, and what was its max drawdown?",
    "What was AAPL's closing price on 2024-03-28?",
    "Plot MSFT's price over 2024.",
    "What is the NPV at 8% of -1000 now, then 300, 400 and 500 over the next three years?",
]

# Concurrent chat episodes the page runs at once (the engine batches their decoding).
CHAT_CONCURRENCY = 4

# Offline by design: no web fonts, so the page renders the same with no internet.
THEME = gr.themes.Soft(
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "monospace"],
)

CSS = """
#huijin-chat { flex-grow: 1; }
footer { display: none !important; }
"""


def _friendly_error(exc: Exception) -> str:
    if isinstance(exc, EngineError):
        return f"The model could not answer: {exc}. Your conversation is kept; try again."
    if isinstance(exc, ValueError):
        return str(exc)
    log.exception("chat episode failed")
    return (
        f"Something went wrong ({type(exc).__name__}: {exc}). "
        "Your conversation is kept; try again or start a new one."
    )


def _thread_choices(assistant: Assistant) -> list[tuple[str, str]]:
    choices = []
    for thread in assistant.threads(limit=30):
        when = thread.last_activity.strftime("%m-%d %H:%M")
        question = thread.first_question
        question = question if len(question) <= 48 else question[:47] + "…"
        choices.append((f"{when} · {question}", thread.thread_id))
    return choices


def build_app(assistant: Assistant) -> gr.Blocks:
    """The Gradio app around `assistant`; launch it with `launch_options()`."""
    settings = assistant.settings
    as_of = assistant.runtime.as_of.isoformat()
    snapshot = "live (Yahoo) with offline snapshot" if settings.market_live else "offline snapshot"

    def respond(
        message: str,
        chat: list[Any],
        thread_id: str,
        temperature: float,
        max_steps: float,
        verify: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        message = (message or "").strip()
        if not message:
            gr.Warning("Type a question first.")
            yield chat, thread_id, "", gr.update()
            return
        thread_id = thread_id or _new_thread_id()
        view = EpisodeView(message)
        earlier = list(chat or [])
        yield earlier + view.messages, thread_id, "", gr.update()
        try:
            events = assistant.stream(
                message, thread_id, temperature=float(temperature), max_steps=int(max_steps)
            )
            for event in events:
                view.add(event)
                yield earlier + view.messages, thread_id, "", gr.update()
            if verify and view.answer is not None:
                view.begin_verification()
                yield earlier + view.messages, thread_id, "", gr.update()
                view.show_verification(assistant.verify(view.answer))
        except Exception as exc:  # the page must show a message, never a stack trace
            view.fail(_friendly_error(exc))
        yield earlier + view.messages, thread_id, "", gr.update(choices=_thread_choices(assistant))

    def resume(thread_id: str | None) -> tuple[Any, str]:
        if not thread_id:
            return gr.update(), ""
        return history_messages(assistant.history(thread_id)), thread_id

    def new_conversation() -> tuple[list[Any], str, Any]:
        return [], "", gr.update(value=None, choices=_thread_choices(assistant))

    def chat(message: str, thread_id: str = "", verify: bool = False) -> dict[str, Any]:
        """Ask the assistant; returns answer, tool calls, thread id and trajectory id (and with
        verify, the verification: steps with scores, rethinks, the verified answer).

        Pass the returned thread_id back to continue the same conversation.
        """
        answer = assistant.ask(message, thread_id or None)
        payload = answer.to_json()
        if verify:
            payload["verification"] = assistant.verify(answer).to_json()
        return payload

    with gr.Blocks(
        title="huijin · financial assistant", fill_height=True, analytics_enabled=False
    ) as demo:
        thread_state = gr.State("")
        with gr.Sidebar(open=True):
            gr.Markdown("### huijin\nA self-hosted financial assistant.")
            new_button = gr.Button("+ New conversation", variant="secondary")
            threads = gr.Radio(
                choices=_thread_choices(assistant),
                label="Past conversations",
                elem_id="huijin-threads",
            )
            with gr.Accordion("Model and settings", open=True):
                gr.Textbox(
                    value=assistant.engine.model_id,
                    label=f"Model ({settings.backend})",
                    info="Set HUIJIN_MODEL (or the config file) to use another checkpoint.",
                    interactive=False,
                )
                temperature = gr.Slider(
                    0.0, 1.5, value=settings.temperature, step=0.05, label="Temperature"
                )
                max_steps = gr.Slider(
                    1, 10, value=settings.agent_max_steps, step=1, label="Max steps"
                )
                verify_box = gr.Checkbox(
                    value=False,
                    label="Verified answer",
                    info="After the answer, re-derive it step by step from the tool results: "
                    f"AR-Sampling, steps scored by the {settings.reason_prm} PRM, weak ones "
                    "redone. Slower.",
                    elem_id="huijin-verify",
                )
                gr.Markdown(f"Market data: {snapshot}, as of **{as_of}**.")
        chatbot = gr.Chatbot(
            elem_id="huijin-chat",
            label="Chat",
            placeholder="Ask about prices, returns, risk, portfolios or cash flows.",
            height="70vh",
            buttons=["copy"],
        )
        with gr.Row():
            question = gr.Textbox(
                placeholder="Ask a question and press Enter",
                show_label=False,
                scale=8,
                elem_id="huijin-question",
                autofocus=True,
            )
            send = gr.Button("Send", variant="primary", scale=1, elem_id="huijin-send")
            stop = gr.Button("Stop", variant="stop", scale=1, elem_id="huijin-stop")
        gr.Examples(EXAMPLE_QUESTIONS, inputs=question, label="Examples")

        inputs = [question, chatbot, thread_state, temperature, max_steps, verify_box]
        outputs = [chatbot, thread_state, question, threads]
        runs = [
            trigger(
                respond,
                inputs,
                outputs,
                api_visibility="private",
                concurrency_limit=CHAT_CONCURRENCY,
                concurrency_id="chat",
            )
            for trigger in (question.submit, send.click)
        ]
        stop.click(None, cancels=runs)
        threads.input(resume, threads, [chatbot, thread_state], api_visibility="private")
        new_button.click(
            new_conversation, None, [chatbot, thread_state, threads], api_visibility="private"
        )
        gr.api(chat, api_name="chat", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat")
    return demo


def launch_options() -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch` that every caller (CLI, tests) shares."""
    return {"theme": THEME, "css": CSS, "ssr_mode": False, "footer_links": []}


def _new_thread_id() -> str:
    import uuid

    return uuid.uuid4().hex
