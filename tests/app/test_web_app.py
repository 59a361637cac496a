"""The chat page in a real browser (Debian chromium, headless, via Playwright) and through
`gradio_client`, on the real embedded model, real tools over the snapshot and real SQLite.

The question's right number is computed here from the snapshot CSV, independently of the tools.
Screenshots go to the test's tmp dir, or to $HUIJIN_SCREENSHOT_DIR when set (the README's image
is made that way).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TODAY, offline_settings

QUESTION = "What was the total return of NVDA in 2023?"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Debian chromium is not installed (make system-deps installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nvda_2023_return_pct(snapshot: Path) -> float:
    """Close on the last 2023 session over the close on the last 2022 session, in percent."""
    close = pd.read_csv(snapshot / "NVDA.csv", parse_dates=["date"]).set_index("date")["close"]
    start = close[close.index <= "2022-12-31"].iloc[-1]
    end = close[close.index <= "2023-12-31"].iloc[-1]
    return (end / start - 1.0) * 100.0


def has_number_near(text: str, gold: float, rel_tol: float = 1e-3) -> bool:
    numbers = [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text)]
    return any(abs(n - gold) <= rel_tol * abs(gold) for n in numbers)


@pytest.fixture(scope="module")
def app_url(embedded_engine, snapshot_dir, tmp_path_factory) -> Iterator[str]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from agent.api import Assistant
    from app.ui.layout import build_app, launch_options

    # The verified answer's AR-Sampling budget (N paths x tokens) kept small for the CPU.
    settings = offline_settings(
        tmp_path_factory.mktemp("app"), snapshot_dir, reason_num_samples=2, max_new_tokens=96
    )
    assistant = Assistant(settings, embedded_engine, today=TODAY)
    demo = build_app(assistant)
    port = _free_port()
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(),
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        assistant.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    target = os.environ.get("HUIJIN_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_browser_asks_and_sees_tool_step_and_grounded_answer(
    app_url, snapshot_dir, screenshot_dir
) -> None:
    from playwright.sync_api import expect, sync_playwright

    gold = nvda_2023_return_pct(snapshot_dir)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app_url)
            question = page.locator("#huijin-question textarea")
            question.fill(QUESTION)
            question.press("Enter")
            chat = page.locator("#huijin-chat")
            expect(chat.get_by_text("Tool call · get_returns").first).to_be_visible(timeout=240_000)
            expect(chat.get_by_text("About this answer")).to_be_visible(timeout=240_000)
            page.screenshot(path=str(screenshot_dir / "app-chat.png"), full_page=True)
            text = chat.inner_text()
            assert has_number_near(text, gold), f"no {gold:.2f}% in the page:\n{text}"
            # The conversation is listed for resuming, and the page stays usable.
            expect(page.locator("#huijin-threads").get_by_text("NVDA")).to_be_visible()
            expect(page.locator("#huijin-send")).to_be_enabled()
        finally:
            browser.close()


@pytest.mark.slow
def test_browser_verified_answer_shows_scored_steps(app_url, screenshot_dir) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(app_url)
            page.locator("#huijin-verify input[type=checkbox]").check()
            question = page.locator("#huijin-question textarea")
            question.fill(QUESTION)
            question.press("Enter")
            chat = page.locator("#huijin-chat")
            expect(chat.get_by_text("About this answer")).to_be_visible(timeout=240_000)
            title = chat.get_by_text(re.compile(r"Verification · \d+ steps · \d+ rethought"))
            expect(title).to_be_visible(timeout=300_000)
            title.click()  # open the collapsed step
            expect(chat.get_by_text(re.compile(r"score \d\.\d\d"))).not_to_have_count(0)
            verdict = chat.get_by_text(
                re.compile(r"Verified answer: |The verification did not confirm this answer")
            )
            expect(verdict).to_be_visible()
            expect(
                chat.get_by_text(re.compile(r"AR-Sampling · PRM verifier · p = "))
            ).to_be_visible()
            page.wait_for_timeout(1000)  # the step's opening animation
            expect(chat.get_by_text(re.compile(r"AR-Sampling · PRM verifier"))).to_be_visible()
            page.screenshot(path=str(screenshot_dir / "app-verified.png"), full_page=True)
        finally:
            browser.close()


def test_gradio_client_chat_endpoint(app_url, snapshot_dir) -> None:
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    reply = client.predict(QUESTION, "", api_name="/chat")
    assert reply["tool_calls"] and reply["tool_calls"][0]["name"] == "get_returns"
    assert has_number_near(reply["answer"], nvda_2023_return_pct(snapshot_dir))
    assert reply["thread_id"] and reply["trajectory_id"]
