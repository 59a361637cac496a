"""The plugin as vLLM sees it: entry point, registration, backend selection and page sizes.

Page sizes are checked against the row formula of the paged NQKV contract written out here
(codes head_size * bits / 8 bytes + one fp16 scale per 64 elements, for K and V), not against
the plugin's own arithmetic.
"""

from __future__ import annotations

import pytest
import torch

from model.nqkv.kernels import PagedNQKVLayout, dequantize_pages, nqkv_store
from model.nqkv.vllm_plugin.capacity import kv_capacity, layer_spec
from tests.model.nqkv.vllm_plugin.vllm_pages import allocate_layer_caches

pytestmark = pytest.mark.vllm

# SmolLM2-135M's attention: 30 layers, 3 KV heads of 64; vLLM's default block of 16 tokens.
NUM_LAYERS, NUM_KV_HEADS, HEAD_SIZE, BLOCK_SIZE = 30, 3, 64, 16


def test_vllm_finds_the_plugin_by_its_entry_point(nqkv_backend, monkeypatch):
    from vllm.plugins import DEFAULT_PLUGINS_GROUP, load_plugins_by_group

    from model.nqkv.vllm_plugin import register

    monkeypatch.setenv("VLLM_PLUGINS", "nqkv")  # vLLM's allow-list: load ours only
    assert load_plugins_by_group(DEFAULT_PLUGINS_GROUP) == {"nqkv": register}


def test_register_is_idempotent_and_fills_the_custom_slot(nqkv_backend, caplog):
    from vllm.config.cache import KV_CACHE_DTYPES
    from vllm.v1.attention.backends.registry import AttentionBackendEnum
    from vllm.v1.kv_cache_interface import get_kv_quant_mode

    from model.nqkv.vllm_plugin import register
    from model.nqkv.vllm_plugin.backend import NQKVAttentionBackend

    register()  # vLLM calls it once per process; a second call must change nothing
    register()
    assert "overwritten" not in caplog.text and "takes it over" not in caplog.text
    assert nqkv_backend is NQKVAttentionBackend
    assert AttentionBackendEnum.CUSTOM.get_class() is NQKVAttentionBackend
    assert AttentionBackendEnum[NQKVAttentionBackend.get_name()] is AttentionBackendEnum.CUSTOM
    assert [name for name in KV_CACHE_DTYPES if name.startswith("nqkv")] == ["nqkv4", "nqkv2"]
    assert get_kv_quant_mode("nqkv4").is_custom_mode


def test_vllm_configs_accept_the_flags_huijin_serve_passes(nqkv_backend):
    """--kv-cache-dtype nqkv4 --attention-backend CUSTOM become these configs in vLLM."""
    from vllm.config.attention import AttentionConfig
    from vllm.config.cache import CacheConfig

    assert CacheConfig(cache_dtype="nqkv4").cache_dtype == "nqkv4"
    assert AttentionConfig(backend="CUSTOM").backend.get_class() is nqkv_backend
    with pytest.raises(ValueError, match="Invalid kv_cache_dtype"):
        CacheConfig(cache_dtype="nqkv3")


def test_backend_is_valid_only_for_nqkv_decoder_layers(nqkv_backend):
    def reasons(head_size=64, kv_cache_dtype="nqkv4", has_sliding_window=False, attn="decoder"):
        return nqkv_backend.validate_configuration(
            head_size=head_size,
            dtype=torch.bfloat16,
            kv_cache_dtype=kv_cache_dtype,
            block_size=16,
            use_mla=False,
            has_sink=False,
            use_sparse=False,
            use_mm_prefix=False,
            use_per_head_quant_scales=False,
            device_capability=None,
            attn_type=attn,
            has_sliding_window=has_sliding_window,
        )

    assert reasons() == [] and reasons(kv_cache_dtype="nqkv2") == []
    assert reasons(kv_cache_dtype="auto") == ["kv_cache_dtype not supported"]
    assert reasons(head_size=80) == ["head_size not supported"]
    assert reasons(has_sliding_window=True) == ["sliding window not supported"]
    assert reasons(attn="encoder_only") == ["attention type encoder_only not supported"]


