"""The CPU decode kernels, compiled once on the user's machine: int8 and float16 linear layers,
RMSNorm and one-token grouped-query attention.

A decode step of a small model on a few cores streams every weight once per token, so its speed
is the bytes it reads: int8 codes with a scale and an offset per 32 input channels are ~0.56x of a
float16 copy and ~0.28x of float32. The offset matters: a GGUF's 4-bit blocks are off-centre, and
symmetric int8 groups do not hold them exactly, while a group's [min, max] in 256 steps stores a
block's 16 levels exactly (tests/model/engine/test_cpu_kernels.py). torch's own int8/int4
weight-only matmuls are not vectorised for AVX2, so the kernels are ours: decode_kernels.cpp, built
with torch's cpp_extension (the ATen thread pool, no second OpenMP runtime) into
`<cache dir>/kernels` the first time the engine asks for them (~20 s, then cached). Only x86-64
CPUs with AVX2 (and its FMA and F16C) qualify; `unavailable_reason()` says why anything else falls
back to fbgemm's float16 copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

GROUP_SIZE = 32
"""Input channels sharing one weight scale: a GGUF Q4/Q8 block, kept nearly exact."""

_SOURCE = Path(__file__).with_name("decode_kernels.cpp")
_CFLAGS = ["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp"]
_lock = threading.Lock()
_loaded = False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    yield


def unavailable_reason() -> str | None:
    """Why the int8 kernel cannot run on this machine, or None when it can."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the int8 decode kernel needs an x86-64 CPU, not {platform.machine()}"
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "AVX512"):
        return f"the int8 decode kernel needs AVX2 (this CPU: {capability})"
    return None


def load(cache_dir: Path) -> None:
    """Compile (first time) and load the kernels; RuntimeError with one line when that fails."""
    global _loaded
    with _lock:
        if _loaded:
            return
        if (reason := unavailable_reason()) is not None:
            raise RuntimeError(reason)
        build_dir = Path(cache_dir) / "kernels" / f"torch-{torch.__version__}"
        build_dir.mkdir(parents=True, exist_ok=True)
        if _load_built(build_dir):
            _loaded = True
            return
        from rich.console import Console
        from torch.utils import cpp_extension

        is_built = any(build_dir.glob("huijin_cpu_kernels*.so"))
        message = "[bold]Compiling the int8 decode kernel once (about 20 s)…"
        try:
            with Console(stderr=True).status(message, spinner="dots") if not is_built else _quiet():
                cpp_extension.load(
                    name="huijin_cpu_kernels",
                    sources=[str(_SOURCE)],
                    extra_cflags=_CFLAGS,
                    build_directory=str(build_dir),
                    is_python_module=False,
                    verbose=False,
                )
        except (OSError, RuntimeError, ImportError, FileNotFoundError) as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(
                f"could not build the int8 decode kernel in {build_dir}: {detail}"
            ) from None
        (build_dir / _STAMP).write_text(_build_digest())
        _loaded = True


_STAMP = "huijin_cpu_kernels.sha256"


def _build_digest() -> str:
    """What the built library was made from: the source, the flags and torch."""
    digest = hashlib.sha256(_SOURCE.read_bytes())
    digest.update(" ".join([*_CFLAGS, torch.__version__]).encode())
    return digest.hexdigest()


def _load_built(build_dir: Path) -> bool:
    """Load the library a previous process built from this very source, skipping
    cpp_extension (importing it and its ninja check cost ~0.3 s of every engine load)."""
    stamp = build_dir / _STAMP
    libraries = sorted(build_dir.glob("huijin_cpu_kernels*.so"), key=lambda p: p.stat().st_mtime)
    if not libraries or not stamp.is_file() or stamp.read_text() != _build_digest():
        return False
    try:
        torch.ops.load_library(str(libraries[-1]))
    except (OSError, RuntimeError) as exc:
        logger.warning("rebuilding the decode kernels (%s)", exc)
        return False
    return True


def is_loaded() -> bool:
    """Whether `load` has succeeded in this process."""
    return _loaded


