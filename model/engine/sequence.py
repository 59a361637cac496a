"""One request as the scheduler sees it: its prompt, what it has generated, and how to answer.

A `Sequence` is created on the caller's thread, then only touched by the scheduler thread until
it finishes; the two sides talk through `events`, a queue of StreamEvents (the last one carries
the ChatResult) or an exception. That queue is the whole hand-off, so a caller can wait from any
thread and the scheduler never blocks on a slow consumer.

Text is rebuilt by decoding the whole completion after each token rather than by concatenating
per-token strings: a multi-byte character split over tokens, or a tokenizer that merges spaces,
only decodes correctly in context. Streaming holds back a trailing partial character and any
tail that might still become a stop string.
"""

from __future__ import annotations

import enum
import itertools
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from model.engine.hermes import parse_tool_calls
from model.engine.sampling import RowSampler
from model.engine.stop_strings import StopStringMatcher
from model.engine.types import ChatResult, FinishReason, SamplingParams, StreamEvent, Usage

_REPLACEMENT_CHAR = "\ufffd"  # what decode() yields for an incomplete UTF-8 sequence
_ids = itertools.count()


class SequenceStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(frozen=True)
class Detokenizer:
    """Token ids -> text, plus the ids that end a turn. Thread-safe callables."""

    decode: Callable[[list[int]], str]
    eos_ids: frozenset[int]


@dataclass(eq=False)
class Sequence:
    prompt_ids: list[int]
    params: SamplingParams
    sampler: RowSampler
    model_id: str
    max_total_tokens: int  # the model's context: prompt + completion never exceed it
    is_stream: bool = False
    is_chat_with_tools: bool = False
    seq_id: int = field(default_factory=lambda: next(_ids))
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    status: SequenceStatus = SequenceStatus.WAITING
    is_cancelled: bool = False  # set by the caller's thread; read by the scheduler
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    text: str = ""  # decoded completion, stop string and EOS excluded
    finish_reason: FinishReason | None = None
    submitted_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    _stop: StopStringMatcher = field(init=False)
    _num_text_ids: int = 0  # how many completion ids make up `text` (EOS is not text)
    _emitted_chars: int = 0
    _emitted_ids: int = 0
    _is_stopped_by_string: bool = False

    def __post_init__(self) -> None:
        self._stop = StopStringMatcher(self.params.stop)

    @property
    def needs_text_each_step(self) -> bool:
        return self.is_stream or bool(self._stop)

    @property
    def last_token_id(self) -> int:
        return self.completion_ids[-1]

    def append(
        self,
        token_id: int,
        logprob: float,
        top: list[tuple[int, float]] | None,
        detok: Detokenizer,
    ) -> FinishReason | None:
        """Record one sampled token; return why the sequence must stop now, if it must."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.completion_ids.append(token_id)
        if self.params.logprobs:
            self.logprobs.append(logprob)
        if top is not None:
            entry: dict[str, float] = {}
            for alt_id, alt_logprob in top:
                entry.setdefault(detok.decode([alt_id]), alt_logprob)
            self.top_logprobs.append(entry)
        if token_id in detok.eos_ids:
            return FinishReason.STOP
        self._num_text_ids = len(self.completion_ids)
        if self.needs_text_each_step:
            checked = len(self.text)
            self.text = detok.decode(self.completion_ids[: self._num_text_ids])
            cut = self._stop.find(self.text, checked)
            if cut is not None:
                self.text = self.text[:cut]
                self._is_stopped_by_string = True
                return FinishReason.STOP
        if len(self.completion_ids) >= self.params.max_new_tokens:
            return FinishReason.LENGTH
        if len(self.prompt_ids) + len(self.completion_ids) >= self.max_total_tokens:
            return FinishReason.LENGTH
        return None

    def take_delta(self) -> StreamEvent | None:
        """The text and tokens produced since the last delta, minus what must be held back."""
        safe = len(self.text) - self._stop.holdback(self.text)
        while safe > self._emitted_chars and self.text[safe - 1] == _REPLACEMENT_CHAR:
            safe -= 1  # an incomplete multi-byte character: wait for its next token
        new_ids = self.completion_ids[self._emitted_ids :]
        if safe <= self._emitted_chars and not new_ids:
            return None
        delta = self.text[self._emitted_chars : safe] if safe > self._emitted_chars else ""
        event = StreamEvent(
            text=delta,
            token_ids=new_ids,
            logprobs=self.logprobs[self._emitted_ids :] if self.params.logprobs else None,
        )
        self._emitted_chars = max(self._emitted_chars, safe)
        self._emitted_ids = len(self.completion_ids)
        return event

    def finish(self, reason: FinishReason, detok: Detokenizer) -> ChatResult:
        """Mark finished and build the result (the final text is decoded once more, in full)."""
        self.status = SequenceStatus.FINISHED
        if not self._is_stopped_by_string:
            self.text = detok.decode(self.completion_ids[: self._num_text_ids])
        content, tool_calls = self.text, []
        if self.is_chat_with_tools:
            content, tool_calls = parse_tool_calls(self.text)
        if tool_calls and reason in (FinishReason.STOP, FinishReason.LENGTH):
            reason = FinishReason.TOOL_CALLS
        self.finish_reason = reason
        now = time.perf_counter()
        return ChatResult(
            text=self.text,
            model_id=self.model_id,
            finish_reason=reason,
            prompt_ids=list(self.prompt_ids),
            completion_ids=list(self.completion_ids),
            logprobs=list(self.logprobs) if self.params.logprobs else None,
            top_logprobs=list(self.top_logprobs) if self.params.top_logprobs else None,
            tool_calls=tool_calls,
            content=content if self.is_chat_with_tools else self.text,
            usage=Usage(len(self.prompt_ids), len(self.completion_ids)),
            time_to_first_token_s=(self.first_token_at or now) - self.submitted_at,
            total_time_s=now - self.submitted_at,
        )

    def final_event(self, result: ChatResult) -> StreamEvent:
        """The last event of a stream: the rest of the text, the finish reason, the result."""
        self._stop = StopStringMatcher(())  # nothing can become a stop string any more
        delta = self.take_delta() or StreamEvent()
        delta.finish_reason = result.finish_reason
        delta.result = result
        return delta
