"""The loader: both triton modes side by side, the byte table, and no leaked TRITON_INTERPRET."""

from __future__ import annotations

import os

import pytest
import torch

from model.nqkv.codebook import codebook
from model.nqkv.kernels.loader import byte_lut, load_kernels, quantize_edges, select_kernels
from model.nqkv.packing import pack_codes

pytest.importorskip("triton")


@pytest.mark.parametrize("bits", [2, 4])
def test_byte_table_inverts_pack_codes(bits: int) -> None:
    codes_per_byte = 8 // bits
    codes = torch.randint(0, 2**bits, (500, codes_per_byte), dtype=torch.uint8)
    packed = pack_codes(codes, bits).squeeze(-1).long()  # (500,) one byte each
    lut = byte_lut(bits, torch.float32, torch.device("cpu"))
    assert torch.equal(lut[packed], codebook("nf", bits)[codes.long()])


def test_edges_are_the_codebook_midpoints() -> None:
    levels = codebook("nf", 4)
    edges = quantize_edges(4, torch.device("cpu"))
    assert edges.shape == (15,)
    assert ((levels[:-1] < edges) & (edges < levels[1:])).all()


def test_interpreted_and_compiled_kernels_are_separate_modules() -> None:
    interpreted, compiled = load_kernels(True), load_kernels(False)
    assert interpreted is not compiled
    assert type(interpreted.store_kernel).__name__ == "InterpretedFunction"
    assert type(compiled.store_kernel).__name__ == "JITFunction"
    # Building either leaves the environment as the caller set it (here: "1" by conftest).
    assert os.environ["TRITON_INTERPRET"] == "1"


def test_default_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert select_kernels(cpu, None) is load_kernels(True)
    assert select_kernels(cpu, False) is None
    monkeypatch.delenv("TRITON_INTERPRET")
    assert select_kernels(cpu, None) is None
    with pytest.raises(ValueError, match="use_triton=False"):
        select_kernels(cpu, True)
