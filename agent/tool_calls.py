"""Reading a small model's tool calls: Hermes parsing, then repair of the arguments.

The engine's Hermes parser already forgives sloppy markup. A 135M model also gets the *content*
of arguments wrong in a few predictable ways, which we fix against the tool's JSON schema before
the registry validates the call:
- tickers mangled ("nvda", "$NVDA", "NVDA stock", "BRK-B"): upper-cased, cleaned and matched to the
  symbols the market data knows (closest spelling when unambiguous);
- a rate written as a percent (5 for 5%) where the schema says "as a decimal";
- numbers as strings ("1,000", "8%"), lists as strings ("[-100, 50]" or "-100, 50");
- runaway whitespace inside strings; argument names the schema does not have (aliases mapped).
A call to an unknown tool is mapped to the closest allowed name, or left for the registry to
reject with a message the model can act on.
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from model.engine.hermes import TOOL_CALL_OPEN, parse_tool_calls
from model.engine.types import ToolCall

_ALIASES = {
    "symbol": "ticker",
    "stock": "ticker",
    "start_date": "start",
    "end_date": "end",
    "from": "start",
    "to": "end",
    "cash_flows": "cashflows",
    "flows": "cashflows",
    "symbols": "tickers",
    "expr": "expression",
}
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_DATE_RE = re.compile(r"^(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})$")


@dataclass(frozen=True)
class ParsedTurn:
    """A model turn read back: the prose, and the (repaired) calls it asked for."""

    content: str
    calls: list[ToolCall]


def parse_turn(
    text: str,
    tool_specs: Collection[Mapping[str, Any]],
    known_tickers: Collection[str] = (),
    question: str = "",
) -> ParsedTurn:
    """Parse Hermes calls out of `text` and repair each against the offered tools' schemas
    (and against the question, for a period it names)."""
    content, calls = parse_tool_calls(text)
    schemas = {_function(s)["name"]: _function(s) for s in tool_specs}
    if not calls and TOOL_CALL_OPEN not in text:
        bare = _bare_call(text, schemas)
        if bare is not None:
            content, calls = "", [bare]
    tickers = {t.upper() for t in known_tickers}
    repaired = [repair_call(c, schemas, tickers) for c in calls]
    if question:
        repaired = [
            fill_from_question(c, question, schemas[c.name], tickers) if c.name in schemas else c
            for c in repaired
        ]
    return ParsedTurn(content, repaired)


def _function(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return spec.get("function", spec)


def _bare_call(text: str, schemas: Mapping[str, Any]) -> ToolCall | None:
    """A call written without the tags: the whole turn is one JSON object naming an offered tool."""
    body = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    if not body.startswith("{"):
        return None
    try:
        obj = json.JSONDecoder().raw_decode(body)[0]
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("name") not in schemas:
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if not isinstance(arguments, dict):
        return None
    return ToolCall(obj["name"], arguments, id=f"call_{uuid.uuid4().hex[:24]}")


def repair_call(
    call: ToolCall, schemas: Mapping[str, Mapping[str, Any]], known_tickers: Collection[str]
) -> ToolCall:
    name = call.name
    if name not in schemas:
        close = difflib.get_close_matches(name, list(schemas), n=1, cutoff=0.75)
        if not close:
            return call  # the registry answers "unknown tool ..., available tools: ..."
        name = close[0]
    properties = schemas[name].get("parameters", {}).get("properties", {})
    arguments: dict[str, Any] = {}
    for key, value in call.arguments.items():
        key = key if key in properties else _ALIASES.get(key.lower().strip(), key)
        if key not in properties:
            continue  # an invented argument would only fail validation
        arguments[key] = repair_value(key, value, properties[key], known_tickers)
    return ToolCall(name=name, arguments=arguments, id=call.id)


def _types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a property accepts, looking through anyOf (Optional fields)."""
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for option in schema.get("anyOf", []):
        found |= _types(option)
    return found


def _is_ticker(key: str, schema: Mapping[str, Any]) -> bool:
    text = json.dumps(schema).lower()
    return key in ("ticker", "benchmark", "tickers") or "ticker symbol" in text


