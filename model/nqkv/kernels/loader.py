"""Which implementation runs (Triton or the torch reference), and the Triton kernels built for it.

Triton decides at decoration time whether a `@triton.jit` function is compiled or interpreted:
`triton.jit` reads `triton.knobs.runtime.interpret` (the TRITON_INTERPRET variable) when the
decorator runs, i.e. when the kernel module is imported. Importing the kernels once would pin the
whole process to one mode, so `load_kernels` executes triton_kernels.py as a fresh private module
per mode, with the knob set for the duration of that import only; for the interpreter it also
wraps triton's own standard library (see `_InterpretedLanguage`). The interpreter (numpy on the
CPU) then serves CPU tests in a normal process and the compiler serves CUDA tensors, side by side.
(The compiled path still needs triton to have been imported without TRITON_INTERPRET=1, since
triton builds its own standard library for one mode at import.)
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import torch

from model.nqkv.codebook import codebook
from model.nqkv.packing import unpack_codes

_SOURCE = Path(__file__).with_name("triton_kernels.py")


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def interpreter_enabled() -> bool:
    """True when TRITON_INTERPRET=1 is set now (read on every call, as triton itself does)."""
    if not triton_available():
        return False
    import triton

    if not hasattr(triton, "knobs"):  # triton < 3.4 reads only the variable
        return os.environ.get("TRITON_INTERPRET", "0") == "1"
    return bool(triton.knobs.runtime.interpret)


@functools.cache
def load_kernels(interpret: bool) -> ModuleType:
    """triton_kernels.py with its `@triton.jit` functions built for the interpreter or compiler."""
    import triton

    if not hasattr(triton, "knobs"):
        raise ValueError(f"the NQKV kernels need triton >= 3.4, found {triton.__version__}")
    mode = "interpreted" if interpret else "compiled"
    spec = importlib.util.spec_from_file_location(f"{__package__}._triton_{mode}", _SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with triton.knobs.runtime.scope():
        triton.knobs.runtime.interpret = interpret
        spec.loader.exec_module(module)
    if interpret:
        # The kernels look `tl.*` up at run time; give them the interpreter's view of it, and
        # keep the real module visible, which the interpreter requires to patch its builtins.
        module.tl = _InterpretedLanguage()
        module.triton_language = triton.language
    return module


class _InterpretedLanguage(ModuleType):
    """triton.language as the interpreter needs it.

    The standard library's `@jit` functions (tl.max, tl.sum, tl.cdiv, tl.zeros, ...) are built
    when triton itself is imported, i.e. compiled-only unless TRITON_INTERPRET was already set
    then, and a compiled function cannot run inside the interpreter. This view wraps each of them
    for the interpreter on first use and passes every other name through to triton.language.
    """

    def __init__(self) -> None:
        super().__init__("triton.language (interpreted)")
        self.wrapped: dict[str, object] = {}

    def __getattr__(self, name: str) -> object:
        import triton.language
        from triton.runtime.interpreter import InterpretedFunction
        from triton.runtime.jit import JITFunction

        value = getattr(triton.language, name)
        if not isinstance(value, JITFunction):
            return value
        if name not in self.wrapped:
            self.wrapped[name] = InterpretedFunction(value.fn)
        return self.wrapped[name]


def select_kernels(device: torch.device, use_triton: bool | None) -> ModuleType | None:
    """The Triton kernels to run on `device`, or None to run the torch reference.

    Default (use_triton=None): Triton for CUDA tensors or when TRITON_INTERPRET=1, else torch.
    """
    interpret = interpreter_enabled()
    if use_triton is None:
        use_triton = triton_available() and (device.type == "cuda" or interpret)
    if not use_triton:
        return None
    if not triton_available():
        raise ValueError("use_triton=True needs the triton package; install it or pass False")
    if device.type != "cuda" and not interpret:
        raise ValueError(
            f"Triton kernels need CUDA tensors or TRITON_INTERPRET=1, got {device.type} tensors; "
            "pass use_triton=False for the torch reference"
        )
    return load_kernels(interpret)


@functools.cache
def quantize_edges(bits: int, device: torch.device) -> torch.Tensor:
    """The (2^bits - 1,) float32 decision edges of the NF codebook, as nearest_codes uses them.

    Cached per device so a decode step copies nothing to the GPU (and stays CUDA-graph safe).
    """
    levels = codebook("nf", bits)
    return ((levels[1:] + levels[:-1]) / 2).to(device)


@functools.cache
def byte_lut(bits: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(256, 8 / bits) table: row b holds the levels of the codes packed in byte b, in order.

    Built with unpack_codes itself, so the kernels unpack bytes exactly as packing.py packs them.
    """
    codes_per_byte = 8 // bits
    all_bytes = torch.arange(256, dtype=torch.int32).to(torch.uint8).unsqueeze(-1)
    codes = unpack_codes(all_bytes, bits, codes_per_byte).long()  # (256, codes_per_byte)
    return codebook("nf", bits)[codes].to(dtype).contiguous().to(device)


@functools.cache
def code_lut(bits: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(2^bits,) table: the level of each code (the kernels' LUT_PER_CODE mode)."""
    return codebook("nf", bits).to(dtype).contiguous().to(device)
