"""A faster decode step for Llama-family models: the same maths with less overhead per token.

With a 135M model on two CPU cores a decode step is dominated by reading the weights once, and the
generic transformers forward adds a lot on top: ~15 module calls a layer, a 4-D mask built every
step, three separate q/k/v and two gate/up matmuls. Here (in the spirit of gpt-fast) one step is:
fused q|k|v matmul, rotary, cache update, SDPA over the kv heads, o-proj, fused gate|up matmul,
down-proj, with the weights stored in whichever memory layout MKL's matrix-vector kernels stream
fastest. The fused tensors replace the model's own weights (its modules then hold views), so
prefill, which stays on the transformers path, reads the same memory; when an int8 or float16
copy serves decode, the model's weights are left unfused (only prefill reads them). Optional copies
trade memory for speed, since a step is bound by the weight bytes it streams:
`decode_weights="int8"` keeps int8 codes with a scale and offset per 32 input channels where they
are exact (a 4-bit GGUF's blocks; cpu_kernels, the fastest) and a float16 copy elsewhere,
`"float16"` an fbgemm float16 copy (half of float32), and
with float32 decode weights `packed_batch_weights` adds a oneDNN copy for steps of 2+ rows, made
at the first such step.

With int8 decode weights over the preallocated float32 cache, the whole step (every layer:
norms, projections, rotary, cache write, attention, MLP) is one kernel call,
`cpu_kernels.decode_layers`: a Python loop of ~25 small torch ops a layer cost about as much as the
matmuls themselves on two cores. The per-op loop below stays for the other weight kinds and for
quantized (NQKV) caches, and is the fused call's reference in the tests.

Only decode (one new token per row) goes through here; the transformers forward stays the
reference, selected with `fast_decode=False`, and tests compare the two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Cache

from model.engine import cpu_kernels
from model.engine.kv_cache import PreallocatedLayer

logger = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("llama", "qwen2")
DECODE_WEIGHTS = ("float32", "float16", "int8")
_PACK_BATCH_HINT = 8


def unsupported_reason(model: Any) -> str | None:
    """Why `model` cannot use the fast decode step, or None when it can."""
    config = model.config
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return f"model_type {getattr(config, 'model_type', None)!r} is not one of {SUPPORTED_MODEL_TYPES}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"hidden_act {config.hidden_act!r} is not silu"
    if getattr(config, "use_sliding_window", False):
        return "sliding-window attention is not supported"
    if getattr(model, "hf_quantizer", None) is not None:
        return "quantized weights are not supported"
    return None


class _Projection:
    """A (possibly fused) linear layer in the layouts that are fastest for decode steps.

    Measured on AVX2 CPUs with MKL: for one row, `x @ W.T` with W.T stored contiguously streams
    the weights faster than F.linear whenever the layer widens (q|k|v, gate|up, vocabulary head),
    and as fast otherwise. For several rows MKL's small-M matmuls are 1.5-2x slower than oneDNN
    with prepacked weights, so `pack_onednn()` optionally adds a oneDNN copy for batched steps.
    Faster still, `pack_fp16()` adds an fbgemm copy in float16 (half the bytes to stream, fp32
    arithmetic), and `adopt_copy()` int8 codes or a float16 tensor for cpu_kernels, either of
    which then serves every decode step.
    """

    def __init__(
        self,
        weights: list[torch.Tensor],
        biases: list[torch.Tensor | None],
        float32_steps: bool = True,
    ) -> None:
        self.splits = [w.shape[0] for w in weights]
        out_features, in_features = sum(self.splits), weights[0].shape[1]
        parts = [w.detach() for w in weights]
        self.num_weights = sum(w.numel() for w in weights)
        # Only float32 decode steps read the float32 weights in a decode layout. When an int8 or
        # float16 copy serves the steps, the model's own tensors stay as they are (fusing and
        # transposing them cost ~0.5 s of a load) and the fused matrix is built when asked for.
        self.is_transposed = float32_steps and out_features > in_features
        self.weight: torch.Tensor | None
        if self.is_transposed:  # (in, out): each part copied once, straight into its columns
            self.weight = weights[0].new_empty((in_features, out_features))
            for part, w in zip(self.weight.split(self.splits, dim=1), parts, strict=True):
                part.copy_(w.t())
        elif len(weights) == 1:  # already the layout we want: no copy at all
            self.weight = parts[0]
        else:
            self.weight = torch.cat(parts) if float32_steps else None  # (out, in)
        # Kept only while unfused: a fused or transposed copy replaces them (the modules then
        # hold its views), and holding them too would keep two copies of those weights.
        self.parts = parts if self.weight is None else []
        self.bias = None
        if any(b is not None for b in biases):
            zeros = [w.new_zeros(w.shape[0]) for w in weights]
            self.bias = torch.cat(
                [b.detach() if b is not None else z for b, z in zip(biases, zeros, strict=True)]
            )
        self.packed: torch.Tensor | None = None
        self.fp16: Any = None  # fbgemm's packed float16 weight (an opaque ScriptObject)
        self.int8: cpu_kernels.Int8Weight | None = None  # codes, group scales and offsets
        self.half: torch.Tensor | None = None  # float16 (out, in) for cpu_kernels.half_linear

    @property
    def out_in(self) -> torch.Tensor:
        """The (fused) weight as (out, in); built anew each time when the parts are unfused."""
        if self.weight is None:
            return torch.cat(self.parts)
        return self.weight.t() if self.is_transposed else self.weight

    def pack_onednn(self) -> None:
        """Add the oneDNN copy: (out, in) in its blocked layout, tuned for about 8 rows."""
        self.packed = torch.ops.mkldnn._reorder_linear_weight(
            self.out_in.contiguous(), _PACK_BATCH_HINT
        )

    def pack_fp16(self) -> None:
        """Add the fbgemm float16 copy used for every decode step from now on."""
        self.fp16 = torch.ops.quantized.linear_prepack_fp16(self.out_in.contiguous(), self.bias)

    def decode_copy(self) -> cpu_kernels.DecodeCopy | None:
        """int8 codes where they are at least as exact as float16, else a float16 copy (None:
        a width neither kernel takes; fbgemm's float16 then serves).

        A GGUF's 4/5/8-bit blocks of 32 (Q4_0/1, Q4_K, Q5_K, Q8_0) sit on the int8 grid exactly;
        a 6-bit Q6_K tensor (16-element sub-blocks) or an unquantized checkpoint's weights do
        not, and there int8 would lose more than float16.
        """
        weight = self.out_in
        half = weight.half().contiguous()
        if weight.shape[1] % cpu_kernels.GROUP_SIZE == 0:
            codes = cpu_kernels.quantize_weight(weight)
            int8_error = torch.linalg.norm(weight - cpu_kernels.dequantize_weight(*codes))
            if int8_error <= torch.linalg.norm(weight - half.float()):
                return codes
        return half if weight.shape[1] % 8 == 0 else None

    def adopt_copy(self, copy: cpu_kernels.DecodeCopy | None) -> None:
        """Serve decode steps from `copy` (fbgemm float16 when there is none)."""
        if isinstance(copy, torch.Tensor):
            self.half = copy
        elif copy is not None:
            self.int8 = copy
        else:
            self.pack_fp16()

    @property
    def extra_bytes(self) -> int:
        """Memory of the decode copies this projection holds besides its float32 weight."""
        total = self.num_weights * 2 if self.fp16 is not None else 0
        if self.half is not None:
            total += self.half.numel() * 2
        if self.int8 is not None:
            total += sum(t.numel() * t.element_size() for t in self.int8)
        if self.packed is not None:
            total += self.packed.numel() * self.packed.element_size()
        return total

    def views(self) -> list[torch.Tensor]:
        """(out, in) views of each fused part, to hand back to the original modules."""
        if self.weight is None:
            return list(self.parts)
        return list(torch.split(self.out_in, self.splits, dim=0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.int8 is not None:
            return cpu_kernels.int8_linear(x, self.int8, self.bias)
        if self.half is not None:
            return cpu_kernels.half_linear(x, self.half, self.bias)
        if self.fp16 is not None:
            return torch.ops.quantized.linear_dynamic_fp16(x, self.fp16)
        if self.packed is not None and x.shape[0] > 1:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        weight = self.out_in if self.weight is None else self.weight
        if self.is_transposed:
            out = x @ weight
            return out + self.bias if self.bias is not None else out
        return F.linear(x, weight, self.bias)


def is_float32_on_cpu(model: Any) -> bool:
    """Every decode copy (and the CPU kernels) is made from float32 weights on the CPU; other
    models decode in their own dtype and device."""
    weight = model.lm_head.weight
    return weight.device.type == "cpu" and weight.dtype == torch.float32


def can_use_fp16_weights(model: Any) -> bool:
    """fbgemm's float16-weight GEMM exists for float32 CPU models on x86 builds."""
    return (
        is_float32_on_cpu(model)
        and "fbgemm" in torch.backends.quantized.supported_engines
        and hasattr(torch.ops.quantized, "linear_prepack_fp16")
    )


def can_use_int8_weights(model: Any) -> bool:
    """The int8 kernel serves float32 CPU models once `cpu_kernels.load` has built it."""
    return is_float32_on_cpu(model) and cpu_kernels.is_loaded()


def can_pack_for_onednn(model: Any) -> bool:
    """oneDNN prepacking exists for float32 CPU weights in builds with mkldnn."""
    return (
        is_float32_on_cpu(model)
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


def _adopt(module: torch.nn.Linear, view: torch.Tensor) -> None:
    """Make `module` use `view` (shared storage) so the weight is not kept twice."""
    module.weight = torch.nn.Parameter(view, requires_grad=False)


@dataclass
class _Layer:
    input_norm: torch.Tensor
    post_norm: torch.Tensor
    qkv: _Projection
    o: _Projection
    gate_up: _Projection
    down: _Projection


class FastDecoder:
    """One decode step: (batch, 1) token ids -> next-token logits (batch, vocab).

    With `decode_weights="int8"` the caller must have loaded the kernels (`cpu_kernels.load`);
    the engine does, and falls back to float16 when they cannot be built. `int8_cache` is a file
    for the int8 copies: read when it exists (seconds saved per load), else written.
    """

    def __init__(
        self,
        model: Any,
        packed_batch_weights: bool = False,
        decode_weights: str = "float32",
        int8_cache: Path | None = None,
    ) -> None:
        reason = unsupported_reason(model)
        if reason is not None:
            raise ValueError(f"fast_decode is not available for this model: {reason}")
        if decode_weights not in DECODE_WEIGHTS:
            raise ValueError(f"decode_weights must be one of {DECODE_WEIGHTS}")
        config = model.config
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.num_heads
        self.eps = config.rms_norm_eps
        self.is_int8 = decode_weights == "int8" and can_use_int8_weights(model)
        # float16 is also where int8 falls back to when its kernel is not loaded.
        self.is_fp16 = (
            decode_weights != "float32" and not self.is_int8 and can_use_fp16_weights(model)
        )
        # The oneDNN copies are made at the first batched step, so a single-stream user (the CLI)
        # never pays their memory or the seconds it takes to pack them.
        self.wants_packed = (
            packed_batch_weights
            and not (self.is_fp16 or self.is_int8)
            and can_pack_for_onednn(model)
        )
        self.is_packed = False
        base = model.model
        self.embed = base.embed_tokens
        self.rotary = base.rotary_emb
        self.final_norm = base.norm.weight.detach()
        self._float32_steps = not (self.is_int8 or self.is_fp16)
        self.layers = [self._fuse_layer(layer) for layer in base.layers]
        self.lm_head = _Projection(
            [model.lm_head.weight], [getattr(model.lm_head, "bias", None)], self._float32_steps
        )
        if model.lm_head.weight is self.embed.weight:  # tied embeddings: keep one Parameter
            if self.lm_head.is_transposed:  # the embedding reads rows through a strided view
                _adopt(self.embed, self.lm_head.views()[0])
                model.lm_head.weight = self.embed.weight
        else:
            _adopt(model.lm_head, self.lm_head.views()[0])
        # With every projection in an int8/float16 copy, a step over a preallocated float32
        # cache runs all layers in one kernel call (cpu_kernels.decode_layers).
        self.layer_weights: list[torch.Tensor] | None = None
        if self.is_int8:
            self._add_decode_copies(int8_cache)
            self.layer_weights = self._layer_weights()
        elif self.is_fp16:
            for projection in self.projections:
                projection.pack_fp16()

    def _add_decode_copies(self, cache: Path | None) -> None:
        named = self.named_projections()
        stored = cpu_kernels.load_weights(cache, list(named)) if cache and cache.is_file() else None
        copies = stored or {name: p.decode_copy() for name, p in named.items()}
        for name, projection in named.items():
            projection.adopt_copy(copies[name])
        if stored is None and cache is not None and all(c is not None for c in copies.values()):
            try:
                cpu_kernels.save_weights(cache, copies)  # type: ignore[arg-type]
            except OSError as exc:  # a read-only cache dir costs speed at the next load, no more
                logger.warning("could not cache the int8 decode weights at %s: %s", cache, exc)

    def _layer_weights(self) -> list[torch.Tensor] | None:
        """The flat tensor list `cpu_kernels.decode_layers` takes; None when a projection has no
        int8/float16 copy (an fbgemm fallback), which only the per-op path can run."""
        none = torch.empty(0)
        flat: list[torch.Tensor] = []
        for layer in self.layers:
            flat += [layer.input_norm.contiguous(), layer.post_norm.contiguous()]
            for projection in (layer.qkv, layer.o, layer.gate_up, layer.down):
                bias = projection.bias if projection.bias is not None else none
                if projection.int8 is not None:
                    flat += [*projection.int8, bias]
                elif projection.half is not None:
                    flat += [projection.half, none, none, bias]
                else:
                    return None
        return flat

    def named_projections(self) -> dict[str, _Projection]:
        """Every projection by a stable name (the int8 cache's keys)."""
        named = {"lm_head": self.lm_head}
        for index, layer in enumerate(self.layers):
            for part in ("qkv", "o", "gate_up", "down"):
                named[f"layers.{index}.{part}"] = getattr(layer, part)
        return named

    @property
    def decode_weights(self) -> str:
        """What decode steps stream: int8, float16 or float32."""
        return "int8" if self.is_int8 else "float16" if self.is_fp16 else "float32"

    @property
    def projections(self) -> list[_Projection]:
        layers = [(layer.qkv, layer.o, layer.gate_up, layer.down) for layer in self.layers]
        return [self.lm_head, *(p for group in layers for p in group)]

    @property
    def packed_bytes(self) -> int:
        """Memory held by the extra decode copies (int8, fp16, or oneDNN once a batch has run)."""
        return sum(p.extra_bytes for p in self.projections)

    def pack(self) -> None:
        """Make the oneDNN copies for batched steps (all at once, so every step is consistent)."""
        for projection in self.projections:
            projection.pack_onednn()
        self.is_packed = True

    def _fuse_layer(self, layer: Any) -> _Layer:
        attn, mlp = layer.self_attn, layer.mlp
        qkv_mods = [attn.q_proj, attn.k_proj, attn.v_proj]
        float32_steps = self._float32_steps
        qkv = _Projection([m.weight for m in qkv_mods], [m.bias for m in qkv_mods], float32_steps)
        gate_up = _Projection(
            [mlp.gate_proj.weight, mlp.up_proj.weight],
            [mlp.gate_proj.bias, mlp.up_proj.bias],
            float32_steps,
        )
        o = _Projection([attn.o_proj.weight], [attn.o_proj.bias], float32_steps)
        down = _Projection([mlp.down_proj.weight], [mlp.down_proj.bias], float32_steps)
        for module, view in [
            *zip(qkv_mods, qkv.views(), strict=True),
            *zip([mlp.gate_proj, mlp.up_proj], gate_up.views(), strict=True),
            (attn.o_proj, o.views()[0]),
            (mlp.down_proj, down.views()[0]),
        ]:
            _adopt(module, view)
        return _Layer(
            input_norm=layer.input_layernorm.weight.detach(),
            post_norm=layer.post_attention_layernorm.weight.detach(),
            qkv=qkv,
            o=o,
            gate_up=gate_up,
            down=down,
        )

    def _rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """As LlamaRMSNorm: statistics in float32 even for half-precision weights."""
        if x.dtype == torch.float32:
            if self.is_int8:  # the kernels are loaded: one call instead of torch's six
                return cpu_kernels.rms_norm(x, weight, self.eps)
            return F.rms_norm(x, weight.shape, weight, self.eps)
        xf = x.float()
        return weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    def _attention(
        self,
        q: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        attention_mask: torch.Tensor | None,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Grouped-query attention of the new token: the kernel when loaded (torch's SDPA costs
        ~100 us a call at these shapes, profiled), else SDPA."""
        if (
            self.is_int8
            and keys.dtype == torch.float32
            and keys.stride(-1) == values.stride(-1) == 1
        ):
            return cpu_kernels.decode_attention(q, keys, values, attention_mask)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)

    def _fits_fused_step(self, cache: Cache) -> bool:
        layers = cache.layers
        return (
            self.layer_weights is not None
            and len(layers) == len(self.layers)
            and all(isinstance(layer, PreallocatedLayer) for layer in layers)
            and layers[0].keys is not None
            and layers[0].keys.dtype == torch.float32
        )

    def _fused_step(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: Cache,
    ) -> torch.Tensor:
        """The step in one kernel call over all layers, writing into the cache's buffers."""
        layers: list[PreallocatedLayer] = cache.layers  # type: ignore[assignment]
        length = layers[0].get_seq_length()
        buffers = [layer.reserve(length + 1) for layer in layers]
        hidden = self.embed(input_ids)  # (batch, 1, hidden)
        cos, sin = self.rotary(hidden, position_ids)  # (batch, 1, head_dim)
        assert self.layer_weights is not None
        hidden = cpu_kernels.decode_layers(
            hidden[:, 0],
            cos[:, 0],
            sin[:, 0],
            attention_mask,
            self.layer_weights,
            [keys for keys, _ in buffers],
            [values for _, values in buffers],
            self.num_heads,
            self.num_kv_heads,
            self.eps,
            length,
        )
        for layer in layers:
            layer.advance(1)
        return self.lm_head(cpu_kernels.rms_norm(hidden, self.final_norm, self.eps))

    @torch.inference_mode()
    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: Cache,
    ) -> torch.Tensor:
        if self._fits_fused_step(cache):
            return self._fused_step(input_ids, attention_mask, position_ids, cache)
        batch = input_ids.shape[0]
        if batch > 1 and self.wants_packed and not self.is_packed:
            self.pack()
        heads, kv_heads, dim = self.num_heads, self.num_kv_heads, self.head_dim
        groups, half = heads // kv_heads, dim // 2
        hidden = self.embed(input_ids)  # (batch, 1, hidden)
        cos, sin = self.rotary(hidden, position_ids)  # (batch, 1, head_dim)
        cos = cos[:, None]  # (batch, 1, 1, head_dim): broadcast over heads
        # rotate_half(x) * sin == roll(x, half) * [-sin_lo, sin_hi]: one roll instead of a
        # slice-negate-concatenate per call.
        sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)[:, None]
        # The query's `groups` heads that share a kv head ride in the query-length slot, so SDPA
        # attends per kv head without repeating keys; a padding mask (batch, 1, 1, kv) broadcasts.
        mask = attention_mask[:, None, None, :].bool() if attention_mask is not None else None
        for layer_idx, layer in enumerate(self.layers):
            x = self._rms_norm(hidden, layer.input_norm)
            qkv = layer.qkv(x)  # (batch, 1, (heads + 2 * kv_heads) * head_dim)
            # q and k are adjacent in the fused output: rotate both in one go.
            qk = qkv[..., : (heads + kv_heads) * dim].reshape(batch, heads + kv_heads, 1, dim)
            qk = qk * cos + qk.roll(half, dims=-1) * sin
            q, k = qk[:, :heads], qk[:, heads:]  # (batch, heads | kv_heads, 1, head_dim)
            v = qkv[..., (heads + kv_heads) * dim :].view(batch, kv_heads, 1, dim)
            keys, values = cache.update(k, v, layer_idx)  # (batch, kv_heads, kv, head_dim)
            q = q.reshape(batch, kv_heads, groups, dim)
            attn = self._attention(q, keys, values, attention_mask, mask)
            hidden = hidden + layer.o(attn.reshape(batch, 1, heads * dim))
            x = self._rms_norm(hidden, layer.post_norm)
            gate, up = layer.gate_up(x).chunk(2, dim=-1)
            hidden = hidden + layer.down(F.silu(gate) * up)
        hidden = self._rms_norm(hidden, self.final_norm)
        return self.lm_head(hidden[:, -1])  # (batch, vocab)