def repair_value(key: str, value: Any, schema: Mapping[str, Any], known: Collection[str]) -> Any:
    types = _types(schema)
    if isinstance(value, str):
        value = " ".join(value.split())  # no runaway whitespace
    if value in (None, "", "null", "None") and "null" in types:
        return None
    if "array" in types and not isinstance(value, list):
        value = _as_list(value)
    if isinstance(value, list):
        item_schema = schema.get("items") or next(
            (o.get("items") for o in schema.get("anyOf", []) if o.get("items")), {}
        )
        return [repair_value(key, item, item_schema, known) for item in value]
    if _is_ticker(key, schema) and isinstance(value, str):
        return normalize_ticker(value, known)
    if types & {"number", "integer"} and not isinstance(value, bool):
        value = _as_number(value)
        if isinstance(value, float) and "integer" in types and value.is_integer():
            value = int(value)
        if isinstance(value, int | float) and _is_decimal_rate(schema) and 1 < abs(value) <= 100:
            value = value / 100  # "5" meant 5 %, and the schema wants 0.05
        return value
    if isinstance(value, str) and "date" in json.dumps(schema):
        match = _DATE_RE.match(value)
        if match:
            year, month, day = match.groups()
            return f"{year}-{int(month):02d}-{int(day):02d}"
    return value


def _is_decimal_rate(schema: Mapping[str, Any]) -> bool:
    text = str(schema.get("description", "")).lower()
    return "decimal" in text and "rate" in text


def _as_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.replace(",", "").replace("$", "").strip()
    is_percent = text.endswith("%")
    try:
        number = float(text.rstrip("%").strip())
    except ValueError:
        return value
    return number / 100 if is_percent else number


def _as_list(value: Any) -> Any:
    if not isinstance(value, str):
        return [value]
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list):
        return parsed
    if _NUMBER_RE.search(value) and not re.search(r"[A-Za-z]", value):
        return [float(n) for n in _NUMBER_RE.findall(value.replace(",", " "))]
    return [part.strip() for part in value.split(",") if part.strip()]


def normalize_ticker(value: str, known: Collection[str]) -> str:
    """An upper-case symbol, mapped onto the known symbols where that is unambiguous."""
    words = re.findall(r"[A-Za-z0-9.\-^=]+", value.replace("$", " "))
    candidates = [w.upper().replace("-", ".") for w in words] or [value.strip().upper()]
    if not known:
        return candidates[0]
    for candidate in candidates:
        if candidate in known:
            return candidate
    close = difflib.get_close_matches(candidates[0], list(known), n=2, cutoff=0.8)
    if len(close) == 1:
        return close[0]
    return candidates[0]  # unknown: the tool says it has no data, and the agent fails closed


# Markup that would let a tool result pose as a turn boundary or a call of its own.
_MARKUP_RE = re.compile(
    r"</?\s*(tool_call|tool_response|tools)\s*>|<\|[a-z_]+\|>|<(/?)(system|user|assistant)>",
    re.IGNORECASE,
)


# A tag cut off by the token budget at the end of a turn ("<tool_response").
_PARTIAL_MARKUP_RE = re.compile(r"</?\s*(?:tool[a-z_]*|\|[a-z_]*)\s*$", re.IGNORECASE)


def neutralize_markup(text: str) -> str:
    """A tool result with its chat/tool markup defanged: `<tool_call>` becomes `[tool_call]`.

    Calls are only ever parsed from the model's own completions, so this is not what makes tool
    results safe; it keeps the model from *reading* a forged call or turn boundary as real.
    """
    return _MARKUP_RE.sub(lambda m: "[" + m.group(0).strip("<>") + "]", text)


_YEAR_RE = re.compile(r"\b(?:in|during|for|over)\s+((?:19|20)\d{2})\b", re.IGNORECASE)


def fill_period_from_question(call: ToolCall, question: str, schema: Mapping[str, Any]) -> ToolCall:
    """ "in 2023" in the question fixes a missing start/end of a period tool to that calendar year.

    Small models often write the start and forget the end, which silently means "to the latest
    day" and answers a different question.
    """
    properties = schema.get("parameters", {}).get("properties", {})
    years = set(_YEAR_RE.findall(question))
    if len(years) != 1 or not {"start", "end"} <= set(properties):
        return call
    year = years.pop()
    arguments = dict(call.arguments)
    if not str(arguments.get("start", "")).startswith(year):
        arguments["start"] = f"{year}-01-01"
    if not arguments.get("end") or not str(arguments["end"]).startswith(year):
        arguments["end"] = f"{year}-12-31"
    return ToolCall(call.name, arguments, id=call.id)


