"""How the embedded transformers backend loads and runs a model: one frozen, validated config.

Every field has a safe default, so `TransformersEngine()` runs the embedded SmolLM2 on CPU with the
fast decode path; the plain transformers path (the reference the tests compare against) is
`fast_decode=False, kv_cache="dynamic"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.engine.fast_decode import DECODE_WEIGHTS
from model.engine.kv_cache import (
    FIT_KV_CACHES,
    QUANTIZED_KV_CACHES,
    get_kv_cache_kind,
    kv_cache_names,
)

EMBEDDED = "embedded"
_DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class TransformersEngineConfig:
    """How to load and run the embedded backend. Validated when built."""

    model: str | None = None
    """Checkpoint directory, .gguf file, or hub id (online only); None/"embedded" = SmolLM2-135M."""
    model_id: str | None = None
    """Name reported in results and info(); default derived from the source."""
    cache_dir: Path | None = None
    """Where converted GGUF checkpoints go; default $HUIJIN_CACHE_DIR or the user cache dir."""
    device: str = "cpu"
    """Torch device: cpu, cuda, cuda:1, or auto."""
    dtype: str = "auto"
    """Weight dtype: auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16 or float16."""
    max_batch_size: int = 16
    """Most sequences decoded together; more requests wait for a free row."""
    num_threads: int | None = None
    """Torch intra-op threads (process-wide); None leaves torch's default."""
    kv_cache: str = "auto"
    """KV cache kind (kv_cache.register_kv_cache adds more): dynamic (transformers' own, the
    reference), preallocated (no per-step copy), auto (preallocated for full-attention models),
    nqkv2 / nqkv3 / nqkv4 (normal-quantile quantized, the NQKV paper's rule, model/nqkv; both
    decode paths), or nqkv2_fit / nqkv3_fit / nqkv4_fit (the measured better variant,
    model/nqkv/variants.py)."""
    kv_block_size: int | None = None
    """NQKV: elements sharing one fp16 scale; must divide the model's head_dim. None: the kind's
    own, 64 for nqkvN and 32 for nqkvN_fit."""
    kv_residual_tokens: int = 128
    """NQKV: most recent tokens kept in full precision."""
    kv_sink_tokens: int = 0
    """NQKV: first tokens (attention sinks) kept in full precision."""
    fast_decode: bool = True
    """Decode through the fused Llama-family step (fast_decode.py), falling back to the plain
    transformers forward (the reference, fast_decode=False) for other architectures."""
    decode_weights: str = "int8"
    """With fast_decode on CPU: weights the decode step streams. int8 = codes with a float32
    scale per 32 input channels, our AVX2 kernel (cpu_kernels; compiled once, ~20 s; +28% weight
    memory; the fastest, see the README's engine table); float16 = an fbgemm fp16 copy (half the
    bytes of float32; +50% memory; also where int8 falls back without AVX2 or a compiler);
    float32 = the exact weights (MKL / oneDNN layouts)."""
    prefix_cache_mb: int = 1024
    """Memory for recently prefilled prompts' KV (prefix_cache.py): a prompt that begins like
    one of them (an agent's next step, the same system prompt and tools) prefills only its new
    tokens. 0 turns it off; quantized (NQKV) caches never use it."""
    packed_batch_weights: bool = True
    """With fast_decode and float32 decode weights on CPU: a oneDNN-prepacked copy for steps of
    2+ rows (~1.3-2x faster than MKL there on AVX2 CPUs; one more copy of the weights)."""
    attn_implementation: str = "sdpa"
    """transformers attention implementation: sdpa or eager."""
    max_context_tokens: int | None = None
    """Cap on prompt + completion tokens; default the model's max_position_embeddings."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError("num_threads must be at least 1, or None for torch's default")
        if self.dtype not in _DTYPE_NAMES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPE_NAMES)}; got {self.dtype!r}")
        if self.kv_cache not in kv_cache_names():
            raise ValueError(
                f"kv_cache must be one of {', '.join(kv_cache_names())}; got {self.kv_cache!r}"
            )
        if self.kv_cache in (*QUANTIZED_KV_CACHES, *FIT_KV_CACHES):
            self.kv_cache_options()  # NQKVConfig validates and says what to set
        if self.decode_weights not in DECODE_WEIGHTS:
            raise ValueError(f"decode_weights must be one of {', '.join(DECODE_WEIGHTS)}")
        if self.prefix_cache_mb < 0:
            raise ValueError("prefix_cache_mb must be 0 (off) or more")
        if self.attn_implementation not in ("sdpa", "eager"):
            raise ValueError("attn_implementation must be 'sdpa' or 'eager'")
        if self.max_context_tokens is not None and self.max_context_tokens < 2:
            raise ValueError("max_context_tokens must be at least 2")

    def kv_cache_options(self) -> dict[str, int | None]:
        """Keyword options for the kv_cache kind's factory (the NQKV kinds take three)."""
        if self.kv_cache not in (*QUANTIZED_KV_CACHES, *FIT_KV_CACHES):
            return {}
        options = {
            "block_size": self.kv_block_size,
            "residual_tokens": self.kv_residual_tokens,
            "sink_tokens": self.kv_sink_tokens,
        }
        get_kv_cache_kind(self.kv_cache, **options)
        return options
