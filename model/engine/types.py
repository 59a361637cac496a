"""The engine's vocabulary: what a caller asks for and what it gets back.

Every backend (transformers, openai, later vllm) speaks these types, so the agent, the evals and the
training module never learn which backend produced a turn. Results always carry token ids and
per-token logprobs when the backend can give them, because agentic RL trains on exactly those.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# A chat message in the OpenAI / Hugging Face chat-template shape:
# {"role": "system"|"user"|"assistant"|"tool", "content": str, "tool_calls"?: [...], "tool_call_id"?: str}
Message = dict[str, Any]
# A tool in the OpenAI shape: {"type": "function", "function": {"name", "description", "parameters"}}
ToolSpec = dict[str, Any]


class FinishReason(enum.StrEnum):
    """Why generation stopped; the values are the OpenAI API's."""

    STOP = "stop"  # end-of-sequence token or a stop string
    LENGTH = "length"  # max_new_tokens reached
    TOOL_CALLS = "tool_calls"  # the turn ended with at least one complete tool call
    ABORT = "abort"  # the caller cancelled or the engine shut down


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one request. temperature == 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = True
    # Number of most likely alternatives to report per position (OpenAI's top_logprobs); 0 = none.
    top_logprobs: int = 0
    # "required": the turn must be a call of one of the offered tools (OpenAI's tool_choice).
    # Remote servers enforce it themselves; in process, a tool-call grammar does (tool_grammar.py).
    tool_choice: str = "auto"

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0 (0 means greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0 (0 disables it)")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 0 and 20")
        if self.tool_choice not in ("auto", "required"):
            raise ValueError('tool_choice must be "auto" or "required"')

    @property
    def is_greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class ToolCall:
    """One parsed tool call; arguments are already a JSON object (dict)."""

    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    """One finished model turn (or raw continuation).

    `text` is the decoded completion (stop string excluded); `content` is that text with tool-call
    markup removed; `completion_ids` / `logprobs` align one-to-one (logprob of each sampled token
    under the sampling distribution's base model, i.e. log-softmax of the raw logits).
    """

    text: str
    model_id: str
    finish_reason: FinishReason
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    top_logprobs: list[dict[str, float]] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    content: str = ""
    usage: Usage = field(default_factory=Usage)
    # Seconds from submission to the first generated token, and to the end.
    time_to_first_token_s: float = 0.0
    total_time_s: float = 0.0


@dataclass
class StreamEvent:
    """A piece of a streaming turn: new text with its token ids and logprobs.

    The last event of a stream has `finish_reason` set and `result` holding the whole ChatResult,
    so a streaming caller never has to re-assemble the turn itself.
    """

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    finish_reason: FinishReason | None = None
    result: ChatResult | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What `huijin models` shows: which model is loaded, from where, and what it costs."""

    model_id: str
    backend: str
    source: str
    dtype: str = ""
    device: str = ""
    num_parameters: int = 0
    memory_bytes: int = 0
    load_time_s: float = 0.0
    context_length: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChatEngine(Protocol):
    """The one interface the rest of the product uses to talk to a model.

    `chat` renders messages (and tools) with the model's chat template and generates an assistant
    turn. `complete` continues raw text or token ids with no template: AR-Sampling uses it to
    continue a partial assistant turn. `chat_batch` lets batch work hand many conversations over at
    once; a backend may also batch concurrent `chat` calls on its own.
    """

    @property
    def model_id(self) -> str: ...

    def info(self) -> ModelInfo: ...

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> ChatResult: ...

    def stream_chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> Iterator[StreamEvent]: ...

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> list[ChatResult]: ...

    def complete(
        self, prompt: str | Sequence[int], params: SamplingParams | None = None
    ) -> ChatResult: ...

    def close(self) -> None: ...


class EngineError(RuntimeError):
    """An error a user can act on (missing model file, unreachable server); its message says how."""
