"""The engine's NQKV variants: the paper's rule, the fitted one, and their settings' errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import LlamaConfig

from model.nqkv import NQKVCache, NQKVConfig, make_cache
from model.nqkv.bench import FIT_VARIANT, NQKV_VARIANTS
from model.nqkv.codebook import CodebookKind
from model.nqkv.config import GroupAxis, ScaleMode
from model.nqkv.variants import FIT_LAYOUT, FITTED_TAILS, variant_config

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"


def test_paper_variant_is_the_default_config() -> None:
    assert variant_config("paper", 4) == NQKVConfig(bits=4)
    assert variant_config("paper", 3, block_size=32, residual_tokens=8).block_size == 32


def test_fit_variant_is_the_benchmarks_nqkv_fit() -> None:
    # The layout the benchmark measured as nqkv_fit: nqkv_kc_c with the nf_tail codebook.
    assert FIT_VARIANT == FIT_LAYOUT
    nqkv_kc_c = NQKV_VARIANTS["nqkv_kc_c"]
    assert {**nqkv_kc_c, "codebook": CodebookKind.NF_TAIL} == FIT_LAYOUT
    config = variant_config("fit", 4)
    keys, values = config.key_spec(), config.value_spec()
    assert (keys.axis, keys.block_size, keys.scale) == (GroupAxis.TOKENS, 32, ScaleMode.MINMAX)
    assert (values.axis, values.block_size, values.scale) == (
        GroupAxis.CHANNELS,
        32,
        ScaleMode.MINMAX,
    )
    assert (keys.tail, values.tail) == FITTED_TAILS[4]


def test_fitted_tails_are_the_benchmarks_fit_on_the_embedded_model() -> None:
    """The defaults are what benchmarks/nqkv_quality.py fitted on SmolLM2 (not re-fitted here)."""
    report = json.loads((RESULTS / "nqkv_quality_smollm2.json").read_text())
    fitted = report["models"]["smollm2"]["fitted_tails"]
    assert {int(bits): tuple(tails) for bits, tails in fitted.items()} == FITTED_TAILS


def test_tails_can_be_overridden() -> None:
    config = variant_config("fit", 2, key_tail=0.85, value_tail=0.85)  # gemma-3-270m's fit
    assert (config.key_spec().tail, config.value_spec().tail) == (0.85, 0.85)
    assert variant_config("fit", 2, key_tail=0.9).value_spec().tail == FITTED_TAILS[2][1]


@pytest.mark.parametrize(
    ("variant", "options", "message"),
    [
        ("paper", {"key_tail": 0.9}, "belong to the fit variant"),
        ("fit", {"key_tail": 1.2}, r"tail 1.2 must be in \(0.5, 1\)"),
        ("fit", {"block_size": 1}, "block_size 1 is too small"),
        ("fit", {"residual_tokens": -1}, "residual_tokens -1 < 0"),
        ("kivi", {}, "unknown NQKV variant 'kivi'; choose one of paper, fit"),
    ],
)
def test_bad_options_are_one_clear_error(variant: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        variant_config(variant, 4, **options)


def test_bad_bits_say_what_to_set() -> None:
    with pytest.raises(ValueError, match="set bits to 2, 3 or 4"):
        variant_config("fit", 5)


def test_make_cache_knows_the_fit_kinds() -> None:
    config = LlamaConfig(hidden_size=128, num_attention_heads=2, num_hidden_layers=2)
    cache = make_cache("nqkv3_fit", config, residual_tokens=8)
    assert isinstance(cache, NQKVCache)
    assert cache.nqkv_config == variant_config("fit", 3, residual_tokens=8)
    with pytest.raises(ValueError, match="nqkv4_fit"):
        make_cache("nqkv5_fit", config)
