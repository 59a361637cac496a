"""Request bodies of the OpenAI-compatible API, validated with pydantic.

Only requests are modelled: a bad request must fail with a clear 400 before it reaches the engine,
while responses are plain dicts built in `openai_responses.py` (the OpenAI wire format has many
optional keys whose presence matters, which a dict says more plainly than a model with exclusions).
Unknown fields are ignored, as OpenAI clients send many (`user`, `store`, `metadata`, ...).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from model.engine.types import Message, ToolSpec

# OpenAI's own caps: more alternatives or samples than this are refused by the hosted API too.
MAX_TOP_LOGPROBS = 20
MAX_COMPLETION_LOGPROBS = 5
MAX_SAMPLES = 16


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _arguments_object(arguments: Any) -> Any:
    """OpenAI sends arguments as a JSON string; some clients send the object itself."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"tool call arguments are not valid JSON: {exc.msg}") from exc


class FunctionCallBody(_Body):
    name: str
    arguments: Annotated[dict[str, Any], BeforeValidator(_arguments_object)] = Field(
        default_factory=dict
    )


class ToolCallBody(_Body):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCallBody


class ContentPart(_Body):
    type: str
    text: str = ""


class ChatMessageBody(_Body):
    # "developer" is OpenAI's newer name for the system role.
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallBody] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _check_role_fields(self) -> ChatMessageBody:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.role != "assistant" and self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        if self.role == "assistant" and self.content is None and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        if isinstance(self.content, list) and any(p.type != "text" for p in self.content):
            raise ValueError("only text content parts are supported")
        return self

    def to_engine(self) -> Message:
        """The engine's message shape: plain string content and tool arguments as a dict.

        Chat templates render `content` with `{{ ... }}`, so None would print as "None"; Hugging Face
        templates expect tool-call arguments as an object (they `tojson` it themselves).
        """
        if isinstance(self.content, list):
            content = "".join(part.text for part in self.content)
        else:
            content = self.content or ""
        message: Message = {"role": "system" if self.role == "developer" else self.role}
        message["content"] = content
        if self.name is not None:
            message["name"] = self.name
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": dict(call.function.arguments),
                    },
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message


class FunctionSpecBody(_Body):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpecBody(_Body):
    type: Literal["function"] = "function"
    function: FunctionSpecBody

    def to_engine(self) -> ToolSpec:
        return {"type": "function", "function": self.function.model_dump()}


class StreamOptions(_Body):
    include_usage: bool = False


class SamplingBody(_Body):
    """Fields shared by /v1/chat/completions and /v1/completions."""

    model: str | None = None
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    # vLLM's extension; 0 (or -1, vLLM's spelling) disables it.
    top_k: int = Field(default=0, ge=-1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=MAX_SAMPLES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    # vLLM's extensions: token ids of prompt and completion, and logprob tokens as "token_id:N".
    return_token_ids: bool = False
    return_tokens_as_token_ids: bool = False

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # Many clients send `"seed": null`, `"stop": null`, ... for "not set".
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_validator(mode="after")
    def _check_unsupported(self) -> SamplingBody:
        if self.frequency_penalty or self.presence_penalty:
            raise ValueError(
                "frequency_penalty and presence_penalty are not supported; leave them 0"
            )
        if self.stop is not None:
            stops = [self.stop] if isinstance(self.stop, str) else self.stop
            if len(stops) > 4 or any(not s for s in stops):
                raise ValueError("stop takes at most 4 non-empty strings")
        return self

    @property
    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    @property
    def max_new_tokens(self) -> int | None:
        return self.max_tokens

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(SamplingBody):
    messages: list[ChatMessageBody] = Field(min_length=1)
    tools: list[ToolSpecBody] | None = None
    tool_choice: str | dict[str, Any] = "auto"
    # OpenAI's newer name for max_tokens; wins when both are given.
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: dict[str, Any] | None = None

    @field_validator("tool_choice")
    @classmethod
    def _check_tool_choice(
        cls, value: str | dict[str, Any], info: ValidationInfo
    ) -> str | dict[str, Any]:
        tools = info.data.get("tools") or []
        if value not in ("auto", "none") and not tools:
            raise ValueError("tool_choice needs tools")
        if isinstance(value, dict):
            name = (value.get("function") or {}).get("name")
            if value.get("type") != "function" or not isinstance(name, str) or not name:
                raise ValueError(
                    'a named tool_choice is {"type": "function", "function": {"name": ...}}'
                )
            if name not in {tool.function.name for tool in tools}:
                raise ValueError(f"tool_choice names {name!r}, which is not among the tools")
            return value
        if value not in ("auto", "none", "required"):
            raise ValueError('must be "auto", "none", "required" or a named function')
        return value

    @model_validator(mode="after")
    def _check_chat(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs set to true")
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise ValueError('response_format supports only {"type": "text"}')
        if self.stream and self.n > 1:
            raise ValueError("streaming supports n = 1 only")
        return self

    @property
    def requires_tool_call(self) -> bool:
        """'required' or a named function: the reply must be a tool call."""
        return self.tool_choice not in ("auto", "none")

    @property
    def max_new_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def engine_messages(self) -> list[Message]:
        return [message.to_engine() for message in self.messages]

    def engine_tools(self) -> list[ToolSpec] | None:
        """Tools handed to the engine; `tool_choice: "none"` hides them so no call can be made."""
        if not self.tools or self.tool_choice == "none":
            return None
        tools = [tool.to_engine() for tool in self.tools]
        if isinstance(self.tool_choice, dict):  # only the named function may be called
            name = self.tool_choice["function"]["name"]
            tools = [tool for tool in tools if tool["function"]["name"] == name]
        return tools


class CompletionRequest(SamplingBody):
    # A string, token ids, or a list of either (one choice group per prompt).
    prompt: str | list[int] | list[str] | list[list[int]]
    # The legacy API's logprobs: how many alternatives per position (0 = only the sampled token).
    logprobs: int | None = Field(default=None, ge=0, le=MAX_COMPLETION_LOGPROBS)
    echo: bool = False

    @model_validator(mode="after")
    def _check_completion(self) -> CompletionRequest:
        if self.echo:
            raise ValueError("echo is not supported")
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt must not be empty")
        return self

    @property
    def prompts(self) -> list[str | list[int]]:
        """The prompts one by one: a bare string or id list is a single prompt."""
        if isinstance(self.prompt, str):
            return [self.prompt]
        if all(isinstance(item, int) for item in self.prompt):
            return [list(self.prompt)]  # type: ignore[arg-type]
        return list(self.prompt)  # type: ignore[arg-type]