_RISK_FREE_RE = re.compile(r"risk[- ]free", re.IGNORECASE)
_ISO_DATE_RE = re.compile(r"\b((?:19|20)\d{2}-\d{2}-\d{2})\b")
_SYMBOL_RE = re.compile(r"\b[A-Z][A-Z0-9]{0,4}(?:\.[A-Z])?\b")


def question_dates(question: str) -> list[str]:
    """The ISO dates the question names, in order, without repeats."""
    return list(dict.fromkeys(_ISO_DATE_RE.findall(question)))


def question_tickers(question: str, known: Collection[str]) -> list[str]:
    """The known symbols the question names (as written in capitals), in order, without repeats."""
    return [s for s in dict.fromkeys(_SYMBOL_RE.findall(question)) if s in known]


def fill_from_question(
    call: ToolCall, question: str, schema: Mapping[str, Any], known: Collection[str] = ()
) -> ToolCall:
    """Arguments the question states outright overrule what a small model copied elsewhere.

    The model reliably picks a tool but often takes a ticker or a date from the system prompt's
    examples instead of the question. So: a period tool gets the question's first and last ISO
    date when it names two or more (or the calendar year of "in 2023"); a one-day tool gets the
    question's date when it names exactly one; a ticker the question does not mention is replaced
    by the one it names (when it names exactly one besides SPY).
    """
    call = fill_period_from_question(call, question, schema)
    properties = schema.get("parameters", {}).get("properties", {})
    arguments = dict(call.arguments)
    dates = question_dates(question)
    if {"start", "end"} <= set(properties) and len(dates) >= 2:
        arguments["start"], arguments["end"] = min(dates), max(dates)
    elif "date" in properties and len(dates) == 1:
        arguments["date"] = dates[0]
    named = question_tickers(question, known)
    subjects = [t for t in named if t != "SPY"] or named
    if "ticker" in properties and len(subjects) == 1 and arguments.get("ticker") not in named:
        arguments["ticker"] = subjects[0]
    benchmark = arguments.get("benchmark")
    if {"ticker", "benchmark"} <= set(properties) and len(subjects) == 2:
        # "did MCD or AMD return more?": one against the other, in the order the question names
        # them (so "X minus Y" is the excess of X over Y), not one of them against SPY.
        arguments["ticker"], arguments["benchmark"] = subjects
        benchmark = subjects[1]
    if "benchmark" in properties and benchmark is not None:
        if "SPY" in named and len(subjects) == 1 and subjects[0] != "SPY":
            arguments["benchmark"] = "SPY"
        elif benchmark == arguments.get("ticker") or benchmark not in named:
            del arguments["benchmark"]  # a ticker against itself: the tool's default (SPY)
    if "risk_free_rate" in arguments and not _RISK_FREE_RE.search(question):
        del arguments["risk_free_rate"]  # a rate the question never gave: the tool's default
    positions = positions_from_question(question, known)
    if {"tickers", "shares"} <= set(properties) and positions:
        arguments["tickers"] = list(positions)
        arguments["shares"] = list(positions.values())
    elif "tickers" in properties and subjects and subjects != ["SPY"]:
        chosen = arguments.get("tickers")
        if not isinstance(chosen, list) or not set(chosen) <= set(named):
            # Tickers the question never names come from the prompt's examples; one named
            # ticker is compared with the market (SPY).
            arguments["tickers"] = subjects if len(subjects) >= 2 else [*subjects, "SPY"]
    drop_unstated_options(arguments, question, schema)
    arguments.update(money_terms_from_question(question, set(properties)))
    if arguments == call.arguments:
        return call
    return ToolCall(call.name, arguments, id=call.id)


_POSITION_RE = re.compile(
    r"(\d[\d,]*(?:\.\d+)?)\s+shares\s+of\s+([A-Z][A-Z0-9]{0,4}(?:\.[A-Z])?)\b"
)


def positions_from_question(question: str, known: Collection[str]) -> dict[str, float]:
    """ "10 shares of AAPL and 5 shares of MSFT" -> {"AAPL": 10.0, "MSFT": 5.0} (known symbols)."""
    positions: dict[str, float] = {}
    for count, symbol in _POSITION_RE.findall(question):
        if symbol in known:
            positions[symbol] = positions.get(symbol, 0.0) + float(count.replace(",", ""))
    return positions


