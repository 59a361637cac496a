"""The NQKV values of vLLM's `--kv-cache-dtype`: `nqkv4` and `nqkv2`, registered by the plugin.

vLLM 0.33 lets a plugin add a `--kv-cache-dtype` value with `register_kv_cache_dtype`: a handler
names the torch dtype of the cache tensors and a `KVQuantMode` (CUSTOM: the backend owns its
kernels). The attention layer then builds its KV-cache spec with that storage dtype, and the
backend's `customize_spec` turns it into packed pages (see kv_spec.py).

Why the two widths have different storage dtypes: `customize_spec` sees only the spec, i.e. the
storage dtype and the quant mode, never the dtype's name, and both widths share the CUSTOM mode.
So the width travels in the (1-byte) storage dtype: uint8 for 4-bit, int8 for 2-bit. The kernels
read either as raw bytes. 3-bit codes straddle bytes and have no paged kernel, so there is no
`nqkv3` here (the transformers backend still has it).

This module imports vLLM only inside `register_kv_cache_dtypes`, so the CLI can read the names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NQKVCacheDType:
    """One `--kv-cache-dtype` value: its name, code width and the storage dtype that tags it."""

    name: str
    bits: int
    storage_dtype: torch.dtype


NQKV_CACHE_DTYPES = (
    NQKVCacheDType("nqkv4", 4, torch.uint8),
    NQKVCacheDType("nqkv2", 2, torch.int8),
)
NQKV_CACHE_DTYPE_NAMES = tuple(kind.name for kind in NQKV_CACHE_DTYPES)


def cache_dtype_named(name: str) -> NQKVCacheDType:
    """The NQKV kv-cache dtype called `name`; a ValueError that lists the choices otherwise."""
    for kind in NQKV_CACHE_DTYPES:
        if kind.name == name:
            return kind
    raise ValueError(
        f"kv-cache dtype {name!r} is not an NQKV format; the NQKV attention backend stores "
        f"{' or '.join(NQKV_CACHE_DTYPE_NAMES)} (pass --kv-cache-dtype nqkv4)"
    )


def cache_dtype_stored_as(storage_dtype: torch.dtype) -> NQKVCacheDType:
    """The NQKV kv-cache dtype whose pages are tensors of `storage_dtype` (what a spec carries)."""
    for kind in NQKV_CACHE_DTYPES:
        if kind.storage_dtype == storage_dtype:
            return kind
    raise ValueError(
        f"a KV-cache spec with {storage_dtype} storage is not an NQKV cache; the NQKV attention "
        f"backend needs --kv-cache-dtype {' or '.join(NQKV_CACHE_DTYPE_NAMES)}"
    )


def register_kv_cache_dtypes() -> None:
    """Add nqkv4 and nqkv2 to vLLM's kv-cache dtypes (a no-op for those already registered)."""
    from vllm.config.cache import get_kv_cache_dtype_handler, register_kv_cache_dtype

    for kind in NQKV_CACHE_DTYPES:
        if isinstance(get_kv_cache_dtype_handler(kind.name), _NQKVHandler):
            continue
        register_kv_cache_dtype(kind.name)(_handler_class(kind))
        logger.debug("registered kv-cache dtype %s (%s storage)", kind.name, kind.storage_dtype)


class _NQKVHandler:
    """vLLM's KVCacheDTypeHandler protocol for one NQKV width (subclassed per width below)."""

    kind: NQKVCacheDType
    name: str

    def torch_dtype(self) -> torch.dtype:
        return self.kind.storage_dtype

    def quant_mode(self):  # -> vllm.v1.kv_cache_interface.KVQuantMode
        from vllm.v1.kv_cache_interface import KVQuantMode

        # CUSTOM: no generic vLLM kernel reads these pages; the NQKV backend owns them.
        return KVQuantMode.CUSTOM


def _handler_class(kind: NQKVCacheDType) -> type[_NQKVHandler]:
    # register_kv_cache_dtype instantiates the class it decorates, so each width needs a class.
    return type(f"NQKV{kind.bits}Handler", (_NQKVHandler,), {"kind": kind, "name": kind.name})