Int8Weight = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""codes (out, in) int8, scale and offset (out, in / GROUP_SIZE) float32."""


def quantize_weight(weight: torch.Tensor) -> Int8Weight:
    """(out, in) float weight -> codes, scales, offsets: w ~= scale * code + offset per group.

    Each group's [min, max] in 255 steps: code = round((w - min) / scale) - 128, so
    offset = min + 128 * scale. A constant group gets scale 1 and decodes to its value exactly.
    """
    out_features, in_features = weight.shape
    if in_features % GROUP_SIZE:
        raise ValueError(f"in_features {in_features} is not a multiple of {GROUP_SIZE}")
    groups = weight.detach().float().reshape(out_features, in_features // GROUP_SIZE, GROUP_SIZE)
    low, high = groups.amin(dim=-1, keepdim=True), groups.amax(dim=-1, keepdim=True)
    scale = torch.where(high > low, (high - low) / 255.0, torch.ones_like(low))
    codes = (torch.round((groups - low) / scale).clamp_(0, 255) - 128).to(torch.int8)
    offset = low + 128.0 * scale
    return (
        codes.reshape(out_features, in_features).contiguous(),
        scale.squeeze(-1).contiguous(),
        offset.squeeze(-1).contiguous(),
    )


def dequantize_weight(
    codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor
) -> torch.Tensor:
    """The float32 weight the kernel computes with (the reference for tests)."""
    out_features, in_features = codes.shape
    groups = codes.float().reshape(out_features, in_features // GROUP_SIZE, GROUP_SIZE)
    return (groups * scale[..., None] + offset[..., None]).reshape(out_features, in_features)


def int8_linear(
    x: torch.Tensor, weight: Int8Weight, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """x (..., in) float32 @ dequantize_weight(*weight).T (+ bias) -> (..., out); `load` first."""
    return torch.ops.huijin_cpu.int8_linear(x, *weight, bias)


_FORMAT = f"int8-affine-g{GROUP_SIZE}+half-v1"
_INT8_PARTS = ("codes", "scale", "offset")

DecodeCopy = Int8Weight | torch.Tensor
"""A projection's decode copy: int8 parts, or a float16 (out, in) tensor for `half_linear`."""


def half_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """x (..., in) float32 @ weight.T (float16 (out, in), in % 8 == 0) (+ bias); `load` first."""
    return torch.ops.huijin_cpu.half_linear(x, weight, bias)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """LlamaRMSNorm for float32 rows in one kernel call (torch's CPU op is ~6); `load` first."""
    return torch.ops.huijin_cpu.rms_norm(x, weight, eps)


def decode_attention(
    q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """One query token's grouped-query attention: q (B, H_kv, G, D), keys/values (B, H_kv, T, D),
    mask (B, T) with True = attend; (B, H_kv, G, D)."""
    return torch.ops.huijin_cpu.decode_attention(q, keys, values, mask)


LAYER_TENSORS = 18
"""Tensors per layer in `decode_layers`' weights: 2 norms, 4 projections x (weight, scale,
offset, bias)."""


def decode_layers(
    hidden: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    mask: torch.Tensor | None,
    weights: list[torch.Tensor],
    keys: list[torch.Tensor],
    values: list[torch.Tensor],
    num_heads: int,
    num_kv_heads: int,
    eps: float,
    length: int,
) -> torch.Tensor:
    """Every layer of a Llama decode step in one call: hidden (B, hidden) -> the residual stream
    after the last layer. Each layer's key and value are written into keys[l] / values[l]
    (B, H_kv, capacity, D) at `length`; attention reads 0..length. cos / sin (B, D); mask
    (B, length + 1) with True = attend, or None. `weights`: LAYER_TENSORS a layer (see
    decode_kernels.cpp). One call instead of ~25 small torch ops a layer; `load` first."""
    return torch.ops.huijin_cpu.decode_layers(
        hidden, cos, sin, mask, weights, keys, values, num_heads, num_kv_heads, eps, length
    )


def save_weights(path: Path, copies: Mapping[str, DecodeCopy]) -> None:
    """Store every projection's decode copy in one safetensors file.

    Quantizing and checking 100M+ weights takes seconds; reading them back is a memory map, so
    the second load of a model skips the work. Written atomically (a crash leaves no half file).
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for name, copy in copies.items():
        if isinstance(copy, torch.Tensor):
            tensors[f"{name}.half"] = copy.contiguous()
        else:
            for part, tensor in zip(_INT8_PARTS, copy, strict=True):
                tensors[f"{name}.{part}"] = tensor.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)
        save_file(tensors, tmp, metadata={"format": _FORMAT})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_weights(path: Path, names: list[str]) -> dict[str, DecodeCopy] | None:
    """The copies `save_weights` stored for exactly these projections; None if unusable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as stored:
            if (stored.metadata() or {}).get("format") != _FORMAT:
                return None
            keys = set(stored.keys())
            copies: dict[str, DecodeCopy] = {}
            for name in names:
                if f"{name}.half" in keys:
                    copies[name] = stored.get_tensor(f"{name}.half")
                elif {f"{name}.{part}" for part in _INT8_PARTS} <= keys:
                    codes, scale, offset = (stored.get_tensor(f"{name}.{p}") for p in _INT8_PARTS)
                    copies[name] = (codes, scale, offset)
                else:
                    return None
            return copies
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        logger.warning("ignoring the unreadable decode weight cache %s (%s)", path, exc)
        return None
