"""Bad settings fail at construction with a message that says what to do."""

from __future__ import annotations

import pytest
from transformers import LlamaConfig

from model.nqkv import NQKVCache, NQKVConfig, make_cache
from model.nqkv.config import QuantSpec


@pytest.mark.parametrize("bits", [1, 5, 8, 16])
def test_unsupported_bits(bits):
    with pytest.raises(ValueError, match="set bits to 2, 3 or 4"):
        NQKVConfig(bits=bits)


def test_block_size_must_divide_head_dim():
    config = LlamaConfig(hidden_size=96, num_attention_heads=2, num_key_value_heads=1)
    with pytest.raises(
        ValueError, match=r"does not divide the model's head_dim 48.*such as \[16\]"
    ):
        NQKVCache(NQKVConfig(block_size=32), config)
    NQKVCache(NQKVConfig(block_size=16), config)  # a divisor works
    # Token-grouped blocks do not split head_dim, so any block size is fine there.
    NQKVCache(NQKVConfig(block_size=32, key_axis="tokens", value_axis="tokens"), config)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_size": 1}, "block_size 1 is too small"),
        ({"key_axis": "rows"}, "unknown key_axis 'rows'; choose one of channels, tokens"),
        ({"codebook": "uniform"}, "not a normal-quantile codebook"),
        ({"codebook": "nf5"}, "unknown codebook"),
        ({"residual_tokens": -1}, "residual_tokens -1 < 0"),
        ({"num_sink_tokens": -4}, "num_sink_tokens -4 < 0"),
    ],
)
def test_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NQKVConfig(**kwargs)


def test_strings_become_enums_and_config_is_frozen():
    config = NQKVConfig(key_axis="tokens", codebook="nf_sym")
    assert config.key_axis.value == "tokens" and config.codebook.value == "nf_sym"
    with pytest.raises(AttributeError):
        config.bits = 2  # type: ignore[misc]


def test_rotation_needs_channel_grouping():
    with pytest.raises(ValueError, match="axis='channels'"):
        QuantSpec(axis="tokens", rotate=True)


def test_make_cache_kinds():
    config = LlamaConfig(hidden_size=128, num_attention_heads=2, num_hidden_layers=2)
    assert make_cache("fp16", config) is None
    cache = make_cache("nqkv3", config)
    assert isinstance(cache, NQKVCache) and cache.nqkv_config.bits == 3
    with pytest.raises(ValueError, match="choose one of fp16, nqkv2, nqkv3, nqkv4"):
        make_cache("int8", config)
