"""The NQKV variants the engine serves: the paper's rule, and the fitted one that beats KIVI.

- `paper`: absmax normal-float codes, one fp16 scale per block of 64 channels of one token, for
  keys and values (the NQKV paper's rule; what `kv_cache=nqkv2|3|4` has always been).
- `fit`: `nqkv_fit` of benchmarks/nqkv_quality.py. Keys are grouped per channel in blocks of 32
  tokens, values per token in blocks of 32 channels; every block is centred (an fp16 midpoint
  and half-range, KIVI's bytes); the codebook is `nf_tail`, 2^b normal quantiles at
  probabilities evenly spaced over [1 - t, t], with t fitted per width and side. It beats KIVI
  on KL at every width on SmolLM2 and passes "4-bit perplexity within 1% of fp16" where the
  paper's rule fails (README, "NQKV: perplexity, KL, bytes and greedy agreement").

The engine does not fit t at load: that needs a calibration pass through the model. It uses
`FITTED_TAILS`, the tails the benchmark fitted on 512 FinQA calibration tokens of SmolLM2-135M
(the embedded model): benchmarks/results/nqkv_quality_smollm2.json ("fitted_tails") and its .md
("nqkv_fit tails ... 2-bit K 0.8, V 0.85; 3-bit K 0.8, V 0.9; 4-bit K 0.8, V 0.9"). gemma-3-270m
fitted 0.85 for both sides (nqkv_quality_gemma.json); pass `key_tail` / `value_tail` to use a
model's own fit.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from model.nqkv.codebook import CodebookKind
from model.nqkv.config import GroupAxis, NQKVConfig


class Variant(StrEnum):
    PAPER = "paper"
    FIT = "fit"


# The fitted variant's layout (bench.py's FIT_VARIANT is this dict; nqkv_kc_c + nf_tail).
FIT_LAYOUT: dict[str, Any] = {
    "key_axis": GroupAxis.TOKENS,
    "block_size": 32,
    "center_keys": True,
    "center_values": True,
    "codebook": CodebookKind.NF_TAIL,
}
# bits -> (key tail, value tail), fitted on SmolLM2-135M (see the module docstring).
FITTED_TAILS: dict[int, tuple[float, float]] = {2: (0.8, 0.85), 3: (0.8, 0.9), 4: (0.8, 0.9)}
DEFAULT_BLOCK_SIZE = {Variant.PAPER: 64, Variant.FIT: FIT_LAYOUT["block_size"]}


def variant_config(
    variant: Variant | str,
    bits: int,
    *,
    block_size: int | None = None,
    residual_tokens: int = 128,
    num_sink_tokens: int = 0,
    key_tail: float | None = None,
    value_tail: float | None = None,
) -> NQKVConfig:
    """The validated NQKVConfig of `variant` at `bits` (block_size None: the variant's own).

    Tails only exist in the fit variant; unset, they are FITTED_TAILS[bits].
    """
    try:
        variant = Variant(variant)
    except ValueError:
        choices = ", ".join(v.value for v in Variant)
        raise ValueError(f"unknown NQKV variant {variant!r}; choose one of {choices}") from None
    size = DEFAULT_BLOCK_SIZE[variant] if block_size is None else block_size
    common = {"bits": bits, "residual_tokens": residual_tokens, "num_sink_tokens": num_sink_tokens}
    if variant is Variant.PAPER:
        if key_tail is not None or value_tail is not None:
            raise ValueError("key_tail and value_tail belong to the fit variant (nqkvN_fit)")
        return NQKVConfig(block_size=size, **common)
    default_key, default_value = FITTED_TAILS.get(bits, (None, None))
    config = NQKVConfig(
        **{**FIT_LAYOUT, "block_size": size},
        **common,
        key_tail=default_key if key_tail is None else key_tail,
        value_tail=default_value if value_tail is None else value_tail,
    )
    config.key_spec(), config.value_spec()  # a bad tail says so now, not at the first flush
    return config