def _stated_numbers(question: str) -> list[float]:
    text = _ISO_DATE_RE.sub(" ", question)
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def drop_unstated_options(
    arguments: dict[str, Any], question: str, schema: Mapping[str, Any]
) -> None:
    """Remove optional numeric arguments whose value the question never states (in place).

    A 135M model fills optional parameters it saw in the schema with made-up values (fv=1 on a
    loan payment, a final balance nobody asked for), which silently changes the answer; the
    tool's documented default is what the user meant. A value counts as stated when it is one of
    the question's numbers, as written, as a percent (6 -> 0.06), or per month (/12, x12).
    """
    parameters = schema.get("parameters", {})
    required = set(parameters.get("required", []))
    stated = _stated_numbers(question)
    readings = {round(v * k, 9) for v in stated for k in (1, 0.01, 1 / 12, 0.01 / 12, 12)}
    for key, spec in parameters.get("properties", {}).items():
        if key in required or key not in arguments or not _types(spec) & {"number", "integer"}:
            continue
        value = arguments[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value != 0 and round(float(value), 9) not in readings and -float(value) not in stated:
            del arguments[key]


_AMOUNT_RE = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_YEARS_RE = re.compile(r"(\d+(?:\.\d+)?)\s+years?\b", re.IGNORECASE)
_OUTFLOW_RE = re.compile(r"\b(costs?|invest(?:ment|s|ed)?|buy|spends?)\b", re.IGNORECASE)
_SIGNED_LIST_RE = re.compile(r"(?<![\w.$])(-?\d[\d,]*(?:\.\d+)?)(?!\s*%|[\d-])")


def money_terms_from_question(question: str, parameters: set[str]) -> dict[str, Any]:
    """Cash-flow arguments stated outright in the question, for the parameters a tool has.

    A 135M model picks the right cash-flow tool but rarely copies the amounts: it invents lists
    or repeats the system prompt's example. Dollar amounts in order become the cash flows (the
    first an outflow when the question says it costs or is invested), "6%" the rate, "5 years"
    the term, per month when the question says monthly. Only what the question states is filled.
    """
    amounts = [float(a.replace(",", "")) for a in _AMOUNT_RE.findall(question)]
    percents = [float(p) / 100 for p in _PERCENT_RE.findall(question)]
    years = [float(y) for y in _YEARS_RE.findall(question)]
    monthly = "month" in question.lower()
    rate = percents[0] if len(percents) == 1 else None
    found: dict[str, Any] = {}
    if "cashflows" in parameters:
        flows = amounts
        if len(flows) < 2:  # "-1000 now, then 300, 400 and 500": signed numbers as written
            text = _PERCENT_RE.sub(" ", re.sub(r"\d{4}-\d{2}-\d{2}", " ", question))
            listed = [float(n.replace(",", "")) for n in _SIGNED_LIST_RE.findall(text)]
            flows = listed if len(listed) >= 3 and listed[0] < 0 else []
        if len(flows) >= 2:
            if flows[0] > 0 and _OUTFLOW_RE.search(question):
                flows = [-flows[0], *flows[1:]]
            found["cashflows"] = flows
        if "rate" in parameters and rate is not None:
            found["rate"] = rate
        return found
    if len(amounts) != 1 or rate is None or len(years) != 1:
        return found
    periods_per_year = 12 if monthly else 1
    if {"principal", "annual_rate", "years"} <= parameters:  # a loan schedule
        found.update(principal=amounts[0], annual_rate=rate, years=years[0])
        if "payments_per_year" in parameters:
            found["payments_per_year"] = periods_per_year
    elif {"rate", "nper"} <= parameters:
        found.update(rate=rate / periods_per_year, nper=years[0] * periods_per_year)
        if "pv" in parameters and "loan" in question.lower():
            found["pv"] = amounts[0]
        elif "pmt" in parameters and re.search(r"\bdeposit|save|contribut", question, re.I):
            found["pmt"] = -amounts[0]
            if "pv" in parameters:
                found["pv"] = 0.0
    return found


def strip_markup(text: str) -> str:
    """An answer without echoed tool markup (a small model sometimes copies the tool response)."""
    return _PARTIAL_MARKUP_RE.sub("", _MARKUP_RE.sub("", text)).strip()
