"""The Hermes tool-call format: how tools are offered to a model and how its calls are read back.

Hermes-2-Pro and Qwen2.5 put the tools' JSON schemas inside `<tools></tools>` in the system
message and let the model answer with `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`.
vLLM parses exactly this with `--tool-call-parser hermes`, so every backend of ours speaks it and a
trajectory looks the same whichever backend produced it.

Small models write this markup sloppily, so the parser is forgiving where the intent is clear
(whitespace, a missing closing tag at the end of the text, a code fence, trailing junk after the
JSON object, Python-style single quotes) and strict where it is not: a block whose body is not a
JSON object with a string `name` is not a tool call and stays in the content, so nothing the model
wrote is silently dropped.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from model.engine.types import ToolCall, ToolSpec

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

# A block runs from an opening tag to its closing tag, or to the next opening tag / end of text
# when the model forgot to close it (common when generation stops on EOS right after the JSON).
_BLOCK_RE = re.compile(
    re.escape(TOOL_CALL_OPEN)
    + r"(.*?)(?:"
    + re.escape(TOOL_CALL_CLOSE)
    + r"|(?="
    + re.escape(TOOL_CALL_OPEN)
    + r")|\Z)",
    re.DOTALL,
)
_FENCE_RE = re.compile(r"^```(?:json)?\s*|\s*```$")

TOOLS_INSTRUCTION = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-json-object>}}\n'
    "</tool_call>"
)


def normalize_tool_spec(tool: Mapping[str, Any]) -> ToolSpec:
    """Return a tool in the OpenAI shape, accepting a bare function dict as well.

    Callers hand over either `{"type": "function", "function": {...}}` or just the inner
    `{"name", "description", "parameters"}`; templates and vLLM expect the former.
    """
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return {"type": "function", "function": dict(tool["function"])}
    if isinstance(tool.get("name"), str):
        return {"type": "function", "function": dict(tool)}
    raise ValueError(
        'a tool must be {"type": "function", "function": {"name": ..., "parameters": ...}}; '
        f"got keys {sorted(tool)}"
    )


def render_tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system-prompt section that offers `tools` to the model, one JSON schema a line."""
    lines = "\n".join(json.dumps(normalize_tool_spec(t), ensure_ascii=False) for t in tools)
    return TOOLS_INSTRUCTION.format(tools=lines)


def tool_call_to_dict(call: ToolCall | Mapping[str, Any]) -> dict[str, Any]:
    """`{"name", "arguments"}` from a ToolCall, an OpenAI tool call, or such a dict already.

    OpenAI-shaped calls carry `arguments` as a JSON string; the Hermes block wants an object.
    """
    if isinstance(call, ToolCall):
        return {"name": call.name, "arguments": call.arguments}
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        # An unparsable string is kept raw: the model then sees exactly what was logged.
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments) if arguments.strip() else {}
    return {"name": function["name"], "arguments": arguments}


def format_tool_call(call: ToolCall | Mapping[str, Any]) -> str:
    """One `<tool_call>` block, as a Hermes model writes it."""
    body = json.dumps(tool_call_to_dict(call), ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}"


def format_tool_calls(calls: Iterable[ToolCall | Mapping[str, Any]]) -> str:
    return "\n".join(format_tool_call(c) for c in calls)


def format_tool_response(content: str) -> str:
    """A tool result as the model expects to read it back."""
    return f"<tool_response>\n{content}\n</tool_response>"


def _decode_object(body: str) -> Any:
    """The first JSON object in `body`; tolerates fences, trailing junk and single quotes."""
    body = _FENCE_RE.sub("", body.strip()).strip()
    start = body.find("{")
    if start < 0:
        return None
    body = body[start:]
    try:
        return json.JSONDecoder().raw_decode(body)[0]
    except json.JSONDecodeError:
        pass
    # Python-literal dicts ({'name': 'x'}) are a frequent small-model slip; literal_eval is safe
    # (no code runs). Cut at the last closing brace to drop trailing junk.
    end = body.rfind("}")
    if end < 0:
        return None
    try:
        return ast.literal_eval(body[: end + 1])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _as_tool_call(obj: Any) -> ToolCall | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):  # some models double-encode the arguments
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None
    return ToolCall(name=obj["name"], arguments=arguments, id=f"call_{uuid.uuid4().hex[:24]}")


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split a completion into (content, tool calls).

    Content is the text with the valid tool-call blocks removed (stripped of surrounding
    whitespace); a block that does not parse stays in the content verbatim.
    """
    if TOOL_CALL_OPEN not in text:
        return text.strip(), []
    calls: list[ToolCall] = []
    pieces: list[str] = []
    last = 0
    for match in _BLOCK_RE.finditer(text):
        call = _as_tool_call(_decode_object(match.group(1)))
        if call is None:
            continue
        calls.append(call)
        pieces.append(text[last : match.start()])
        last = match.end()
    pieces.append(text[last:])
    content = "".join(pieces) if calls else text
    return content.strip(), calls
