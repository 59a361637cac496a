"""TAT-QA scoring: exact match and numeracy-focused F1 with scale, as the official
`tatqa_eval.py` computes them (re-implemented here from its description and behaviour).

How the official metric works, and so this one:
- Gold and predicted answers become one string each: spans sorted and joined by spaces; a number
  is written '%.4f' of (the number rounded to 2 decimals x its scale), where thousand/million/
  billion multiply and percent multiplies by 0.01 — so '1,496.5' million is '1496500000.0000' and
  a prediction without the scale does not match; a number written with '%' is divided by 100.
- A single unscaled predicted number is also tried unrounded ('%.4f' of it), so 0.2222 matches a
  gold -22.22 percent... when the signs agree.
- EM: the DROP-normalised strings are equal. F1: DROP bag-of-tokens F1 (with the rule that a bag
  holding numbers scores 0 unless it shares one with the prediction); for arithmetic and count
  answers F1 is set to EM.
The model states scale in words ("12.6 million", "22.2%"); a reply's scale is read from them.
"""

from __future__ import annotations

import re
import string

import numpy as np
from scipy.optimize import linear_sum_assignment

from evals.example import AnswerType, Example
from evals.numbers import parse_number
from evals.scorers.score import Score, final_answer

METHOD = "tatqa-em-f1"
SCALE_TO_NUM = {"": 1.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "percent": 0.01}
ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
PUNCTUATION = set(string.punctuation)


# -- the answer strings (get_answer_str / add_percent_pred) -------------------------------------


def answer_strings(answers: list[str], scale: str) -> list[str]:
    """The one string a list of answer spans becomes, scale applied to numbers."""
    parts = []
    for answer in sorted(answers):
        number = _to_number(answer)
        if number is None:
            parts.append(f"{answer} {scale}" if scale else answer)
        elif "%" in answer:
            parts.append(f"{number:.4f}")
        else:
            parts.append(f"{round(number, 2) * SCALE_TO_NUM.get(scale, 1.0):.4f}")
    return [" ".join(parts)]


def _to_number(text: str) -> float | None:
    """A span that is one number ('$1,496.5', '(12.6)', '22.2%' -> 0.222) or None."""
    stripped = text.strip()
    value = parse_number(stripped)
    if value is None:
        return None
    return round(value / 100.0, 4) if "%" in stripped else value


def with_unscaled(strings: list[str], answers: list[str], scale: str) -> list[str]:
    """A lone unscaled number is also tried at full precision (the official add_percent_pred)."""
    if len(answers) != 1 or scale or "%" in answers[0]:
        return strings
    number = _to_number(answers[0])
    return strings if number is None else [*strings, f"{number:.4f}"]


# -- DROP's normalisation, EM and bag F1 --------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _normalise_token(token: str) -> str:
    token = token.lower()
    if not _is_number(token):
        token = "".join(ch for ch in token if ch not in PUNCTUATION)
    if _is_number(token):
        token = str(float(token))
    token = ARTICLES.sub(" ", token)
    return " ".join(token.split())


def normalise(text: str) -> str:
    parts = [_normalise_token(token) for token in re.split(" |-", text)]
    return " ".join(part for part in parts if part.strip()).strip()


def _bag_f1(predicted: set[str], gold: set[str]) -> float:
    common = len(gold & predicted)
    precision = common / len(predicted) if predicted else 1.0
    recall = common / len(gold) if gold else 1.0
    if precision == 0.0 and recall == 0.0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _numbers_agree(gold: set[str], predicted: set[str]) -> bool:
    gold_numbers = {w for w in gold if _is_number(w)}
    return not gold_numbers or bool(gold_numbers & {w for w in predicted if _is_number(w)})


def em_and_f1(predicted: list[str], gold: list[str]) -> tuple[float, float]:
    pred_spans = [normalise(p) for p in predicted]
    gold_spans = [normalise(g) for g in gold]
    em = float(set(pred_spans) == set(gold_spans) and len(pred_spans) == len(gold_spans))
    pred_bags = [set(s.split()) for s in pred_spans]
    gold_bags = [set(s.split()) for s in gold_spans]
    scores = np.zeros((len(gold_bags), len(pred_bags)))
    for i, g in enumerate(gold_bags):
        for j, p in enumerate(pred_bags):
            if _numbers_agree(g, p):
                scores[i, j] = _bag_f1(p, g)
    rows, cols = linear_sum_assignment(-scores)
    best = np.zeros(max(len(gold_bags), len(pred_bags)))
    for row, col in zip(rows, cols, strict=True):
        best[row] = max(best[row], scores[row, col])
    return em, round(float(np.mean(best)), 2)


def tatqa_metric(
    gold_answers: list[str], gold_scale: str, gold_type: str, predicted: list[str], pred_scale: str
) -> tuple[float, float]:
    """(EM, F1) of one prediction, as the official evaluation computes them."""
    if not predicted or not any(p.strip() for p in predicted):
        return 0.0, 0.0
    gold_strings = answer_strings(gold_answers, gold_scale)
    pred_strings = with_unscaled(answer_strings(predicted, pred_scale), predicted, pred_scale)
    em, f1 = max(
        (em_and_f1([p], [g]) for p in pred_strings for g in gold_strings),
        key=lambda pair: (pair[0], pair[1]),
    )
    if gold_type in {"arithmetic", "count"}:
        f1 = em
    return em, f1


# -- from a free-text reply to (spans, scale) ---------------------------------------------------

SCALE_WORDS = re.compile(r"\b(thousands?|millions?|billions?|percent)\b|%", re.IGNORECASE)


def read_prediction(reply: str, example: Example) -> tuple[list[str], str]:
    """The predicted spans and scale stated by a reply's final answer."""
    answer = final_answer(reply).strip().strip('"').strip()
    numeric_span = example.answer_type is AnswerType.SPAN and _to_number(example.gold) is not None
    if example.answer_type in {AnswerType.NUMBER, AnswerType.COUNT} or numeric_span:
        found = re.search(r"[-−(]?\$?\s?\d[\d,]*(?:\.\d+)?\)?\s?%?", answer)
        if found is None:
            return [answer], ""
        number = found.group(0).strip()
        rest = answer[found.end() :]
        if number.endswith("%"):
            return [number], "percent"
        scale_match = SCALE_WORDS.search(rest[:20])
        scale = _scale_word(scale_match.group(0)) if scale_match else ""
        return [number.replace("−", "-")], scale
    if example.answer_type is AnswerType.MULTI_SPAN:
        spans = [s.strip() for s in re.split(r";|,|\band\b|\n", answer) if s.strip()]
        return spans, ""
    return [answer], ""


def _scale_word(word: str) -> str:
    word = word.lower()
    if word == "%" or word == "percent":
        return "percent"
    return word.rstrip("s")


def score_tatqa(example: Example, reply: str) -> Score:
    predicted, scale = read_prediction(reply, example)
    kind = example.metadata.get("answer_type", "span")
    em, f1 = tatqa_metric(
        example.gold_spans or [example.gold], example.scale, kind, predicted, scale
    )
    return Score(
        em == 1.0,
        f1,
        METHOD,
        " | ".join(predicted) + (f" ({scale})" if scale else ""),
        {"em": em, "f1": f1, "pred_scale": scale, "gold_scale": example.scale},
    )
