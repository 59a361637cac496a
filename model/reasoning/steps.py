"""Steps: how a solution is cut into the units a process reward model scores.

The AR-Sampling paper's convention: a step is the text up to a blank line, and the policy is asked
to write "## Step k: ..." headers. Small models often ignore the headers, so the splitter never
needs them; when a model writes several headers without blank lines between them, or a numbered
list on consecutive lines as its only paragraph, those are split too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from model.engine.types import Message

STEP_SEPARATOR = "\n\n"
# Where AR-Sampling stops a step: the paper's blank line, or a new "##" header line from a model
# that skips the blank line. Either way the step is re-joined with a blank line, so the context
# the policy continues from is always in the paper's format.
STEP_STOPS = (STEP_SEPARATOR, "\n##")

# The system prompt of the reference code (Llama-3.2 style), minus its "two steps or fewer" escape,
# because every method must produce steps the PRM can score.
STEP_SYSTEM_PROMPT = (
    "Solve the following problem efficiently and clearly, step by step. Write each step as its own "
    "paragraph that starts with '## Step k:', and separate steps with a blank line:\n\n"
    "## Step 1: [Concise description]\n[Brief explanation and calculations]\n\n"
    "## Step 2: [Concise description]\n[Brief explanation and calculations]\n\n"
    "...\n\n"
    "Always conclude with:\n\n"
    "Therefore, the final answer is: $\\boxed{answer}$.\n\n"
    "Where [answer] is just the final number or expression that solves the problem."
)

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# "## Step 3:", "Step 3:", "**Step 3:**", "### Step 3." at the start of a line.
_HEADER_AT_LINE_START = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*)?Step[ \t]+\d+[ \t]*[:.]", re.M
)
_HEADER_NUMBER = re.compile(r"Step[ \t]+(\d+)[ \t]*(?:\*\*)?[ \t]*:")
_NUMBERED_ITEM = re.compile(r"^[ \t]*\d+[.)][ \t]+\S", re.M)


def step_header(number: int) -> str:
    """The header that opens step `number` (what a rethink and a prefill insert)."""
    return f"## Step {number}: "


def split_steps(text: str) -> list[str]:
    """Cut a solution into steps: blank-line paragraphs, then headers or list items inside one.

    Each step is stripped; empty ones are dropped. The trigger sentence of a rethink stays with the
    redone step that follows it (it has no blank line after it), as in the reference code.
    """
    steps: list[str] = []
    for block in _BLANK_LINE.split(text):
        steps.extend(_split_block(block))
    return [s for s in (step.strip() for step in steps) if s]


def _split_block(block: str) -> list[str]:
    starts = [m.start() for m in _HEADER_AT_LINE_START.finditer(block)]
    if len(starts) < 2:
        starts = [m.start() for m in _NUMBERED_ITEM.finditer(block)]
        if len(starts) < 2:
            return [block]
    cuts = [0, *(s for s in starts if s > 0), len(block)]
    return [block[a:b] for a, b in itertools.pairwise(cuts)]


def step_number(step: str) -> int | None:
    """The k of the last "Step k:" header in a step (a redone step also names the weak one)."""
    numbers = _HEADER_NUMBER.findall(step)
    return int(numbers[-1]) if numbers else None


def step_messages(
    question: str, context: str = "", system_prompt: str = STEP_SYSTEM_PROMPT
) -> list[Message]:
    """The conversation every method sends: step-format instructions, then the problem.

    `context` (tool results, a table, facts) goes before the question in the user turn; the
    verifier PRM checks numbers against the same text.
    """
    user = f"{context.strip()}\n\n{question.strip()}" if context.strip() else question.strip()
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]


def join_steps(steps: Sequence[str]) -> str:
    return STEP_SEPARATOR.join(steps)
