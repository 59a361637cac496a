"""The kernels compile for Hopper (sm_90) without a GPU, through triton's bundled ptxas.

The interpreter runs numpy, not the compiler, so it accepts code the compiler rejects (shapes,
dtypes, constexpr use). Compiling ahead of time catches that on a CPU-only machine. Slow (about
10 s a kernel on two cores), so marked.
"""

from __future__ import annotations

import pytest

triton = pytest.importorskip("triton")

from triton.backends.compiler import GPUTarget  # noqa: E402

from model.nqkv.kernels.loader import load_kernels  # noqa: E402

pytestmark = pytest.mark.slow

HOPPER = GPUTarget("cuda", 90, 32)
POINTERS = {
    "key_ptr": "*fp16",
    "value_ptr": "*fp16",
    "query_ptr": "*bf16",
    "cache_ptr": "*u8",
    "cache_f16_ptr": "*fp16",
    "slot_ptr": "*i64",
    "edges_ptr": "*fp32",
    "block_table_ptr": "*i32",
    "seq_lens_ptr": "*i32",
    "seq_starts_ptr": "*i64",
    "part_out_ptr": "*fp32",
    "part_max_ptr": "*fp32",
    "part_sum_ptr": "*fp32",
    "out_ptr": "*bf16",
    "key_out_ptr": "*fp16",
    "value_out_ptr": "*fp16",
}


def _compile(name: str, constants: dict[str, object], **pointers: str) -> None:
    fn = getattr(load_kernels(False), name)
    types = {**POINTERS, **pointers, "qk_scale": "fp32"}
    signature = {
        arg: "constexpr" if arg in constants else types.get(arg, "i32") for arg in fn.arg_names
    }
    # What the JIT assumes of torch tensors: 16-byte aligned pointers.
    attrs = {
        (i,): [["tt.divisibility", 16]]
        for i, arg in enumerate(fn.arg_names)
        if signature[arg].startswith("*")
    }
    source = triton.compiler.ASTSource(fn, signature, constants, attrs)
    kernel = triton.compile(source, target=HOPPER, options={"num_warps": 4, "num_stages": 2})
    assert kernel.asm["cubin"]


@pytest.mark.parametrize("bits", [2, 4])
def test_kernels_compile_for_sm90(bits: int) -> None:
    row = {"BITS": bits, "HEAD": 128, "GROUP": 64, "BLOCK_SIZE": 16, "ROW_ALIGN": 4}
    _compile("store_kernel", {**row, "BLOCK_T": 16})
    decode = {**row, "BLOCK_N": 64, "QUERIES_PER_KV": 4, "QUERIES_PAD": 16}
    _compile("decode_split_kernel", decode, lut_ptr="*bf16")
    _compile("decode_reduce_kernel", {"HEAD": 128, "SPLITS_PAD": 32})
    _compile("dequantize_kernel", {**row, "BLOCK_N": 64}, lut_ptr="*fp32")