@pytest.mark.parametrize(("kv_cache_dtype", "bits"), [("nqkv4", 4), ("nqkv2", 2)])
def test_pages_hold_packed_codes_and_scales(nqkv_backend, kv_cache_dtype, bits):
    spec = layer_spec(kv_cache_dtype, NUM_KV_HEADS, HEAD_SIZE, BLOCK_SIZE)
    row_bytes = HEAD_SIZE * bits // 8 + 2 * (HEAD_SIZE // 64)  # codes + fp16 scale a 64 group
    assert spec.page_size_bytes == 2 * BLOCK_SIZE * NUM_KV_HEADS * row_bytes
    fp16 = layer_spec("fp16", NUM_KV_HEADS, HEAD_SIZE, BLOCK_SIZE)
    assert fp16.page_size_bytes == 2 * BLOCK_SIZE * NUM_KV_HEADS * HEAD_SIZE * 2
    assert spec.page_size_bytes / fp16.page_size_bytes == row_bytes / (2 * HEAD_SIZE)
    one_token = layer_spec(kv_cache_dtype, NUM_KV_HEADS, HEAD_SIZE, block_size=1)
    assert one_token.page_size_bytes == 2 * NUM_KV_HEADS * row_bytes
    assert nqkv_backend.customize_spec(spec) == spec  # already packed: unchanged


def test_a_fixed_budget_holds_3_7x_the_tokens_at_4_bits(nqkv_backend):
    budget = 4 << 30  # 4 GiB of KV cache
    shape = {"num_layers": NUM_LAYERS, "num_kv_heads": NUM_KV_HEADS, "head_size": HEAD_SIZE}
    tokens = {
        name: kv_capacity(name, **shape, block_size=BLOCK_SIZE, budget_bytes=budget).num_tokens
        for name in ("fp16", "nqkv4", "nqkv2")
    }
    # fp16 rows are 128 bytes, NQKV rows 34 (4 bits) and 18 (2 bits): the ratio minus rounding.
    assert tokens["fp16"] == budget // (NUM_LAYERS * 2 * BLOCK_SIZE * NUM_KV_HEADS * 128) * 16
    assert tokens["nqkv4"] / tokens["fp16"] == pytest.approx(128 / 34, rel=1e-3)
    assert tokens["nqkv2"] / tokens["fp16"] == pytest.approx(128 / 18, rel=1e-3)


@pytest.mark.parametrize("layout_name", ["LBHNC", "BLHNC"])
def test_vllm_cache_views_are_the_kernels_pages(nqkv_backend, layout_name):
    from vllm.v1.kv_cache_layout import KVCacheLayout

    from model.nqkv.vllm_plugin.kv_spec import kernel_cache_view

    assert KVCacheLayout[layout_name] in nqkv_backend.supported_kv_cache_layouts()
    num_blocks, num_layers = 6, 2
    spec = layer_spec("nqkv4", NUM_KV_HEADS, HEAD_SIZE, BLOCK_SIZE)
    raw, views = allocate_layer_caches(spec, num_blocks, num_layers, KVCacheLayout[layout_name])
    layout = PagedNQKVLayout(4, HEAD_SIZE, 64, NUM_KV_HEADS, BLOCK_SIZE)
    caches = [kernel_cache_view(view, layout) for view in views]
    assert caches[0].shape == layout.cache_shape(num_blocks)
    assert caches[0].data_ptr() == raw.data_ptr()  # a view of vLLM's bytes, not a copy

    # Write every slot of layer 1 through the kernels' view: all of it lands in layer 1's pages.
    slots = torch.arange(num_blocks * BLOCK_SIZE)
    shape = (len(slots), NUM_KV_HEADS, HEAD_SIZE)
    key, value = torch.randn(shape), torch.randn(shape)
    nqkv_store(key, value, caches[1], slots, layout, use_triton=False)
    assert not caches[0].any()
    assert raw.count_nonzero() == caches[1].count_nonzero()
    table = torch.arange(num_blocks, dtype=torch.int32).unsqueeze(0)
    ((keys, values),) = dequantize_pages(
        caches[1], table, torch.tensor([len(slots)]), layout, torch.float32, use_triton=False
    )
    assert (keys - key).abs().max() < 0.15 * key.abs().max()  # 4-bit error, not garbage
    assert (values - value).abs().max() < 0.15 * value.abs().max()
