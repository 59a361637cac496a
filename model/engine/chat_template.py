"""Rendering a conversation (and the tools on offer) into the exact prompt text a model expects.

A model whose own chat template knows about tools (Qwen2.5, Hermes-2-Pro, Llama 3.1...) renders
them itself. Many small models, SmolLM2 among them, have a template that silently ignores `tools`,
so for those we rewrite the conversation the Hermes way before applying their template: the tool
schemas go into the system message, an assistant turn's `tool_calls` become `<tool_call>` blocks
in its content, and `tool` messages become a user turn of `<tool_response>` blocks, which is what
Qwen2.5's template produces. The model then sees one consistent format whichever template it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from model.engine.hermes import (
    format_tool_calls,
    format_tool_response,
    normalize_tool_spec,
    render_tools_prompt,
    tool_call_to_dict,
)
from model.engine.types import Message, ToolSpec

# Used only when a tokenizer ships no chat template at all: plain ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def template_supports_tools(template: str | Mapping[str, str] | None) -> bool:
    """Whether a jinja chat template renders the `tools` variable itself."""
    if template is None:
        return False
    sources = template.values() if isinstance(template, Mapping) else [template]
    return any("tools" in source for source in sources)


def _text_of(content: Any) -> str:
    """Message content as text: None -> "", OpenAI content parts -> their text joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return str(content)


def hermes_messages(
    messages: Sequence[Message], tools: Sequence[ToolSpec] | None
) -> list[dict[str, str]]:
    """Rewrite a conversation with tools into plain role/content messages in the Hermes format."""
    out: list[dict[str, str]] = []
    if tools:
        tools_prompt = render_tools_prompt(tools)
        if messages and messages[0].get("role") == "system":
            system = _text_of(messages[0].get("content")).rstrip()
            out.append({"role": "system", "content": f"{system}\n\n{tools_prompt}".lstrip()})
            messages = messages[1:]
        else:
            out.append({"role": "system", "content": tools_prompt})
    for message in messages:
        role = message.get("role", "user")
        content = _text_of(message.get("content"))
        if role == "assistant" and message.get("tool_calls"):
            calls = format_tool_calls(message["tool_calls"])
            content = f"{content.rstrip()}\n{calls}" if content.strip() else calls
        if role == "tool":
            response = format_tool_response(content)
            # Consecutive tool results share one user turn, as Qwen2.5's template does.
            if out and out[-1].get("_tool_turn"):
                out[-1]["content"] += f"\n{response}"
                continue
            out.append({"role": "user", "content": response, "_tool_turn": "1"})
            continue
        out.append({"role": role, "content": content})
    return [{"role": m["role"], "content": m["content"]} for m in out]


def _native_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages for a tools-aware template: tool-call arguments as objects, as HF templates want."""
    out: list[dict[str, Any]] = []
    for message in messages:
        message = dict(message)
        message["content"] = _text_of(message.get("content"))
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {"type": "function", "function": tool_call_to_dict(call)}
                for call in message["tool_calls"]
            ]
        out.append(message)
    return out


class ChatTemplate:
    """Renders conversations for one tokenizer; decides once whether its template handles tools."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.template = getattr(tokenizer, "chat_template", None) or CHATML_TEMPLATE
        self.is_native_tools = template_supports_tools(self.template)

    def render(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt text; with `add_generation_prompt` it ends where the assistant turn starts."""
        if not messages:
            raise ValueError("a conversation needs at least one message")
        tools = [normalize_tool_spec(t) for t in tools] if tools else None
        # A dict of named templates is left to the tokenizer, which picks "tool_use" when needed.
        template = self.template if isinstance(self.template, str) else None
        if self.is_native_tools:
            rendered = self.tokenizer.apply_chat_template(
                _native_messages(messages),
                tools=tools,
                chat_template=template,
                add_generation_prompt=add_generation_prompt,
                tokenize=False,
            )
        else:
            rendered = self.tokenizer.apply_chat_template(
                hermes_messages(messages, tools),
                chat_template=template,
                add_generation_prompt=add_generation_prompt,
                tokenize=False,
            )
        return str(rendered)
