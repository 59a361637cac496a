"""NQKV as an out-of-tree vLLM plugin: a 2/4-bit normal-quantile KV cache in vLLM 0.33.

vLLM loads `register` through the `vllm.general_plugins` entry point (pyproject.toml) in every
process it starts: the API server, the engine core and each worker. `register` adds

- the kv-cache dtypes `nqkv4` and `nqkv2` (kv_dtypes.py), and
- the attention backend in vLLM's CUSTOM slot (backend.py: spec, metadata builder, impl),

so `vllm serve CHECKPOINT --kv-cache-dtype nqkv4 --attention-backend CUSTOM` stores K/V as packed
codes + scales and runs the Triton kernels of model.nqkv.kernels. `huijin serve --backend vllm`
builds that command line (launch.py). Importing this package does not import vLLM.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

PLUGIN_NAME = "nqkv"  # the entry point's name, as VLLM_PLUGINS would list it
BACKEND_CLASS_PATH = "model.nqkv.vllm_plugin.backend.NQKVAttentionBackend"


def register() -> None:
    """Register the NQKV kv-cache dtypes and attention backend with vLLM (idempotent)."""
    from vllm.v1.attention.backends.registry import AttentionBackendEnum, register_backend

    from model.nqkv.vllm_plugin.kv_dtypes import register_kv_cache_dtypes

    register_kv_cache_dtypes()
    custom = AttentionBackendEnum.CUSTOM
    if custom.is_overridden() and custom.get_path() != BACKEND_CLASS_PATH:
        logger.warning("the CUSTOM attention backend was %s; NQKV takes it over", custom.get_path())
    register_backend(custom, BACKEND_CLASS_PATH)
