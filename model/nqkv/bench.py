"""Quality and memory of NQKV and its peers against the unquantized cache, on real text.

Protocol (one model, one text of `num_tokens` tokens):
- teacher-forced: the text is fed in chunks of `chunk_tokens`, so every chunk attends to the
  cache as the method stores it (quantized beyond the residual window) and to itself in full
  precision, as a decode step would. Per token: NLL (perplexity) and KL(p_fp || p_method).
- SQNR of K and V: the unquantized cache of the whole text, quantized and dequantized with the
  method's key and value specs, 10 log10(|x|^2 / |x - x_hat|^2), averaged over layers.
- bytes/token: `cache.nbytes(full_precision_bytes=2)` after the text (the residual window counted
  at fp16, as a GPU deployment holds it), divided by the tokens; `body_ratio` is the asymptotic
  ratio to fp16 of the quantized part alone (codes + scales).
- greedy agreement: from a `greedy_prompt_tokens` prompt, `greedy_new_tokens` greedy tokens with
  the method vs with the unquantized cache: share of equal tokens and the first divergence.
- `nqkv_fit`: the centred, per-channel-key NQKV variant with the `nf_tail` codebook, its tail
  probability fitted per bits and per side (max SQNR over `TAIL_GRID`) on a *calibration* text
  that the measured texts do not contain; the fitted tails are reported.
Sliding-window layers (gemma-3) stay unquantized in every cache, so SQNR is averaged over the
full-attention layers only.
The unquantized reference is the model's own dtype on CPU (fp32); it is called fp16 throughout
because its bytes are counted at 2 an element.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache

from model.nqkv.cache import BlockQuantizedCache, model_head_dim
from model.nqkv.codebook import CodebookKind
from model.nqkv.config import GroupAxis, NQKVConfig, QuantSpec
from model.nqkv.peers import PEERS, quanto_cache, quanto_nbytes
from model.nqkv.quantize import fake_quantize
from model.nqkv.variants import FIT_LAYOUT

# The NQKV variants measured (all normal-quantile codebooks); the first is the paper's rule.
NQKV_VARIANTS: dict[str, dict[str, Any]] = {
    "nqkv": {},  # absmax NF, blocks of 64 channels of one token (keys and values)
    "nqkv_kc": {"key_axis": GroupAxis.TOKENS, "block_size": 32},  # keys per channel, g32
    "nqkv_kc_c": {  # + centred blocks (fp16 midpoint): the same bytes as KIVI
        "key_axis": GroupAxis.TOKENS,
        "block_size": 32,
        "center_keys": True,
        "center_values": True,
    },
    "nqkv_kc_c_sym": {
        "key_axis": GroupAxis.TOKENS,
        "block_size": 32,
        "center_keys": True,
        "center_values": True,
        "codebook": CodebookKind.NF_SYM,
    },
}
# nqkv_fit: nqkv_kc_c with an nf_tail codebook whose tails are fitted on calibration text (the
# layout the engine's nqkvN_fit caches use, with the tails this benchmark fitted).
FIT_VARIANT: dict[str, Any] = FIT_LAYOUT
TAIL_GRID = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98)


@dataclass(frozen=True)
class BenchConfig:
    num_tokens: int = 1024
    chunk_tokens: int = 32
    residual_tokens: int = 128
    bits: tuple[int, ...] = (2, 3, 4)
    methods: tuple[str, ...] = (*NQKV_VARIANTS, "nqkv_fit", *PEERS, "quanto")
    greedy_prompt_tokens: int = 384
    greedy_new_tokens: int = 24


@dataclass
class Method:
    name: str
    bits: int
    make: Callable[[Any], Any]  # model_config -> cache
    nbytes: Callable[[Any], int]
    specs: tuple[QuantSpec, QuantSpec] | None  # None: not expressible (quanto)


@dataclass
class TextResult:
    nll: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)


def fit_tails(layers: list[tuple[torch.Tensor, torch.Tensor]], bits: int) -> tuple[float, float]:
    """(key tail, value tail) of FIT_VARIANT with the best SQNR on `layers` (calibration K/V)."""
    best = []
    for side in (0, 1):
        scores = {}
        for tail in TAIL_GRID:
            config = NQKVConfig(bits=bits, key_tail=tail, value_tail=tail, **FIT_VARIANT)
            spec = config.key_spec() if side == 0 else config.value_spec()
            scores[tail] = sqnr_db(layers, spec, side)
        best.append(max(scores, key=scores.__getitem__))
    return best[0], best[1]


def build_methods(
    config: BenchConfig, model_config: Any, tails: dict[int, tuple[float, float]] | None = None
) -> list[Method]:
    head_dim = model_head_dim(model_config)
    residual = config.residual_tokens
    methods: list[Method] = []

    def block_nbytes(cache: Any) -> int:
        return cache.nbytes(full_precision_bytes=2)

    for bits in config.bits:
        for name, overrides in NQKV_VARIANTS.items():
            if name not in config.methods:
                continue
            nqkv = NQKVConfig(bits=bits, residual_tokens=residual, **overrides)
            specs = (nqkv.key_spec(), nqkv.value_spec())
            methods.append(Method(name, bits, _block_factory(specs, residual), block_nbytes, specs))
        if "nqkv_fit" in config.methods and tails is not None:
            key_tail, value_tail = tails[bits]
            nqkv = NQKVConfig(
                bits=bits, residual_tokens=residual, key_tail=key_tail, value_tail=value_tail,
                **FIT_VARIANT,
            )  # fmt: skip
            specs = (nqkv.key_spec(), nqkv.value_spec())
            factory = _block_factory(specs, residual)
            methods.append(Method("nqkv_fit", bits, factory, block_nbytes, specs))
        for name, peer in PEERS.items():
            if name in config.methods:
                specs = peer.specs(bits, head_dim)
                factory = _block_factory(specs, residual)
                methods.append(Method(name, bits, factory, block_nbytes, specs))
        if "quanto" in config.methods and bits in (2, 4):
            methods.append(
                Method(
                    "quanto",
                    bits,
                    lambda mc, b=bits: quanto_cache(b, mc, residual_tokens=residual),
                    lambda cache: quanto_nbytes(cache, full_precision_bytes=2),
                    None,
                )
            )
    return methods


def _block_factory(specs: tuple[QuantSpec, QuantSpec], residual: int) -> Callable[[Any], Any]:
    return lambda model_config: BlockQuantizedCache(specs[0], specs[1], model_config, residual)


@torch.no_grad()
def teacher_forced(model: Any, ids: torch.Tensor, cache: Any, chunk: int) -> torch.Tensor:
    """(tokens - 1, vocab) next-token log-probs with the text fed `chunk` tokens at a time."""
    pieces = []
    for start in range(0, ids.shape[1], chunk):
        logits = model(ids[:, start : start + chunk], cache=cache, use_cache=True).logits
        pieces.append(torch.log_softmax(logits[0].float(), dim=-1))
    return torch.cat(pieces)[:-1]


def _nll_kl(log_probs: torch.Tensor, ref: torch.Tensor, ids: torch.Tensor) -> tuple[float, float]:
    targets = ids[0, 1:]
    nll = -log_probs.gather(1, targets[:, None]).mean()
    kl = (ref.exp() * (ref - log_probs)).sum(dim=-1).mean()
    return float(nll), float(kl)


def sqnr_db(
    reference: list[tuple[torch.Tensor, torch.Tensor]], spec: QuantSpec, side: int
) -> float:
    """Mean over layers of the SQNR (dB) of keys (side 0) or values (side 1) under `spec`."""
    values = []
    for layer in reference:
        x = layer[side]
        usable = x.shape[-2] - x.shape[-2] % spec.block_size if spec.axis == "tokens" else None
        x = x[:, :, :usable]
        err = (x - fake_quantize(x, spec)).pow(2).sum()
        values.append(10 * math.log10(float(x.pow(2).sum()) / max(float(err), 1e-30)))
    return sum(values) / len(values)


@torch.no_grad()
def greedy(model: Any, prompt_ids: torch.Tensor, cache: Any, new_tokens: int) -> torch.Tensor:
    out = model.generate(
        prompt_ids,
        attention_mask=torch.ones_like(prompt_ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        cache=cache,
        pad_token_id=0,
    )
    return out[0, prompt_ids.shape[1] :]


def fp16_bytes_per_token(model_config: Any) -> int:
    text = model_config.get_text_config(decoder=True)
    return 2 * 2 * text.num_hidden_layers * text.num_key_value_heads * model_head_dim(model_config)


@torch.no_grad()
def full_attention_kv(model: Any, ids: torch.Tensor, chunk: int) -> list[tuple[torch.Tensor, ...]]:
    """Unquantized (keys, values) of the layers a quantized cache stores (not sliding ones)."""
    cache = DynamicCache(config=model.config)
    teacher_forced(model, ids, cache, chunk)
    return _full_attention(model.config, cache)


def _dense_bytes(cache: Any, bytes_per_element: int) -> int:
    return sum(
        (layer.keys.numel() + layer.values.numel()) * bytes_per_element
        for layer in cache.layers
        if layer.keys is not None
    )


def _full_attention(model_config: Any, cache: Any) -> list[tuple[torch.Tensor, ...]]:
    text = model_config.get_text_config(decoder=True)
    types = getattr(text, "layer_types", None) or ["full_attention"] * len(cache.layers)
    return [
        (layer.keys, layer.values)
        for layer, kind in zip(cache.layers, types, strict=True)
        if kind != "sliding_attention"
    ]


def run_bench(
    model: Any,
    texts: dict[str, torch.Tensor],
    prompt_ids: torch.Tensor,
    config: BenchConfig,
    log: Callable[[str], None] = print,
    calibration_ids: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Every method on every text; returns a JSON-ready dict (see the module docstring)."""
    model_config = model.config
    fp16_per_token = fp16_bytes_per_token(model_config)
    tails = None
    if "nqkv_fit" in config.methods and calibration_ids is not None:
        calibration = full_attention_kv(model, calibration_ids, config.chunk_tokens)
        tails = {bits: fit_tails(calibration, bits) for bits in config.bits}
        log(f"fitted nf_tail tails (keys, values) by bits: {tails}")
    methods = build_methods(config, model_config, tails)
    refs: dict[str, tuple[torch.Tensor, list]] = {}
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}  # method-bits -> why it could not run here
    for text_name, ids in texts.items():
        cache = DynamicCache(config=model_config)
        ref = teacher_forced(model, ids, cache, config.chunk_tokens)
        refs[text_name] = (ref, _full_attention(model_config, cache))
        # What the unquantized cache really holds at fp16 (gemma's sliding layers keep a window).
        fp16_per_token = _dense_bytes(cache, 2) / ids.shape[1]
        nll, _ = _nll_kl(ref, ref, ids)
        results.append(_row("fp16", 16, text_name, nll, 0.0, fp16_per_token, fp16_per_token))
    ref_greedy = greedy(model, prompt_ids, None, config.greedy_new_tokens)
    for method in methods:
        started = time.perf_counter()
        try:
            generated = greedy(
                model, prompt_ids, method.make(model_config), config.greedy_new_tokens
            )
        except Exception as exc:  # a peer that does not run on this model/platform
            reason = f"{type(exc).__name__}: {exc}"
            log(f"skip {method.name}-{method.bits}: {reason}")
            skipped[f"{method.name}-{method.bits}"] = reason
            continue
        agree = (generated == ref_greedy).float()
        first_diff = int((agree == 0).nonzero()[0]) if (agree == 0).any() else len(agree)
        for text_name, ids in texts.items():
            ref, layers = refs[text_name]
            cache = method.make(model_config)
            log_probs = teacher_forced(model, ids, cache, config.chunk_tokens)
            nll, kl = _nll_kl(log_probs, ref, ids)
            row = _row(
                method.name, method.bits, text_name, nll, kl,
                method.nbytes(cache) / ids.shape[1], fp16_per_token,
            )  # fmt: skip
            if method.specs is not None:
                key_spec, value_spec = method.specs
                row["sqnr_k_db"] = sqnr_db(layers, key_spec, 0)
                row["sqnr_v_db"] = sqnr_db(layers, value_spec, 1)
                per_elem = (key_spec.bytes_per_element() + value_spec.bytes_per_element()) / 2
                row["body_ratio"] = per_elem / 2
            row["greedy_agree"] = float(agree.mean())
            row["greedy_first_diff"] = first_diff
            results.append(row)
        log(f"{method.name}-{method.bits}: {time.perf_counter() - started:.1f}s")
    base = {r["text"]: r["ppl"] for r in results if r["method"] == "fp16"}
    for row in results:
        row["ppl_delta_pct"] = 100 * (row["ppl"] / base[row["text"]] - 1)
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "fitted_tails": {str(b): list(t) for b, t in (tails or {}).items()},
        "calibration_tokens": 0 if calibration_ids is None else int(calibration_ids.shape[1]),
        "fp16_bytes_per_token": fp16_per_token,
        "num_tokens": {name: int(ids.shape[1]) for name, ids in texts.items()},
        "results": results,
        "skipped": skipped,
    }


def _row(name: str, bits: int, text: str, nll: float, kl: float, per_token: float, fp16: int):
    return {
        "method": name,
        "bits": bits,
        "text": text,
        "ppl": math.exp(nll),
        "kl": kl,
        "bytes_per_token": per_token,
        "bytes_ratio": per_token / fp16,
    }
