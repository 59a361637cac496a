"""Which tools go into the prompt: the few most relevant to the question, by BM25.

A 135M model chooses far better among four tools than among twenty, and the prompt is shorter
(faster on CPU). Each tool is a document made of its name, description and parameter names and
descriptions; the question is the query. Small enough to write here rather than add a package.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

_TOKEN_RE = re.compile(r"[a-z0-9]+")
# "17% of 2500", "3 * 4": arithmetic in the question points at the calculator. A bare rate
# ("at 6% annual interest") does not: it belongs to a cash-flow tool.
_ARITHMETIC_RE = re.compile(r"\d\s*%\s*of\b|\d\s*[-+*/^x]\s*\d")
# Words that say nothing about which tool fits; BM25's idf would mostly mute them anyway, but a
# catalogue of twenty documents is too small for idf alone.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "of",
        "on",
        "or",
        "over",
        "the",
        "to",
        "was",
        "what",
        "which",
        "with",
        "my",
        "do",
        "does",
        "you",
        "your",
    ]
)
# Question words that name a tool's concept differently than its description does.
_SYNONYMS = {
    "drawdown": "risk drawdown",
    "volatility": "risk volatility",
    "performance": "return returns",
    "perform": "return returns",
    "did": "return",
    "price": "price close quote",
    "closing": "close quote day",
    "close": "quote",
    "percent": "calculate arithmetic",
    "worth": "value present",
    "loan": "loan payment amortization",
    "mortgage": "loan payment amortization",
    "versus": "compare",
    "vs": "compare benchmark",
    "against": "compare benchmark",
    "chart": "chart draw",
    "plot": "chart draw",
    "npv": "net present value npv",
    "irr": "internal rate return irr",
    "deposit": "deposits savings future value",
    "deposits": "savings future value",
    "save": "savings future value",
    "savings": "future value",
    "differ": "compare",
    "minus": "compare",
    "shares": "shares bought profit loss",
    "bought": "bought shares",
    "profit": "profit loss",
}


def tokenize(text: str) -> list[str]:
    words = []
    for word in _TOKEN_RE.findall(text.lower().replace("_", " ")):
        if word in _STOPWORDS:
            continue
        words.append(word)
        words.extend(_SYNONYMS.get(word, "").split())
    return words


def tool_document(spec: Mapping[str, Any]) -> str:
    """The searchable text of one OpenAI-style tool spec: its name (twice) and description.

    Parameter descriptions are left out: their generic words ("price", "date", "close") made a
    portfolio tool outrank the quote tool for "closing price on <day>" questions.
    """
    function = spec.get("function", spec)
    return " ".join([function["name"], function["name"], function.get("description", "")])


class BM25:
    """Okapi BM25 over a fixed set of documents (k1 and b at their usual values)."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(doc)) for doc in documents]
        self.lengths = [sum(doc.values()) for doc in self.docs]
        self.avg_length = sum(self.lengths) / max(len(self.docs), 1) or 1.0
        num_docs = len(self.docs)
        frequency = Counter(word for doc in self.docs for word in doc)
        self.idf = {
            word: math.log(1 + (num_docs - n + 0.5) / (n + 0.5)) for word, n in frequency.items()
        }

    def scores(self, query: str) -> list[float]:
        words = tokenize(query)
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            score = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / self.avg_length)
            for word in words:
                tf = doc.get(word, 0)
                if tf:
                    score += self.idf[word] * tf * (self.k1 + 1) / (tf + norm)
            out.append(score)
        return out


def rank_tools(
    question: str, specs: Sequence[Mapping[str, Any]]
) -> list[tuple[dict[str, Any], float]]:
    """Every spec with its BM25 score for `question`, best first (ties keep registry order)."""
    query = question
    if _ARITHMETIC_RE.search(re.sub(r"\d{4}-\d{2}-\d{2}", " ", question)):
        query += " calculate arithmetic expression"
    scores = BM25([tool_document(s) for s in specs]).scores(query)
    order = sorted(range(len(specs)), key=lambda i: (-scores[i], i))
    return [(dict(specs[i]), scores[i]) for i in order]


def select_tools(
    question: str, specs: Sequence[Mapping[str, Any]], max_tools: int
) -> list[dict[str, Any]]:
    """The `max_tools` specs most relevant to `question`, best first; all of them if few enough."""
    if len(specs) <= max_tools:
        return [dict(s) for s in specs]
    return [spec for spec, _score in rank_tools(question, specs)[:max_tools]]


def confident_tools(
    question: str, specs: Sequence[Mapping[str, Any]], max_tools: int, ratio: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tools to offer, and the names among them close enough to the best match to be called
    first (BM25 score >= `ratio` x the best; at least the best one).

    On the tool-use suite's train split a ratio of 0.8 always kept the right tool while leaving
    the model 1.8 tools on average to choose from instead of 4: a 135M model's choice is the
    weak link, retrieval's is not.
    """
    ranked = rank_tools(question, specs)[:max_tools]
    best = ranked[0][1] if ranked else 0.0
    callable_first = [
        spec["function"]["name"] for spec, score in ranked if best <= 0 or score >= ratio * best
    ]
    offered = (
        [spec for spec, _score in ranked] if len(specs) > max_tools else [dict(s) for s in specs]
    )
    return offered, callable_first
