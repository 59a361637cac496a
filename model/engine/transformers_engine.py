"""The embedded backend: a Hugging Face causal LM in this process, shared by every caller.

`TransformersEngine` loads one model (resolving and, for GGUF, converting it once), renders
conversations with the model's chat template plus Hermes tools, and hands every request to the
scheduler thread, which batches whatever is waiting. Public methods are safe to call from any
thread at the same time; each blocks (or streams) only on its own request.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from model.engine import cpu_kernels
from model.engine.chat_template import ChatTemplate
from model.engine.checkpoint import (
    default_cache_dir,
    load_checkpoint,
    resolve_device,
    resolve_dtype,
    resolve_source,
)
from model.engine.fast_decode import is_float32_on_cpu, unsupported_reason
from model.engine.kv_cache import KVCacheKind, get_kv_cache_kind, resolve_kv_cache_name
from model.engine.runner import ModelRunner
from model.engine.sampling import LogitsProcessor, RowSampler
from model.engine.scheduler import Scheduler, SchedulerStats
from model.engine.sequence import Detokenizer
from model.engine.sequence import Sequence as GenSequence
from model.engine.tokenizer_fingerprint import tokenizer_fingerprint
from model.engine.transformers_config import EMBEDDED, TransformersEngineConfig
from model.engine.types import (
    ChatResult,
    EngineError,
    Message,
    ModelInfo,
    SamplingParams,
    StreamEvent,
    ToolSpec,
)

__all__ = ["TransformersEngine", "TransformersEngineConfig"]

logger = logging.getLogger(__name__)

# Token strings that end a turn in common chat formats, besides the tokenizer's own EOS.
_END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>")
_WAIT_POLL_S = 1.0


class TransformersEngine:
    """ChatEngine over an in-process transformers model with continuous batching."""

    def __init__(self, config: TransformersEngineConfig | None = None) -> None:
        self.config = config = config or TransformersEngineConfig()
        started = time.perf_counter()
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        cache_dir = self._cache_dir = config.cache_dir or default_cache_dir()
        source = resolve_source(
            None if config.model in (None, EMBEDDED) else config.model, cache_dir
        )
        self._device = resolve_device(config.device)
        self._dtype = resolve_dtype(config.dtype, self._device)
        self._model_id = config.model_id or source.model_id
        kv_cache = self._kv_cache_kind(_read_model_config(source.checkpoint_dir))
        model, tokenizer = load_checkpoint(
            source.checkpoint_dir, self._dtype, self._device, config.attn_implementation
        )
        self._source = source
        self._tokenizer = tokenizer
        self._tokenizer_lock = threading.Lock()  # Rust tokenizers are not safe to share mid-call
        self._template = ChatTemplate(tokenizer)
        self._context_length = config.max_context_tokens or int(
            getattr(model.config, "max_position_embeddings", 0) or 4096
        )
        self._model = model
        self.eos_ids = _end_of_turn_ids(tokenizer, model)
        self._runner = self._make_runner(model, kv_cache or self._kv_cache_kind(model.config))
        self._scheduler = Scheduler(
            self._runner, Detokenizer(self.detokenize, self.eos_ids), config.max_batch_size
        )
        self._scheduler.start()
        self._load_time_s = time.perf_counter() - started

    def _kv_cache_kind(self, model_config: Any | None) -> KVCacheKind | None:
        """The configured cache kind, checked against the model (None: config not readable)."""
        if model_config is None:
            return None
        name = resolve_kv_cache_name(self.config.kv_cache, model_config)
        try:
            kv_cache = get_kv_cache_kind(name, **self.config.kv_cache_options())
            kv_cache.check(model_config)  # e.g. an NQKV block size that does not divide head_dim
        except ValueError as exc:
            raise EngineError(
                f"kv_cache {name} does not fit {self._model_id}: {exc} (HUIJIN_KV_BLOCK_SIZE)"
            ) from None
        return kv_cache

    def _make_runner(self, model: Any, kv_cache: KVCacheKind) -> ModelRunner:
        fast_decode = self.config.fast_decode
        if fast_decode and (reason := unsupported_reason(model)) is not None:
            logger.warning("fast_decode is off for this model (%s); using the plain path", reason)
            fast_decode = False
        decode_weights = self.config.decode_weights
        if fast_decode and decode_weights == "int8":
            decode_weights = self._load_int8_kernel(model)
        return ModelRunner(
            model,
            kv_cache,
            self._device,
            fast_decode=fast_decode,
            packed_batch_weights=self.config.packed_batch_weights,
            decode_weights=decode_weights,
            int8_cache=self._int8_cache_path() if decode_weights == "int8" else None,
            prefix_cache_bytes=self.config.prefix_cache_mb * 2**20,
        )

    def _int8_cache_path(self) -> Path:
        """Where this checkpoint's int8 decode copies live: keyed by the weight files' path,
        size and modification time, so a changed checkpoint never reads stale codes."""
        checkpoint = self._source.checkpoint_dir.resolve()
        digest = hashlib.sha256(str(checkpoint).encode())
        for file in sorted(checkpoint.glob("*.safetensors")) + sorted(checkpoint.glob("*.bin")):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return Path(self._cache_dir) / "decode_weights" / f"{digest.hexdigest()[:24]}.safetensors"

    def _load_int8_kernel(self, model: Any) -> str:
        """ "int8" once its kernel is built and loaded; else say why and stream float16 instead."""
        if not is_float32_on_cpu(model):
            return "float16"  # the kernel is for float32 CPU models; others decode in their dtype
        try:
            cpu_kernels.load(self._cache_dir)
        except RuntimeError as exc:
            logger.warning("decode_weights=int8 is unavailable (%s); using float16", exc)
            return "float16"
        return "int8"

    def forget_prefixes(self) -> None:
        """Drop every cached prefix, so that a run repeating earlier prompts (a benchmark's
        second arm on the same questions) prefills them afresh. Call it with no request in
        flight."""
        if self._runner.prefix_cache is not None:
            self._runner.prefix_cache.clear()

    def _prefix_cache_info(self) -> dict[str, Any]:
        """How much prefill the prefix cache saved so far (absent when it is off)."""
        cache = self._runner.prefix_cache
        if cache is None:
            return {}
        stats = cache.stats
        return {
            "prefix_cache_bytes": cache.nbytes,
            "prefix_cache_hits": stats.hits,
            "prefix_cache_lookups": stats.lookups,
            "prefix_reused_tokens": stats.reused_tokens,
            "prefix_prompt_tokens": stats.prompt_tokens,
        }

    def _kv_cache_info(self) -> dict[str, Any]:
        """The quantized cache's options as resolved (kv_variant, kv_block_size, ...); empty for
        unquantized caches."""
        return self._runner.kv_cache.info()

    # -- the ChatEngine protocol ------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._model_id

    def info(self) -> ModelInfo:
        """What is loaded; memory_bytes counts the weights plus any prepacked copy."""
        params = list(self._model.parameters())  # tied weights appear once
        fast = self._runner.fast_decoder
        packed_bytes = fast.packed_bytes if fast is not None else 0
        return ModelInfo(
            model_id=self._model_id,
            backend="transformers",
            source=self._source.origin,
            dtype=str(self._dtype).removeprefix("torch."),
            device=self._device,
            num_parameters=sum(p.numel() for p in params),
            memory_bytes=sum(p.numel() * p.element_size() for p in params) + packed_bytes,
            load_time_s=self._load_time_s,
            context_length=self._context_length,
            extra={
                "checkpoint_dir": str(self._source.checkpoint_dir),
                "kv_cache": self._runner.kv_cache.name,
                **self._kv_cache_info(),
                "fast_decode": fast is not None,
                "decode_weights": fast.decode_weights if fast is not None else "float32",
                "packed_weights_bytes": packed_bytes,
                **self._prefix_cache_info(),
                "max_batch_size": self.config.max_batch_size,
                "num_threads": torch.get_num_threads(),
                "native_tool_template": self._template.is_native_tools,
            },
        )

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
    ) -> ChatResult:
        """One assistant turn for `messages`, with `tools` offered in the Hermes format."""
        seq = self._submit(self._chat_ids(messages, tools), params, bool(tools), logits_processor)
        return self._wait(seq)

    def stream_chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
    ) -> Iterator[StreamEvent]:
        """Like `chat`, yielding text deltas as they are decoded; the last event has the result.

        The request is queued at once; closing the iterator early cancels it.
        """
        ids = self._chat_ids(messages, tools)
        seq = self._submit(ids, params, bool(tools), logits_processor, is_stream=True)
        return self._events(seq)

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        tools: Sequence[ToolSpec] | None = None,
        params: SamplingParams | None = None,
    ) -> list[ChatResult]:
        """Submit every conversation at once (so they share batches), then wait for all."""
        prompts = [self._chat_ids(messages, tools) for messages in conversations]
        seqs = [self._submit(ids, params, bool(tools), None) for ids in prompts]
        return [self._wait(seq) for seq in seqs]

    def complete(
        self,
        prompt: str | Sequence[int],
        params: SamplingParams | None = None,
        *,
        logits_processor: LogitsProcessor | None = None,
    ) -> ChatResult:
        """Continue raw text or token ids, with no template and no special tokens added.

        To continue a partial assistant turn, render with `render_prompt` and append the text.
        """
        ids = self.tokenize(prompt) if isinstance(prompt, str) else [int(i) for i in prompt]
        vocab_size = self._model.get_input_embeddings().num_embeddings
        if any(not 0 <= i < vocab_size for i in ids):
            raise EngineError(f"token ids must be in [0, {vocab_size}); got one outside that range")
        return self._wait(self._submit(ids, params, False, logits_processor))

    def close(self) -> None:
        """Stop the scheduler; unfinished requests end with FinishReason.ABORT."""
        self._scheduler.close()

    def __enter__(self) -> TransformersEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers callers need ---------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @functools.cached_property
    def tokenizer_fingerprint(self) -> str:
        """What the ids of this engine's results mean (logged per turn; training checks it)."""
        with self._tokenizer_lock:
            return tokenizer_fingerprint(self._tokenizer)

    @property
    def stats(self) -> SchedulerStats:
        """What the scheduler did so far (batch sizes, steps); for benchmarks and tests."""
        return self._scheduler.stats

    def render_prompt(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        """The exact prompt text `chat` would feed the model."""
        return self._template.render(messages, tools, add_generation_prompt)

    def tokenize(self, text: str) -> list[int]:
        with self._tokenizer_lock:
            return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def detokenize(self, token_ids: Sequence[int]) -> str:
        with self._tokenizer_lock:
            return str(self._tokenizer.decode(list(token_ids), skip_special_tokens=False))

    # -- internals ----------------------------------------------------------------------------

    def _chat_ids(self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None) -> list[int]:
        try:
            text = self.render_prompt(messages, tools)
        except ValueError as exc:
            raise EngineError(f"cannot render the conversation: {exc}") from exc
        return self.tokenize(text)

    def _submit(
        self,
        prompt_ids: list[int],
        params: SamplingParams | None,
        is_chat_with_tools: bool,
        logits_processor: LogitsProcessor | None,
        is_stream: bool = False,
    ) -> GenSequence:
        params = params or SamplingParams()
        if not prompt_ids:
            raise EngineError("the prompt is empty; pass at least one token of text")
        if len(prompt_ids) >= self._context_length:
            raise EngineError(
                f"the prompt has {len(prompt_ids)} tokens but the model's context is "
                f"{self._context_length}; shorten the conversation"
            )
        seq = GenSequence(
            prompt_ids=prompt_ids,
            params=params,
            sampler=RowSampler.create(params, logits_processor),
            model_id=self._model_id,
            max_total_tokens=self._context_length,
            is_stream=is_stream,
            is_chat_with_tools=is_chat_with_tools,
        )
        self._scheduler.submit(seq)
        return seq

    def _next_event(self, seq: GenSequence) -> StreamEvent:
        while True:
            try:
                item = seq.events.get(timeout=_WAIT_POLL_S)
            except queue.Empty:
                if not self._scheduler.is_alive:
                    raise EngineError("the engine was closed; create a new engine") from None
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def _events(self, seq: GenSequence) -> Iterator[StreamEvent]:
        finished = False
        try:
            while not finished:
                event = self._next_event(seq)
                finished = event.finish_reason is not None
                yield event
        finally:
            if not finished:
                seq.is_cancelled = True

    def _wait(self, seq: GenSequence) -> ChatResult:
        try:
            while True:
                event = self._next_event(seq)
                if event.result is not None:
                    return event.result
        except BaseException:
            seq.is_cancelled = True  # e.g. KeyboardInterrupt: stop spending compute on it
            raise


def _read_model_config(checkpoint_dir: Any) -> Any | None:
    """The checkpoint's config without its weights, so cache settings fail before the load."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(checkpoint_dir))
    except Exception:  # load_checkpoint reports an unreadable checkpoint properly
        return None


def _end_of_turn_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """The tokenizer's EOS, the generation config's EOS ids and known end-of-turn tokens."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos:
        ids.update(int(i) for i in generation_eos)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in _END_OF_TURN_TOKENS if token in vocab)
    return frozenset(ids)
