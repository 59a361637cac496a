"""The int8 decode kernel against the float32 matmul of the weights it stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.settings import load_settings
from model.engine import cpu_kernels

pytestmark = pytest.mark.skipif(
    cpu_kernels.unavailable_reason() is not None, reason=str(cpu_kernels.unavailable_reason())
)


@pytest.fixture(scope="module", autouse=True)
def kernels() -> None:
    cpu_kernels.load(load_settings().cache_dir)


def _on_4bit_grid(out_features: int, in_features: int, seed: int = 0) -> torch.Tensor:
    """Weights as a GGUF Q4_1 stores them: per 32 inputs, min + d * q with q in 0..15, where the
    block's min and max are levels 0 and 15 (the quantizer derives d from the block's range)."""
    generator = torch.Generator().manual_seed(seed)
    groups = in_features // cpu_kernels.GROUP_SIZE
    d = torch.rand(out_features, groups, 1, generator=generator) * 0.01 + 1e-4
    low = -torch.rand(out_features, groups, 1, generator=generator) * 0.08
    q = torch.randint(0, 16, (out_features, groups, cpu_kernels.GROUP_SIZE), generator=generator)
    q[..., 0], q[..., 1] = 0, 15
    return (low + d * q).reshape(out_features, in_features)


def test_a_4bit_block_is_stored_exactly() -> None:
    weight = _on_4bit_grid(64, 96)
    restored = cpu_kernels.dequantize_weight(*cpu_kernels.quantize_weight(weight))
    assert torch.allclose(restored, weight, rtol=0, atol=1e-7)


def test_a_constant_group_decodes_to_its_value() -> None:
    weight = torch.full((2, 32), 0.25)
    codes, scale, offset = cpu_kernels.quantize_weight(weight)
    assert torch.equal(cpu_kernels.dequantize_weight(codes, scale, offset), weight)


def test_in_features_must_be_a_group_multiple() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        cpu_kernels.quantize_weight(torch.zeros(4, 48))


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize(("out_features", "in_features"), [(96, 64), (130, 576), (64, 1536)])
def test_int8_linear_matches_the_float_matmul(
    rows: int, out_features: int, in_features: int
) -> None:
    """Every row tile (4, 2, 1), odd widths, a bias, and an outlier input channel."""
    weight = torch.randn(out_features, in_features) * 0.05
    packed = cpu_kernels.quantize_weight(weight)
    bias = torch.randn(out_features)
    x = torch.randn(rows, in_features)
    x[:, 5] *= 100.0  # only its own group loses precision
    expected = torch.nn.functional.linear(x, cpu_kernels.dequantize_weight(*packed), bias)
    got = cpu_kernels.int8_linear(x, packed, bias)
    assert got.shape == expected.shape
    assert float((got - expected).norm() / expected.norm()) < 1e-4


def test_int8_linear_keeps_leading_dimensions() -> None:
    packed = cpu_kernels.quantize_weight(torch.randn(40, 64))
    x = torch.randn(2, 1, 64)
    got = cpu_kernels.int8_linear(x, packed)
    expected = x @ cpu_kernels.dequantize_weight(*packed).T
    assert got.shape == (2, 1, 40)
    assert torch.allclose(got, expected, atol=1e-3)


def test_a_wrong_input_width_is_a_clear_error() -> None:
    packed = cpu_kernels.quantize_weight(torch.randn(8, 64))
    with pytest.raises(RuntimeError, match="x has 32 features, weight expects 64"):
        cpu_kernels.int8_linear(torch.randn(1, 32), packed)


def test_a_failed_build_is_one_clear_line(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler (or any build failure): RuntimeError naming the build dir, no traceback."""
    from torch.utils import cpp_extension

    def no_compiler(**_: object) -> None:
        raise RuntimeError("Error building extension 'huijin_cpu_kernels'\ng++: not found")

    monkeypatch.setattr(cpu_kernels, "_loaded", False)
    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    with pytest.raises(
        RuntimeError, match=r"could not build the int8 decode kernel in .*not found"
    ):
        cpu_kernels.load(tmp_path)


@pytest.mark.parametrize("rows", [1, 3, 4, 6])
def test_half_linear_matches_the_float_matmul(rows: int) -> None:
    weight = (torch.randn(100, 72) * 0.05).half()
    bias = torch.randn(100)
    x = torch.randn(rows, 72)
    expected = torch.nn.functional.linear(x, weight.float(), bias)
    got = cpu_kernels.half_linear(x, weight, bias)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_decode_copies_round_trip_through_the_cache_file(tmp_path) -> None:
    int8 = cpu_kernels.quantize_weight(torch.randn(8, 64))
    half = torch.randn(4, 16).half()
    path = tmp_path / "copies.safetensors"
    cpu_kernels.save_weights(path, {"a": int8, "b": half})
    loaded = cpu_kernels.load_weights(path, ["a", "b"])
    assert loaded is not None
    assert all(torch.equal(x, y) for x, y in zip(loaded["a"], int8, strict=True))
    assert torch.equal(loaded["b"], half)
    assert cpu_kernels.load_weights(path, ["a", "c"]) is None  # another model's file
    path.write_bytes(b"not safetensors")
    assert cpu_kernels.load_weights(path, ["a"]) is None


@pytest.mark.parametrize("shape", [(1, 1, 576), (3, 1, 64), (2, 20)])
def test_rms_norm_matches_torch(shape: tuple[int, ...]) -> None:
    x, weight = torch.randn(shape) * 3, torch.randn(shape[-1])
    expected = torch.nn.functional.rms_norm(x, weight.shape, weight, 1e-5)
    assert torch.allclose(cpu_kernels.rms_norm(x, weight, 1e-5), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(("dim", "tokens"), [(64, 37), (72, 700)])
def test_decode_attention_matches_sdpa(masked: bool, dim: int, tokens: int) -> None:
    """Grouped-query attention of one token over a strided cache view, with left padding; a long
    context with peaked scores checks the vectorised exp, a head_dim of 9 x 8 the odd tail."""
    batch, kv_heads, groups = 2, 3, 3
    q = torch.randn(batch, kv_heads, groups, dim) * 3
    buffer = torch.randn(2, batch, kv_heads, tokens + 11, dim)  # preallocated, spare room
    keys, values = buffer[0, :, :, :tokens], buffer[1, :, :, :tokens]
    mask = torch.ones(batch, tokens, dtype=torch.bool)
    if masked:
        mask[1, :9] = False
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, keys, values, attn_mask=mask[:, None, None, :]
    )
    got = cpu_kernels.decode_attention(q, keys, values, mask if masked else None)
    if not masked:
        expected = torch.nn.functional.scaled_dot_product_attention(q, keys, values)
    assert torch.allclose(got, expected, atol=1e-5)


def test_a_built_library_loads_without_the_compiling_machinery() -> None:
    """A later process loads the library an earlier one built from this very source (a digest
    stamp beside it) without importing cpp_extension, which cost ~0.3 s of every engine load."""
    code = (
        "import sys; from pathlib import Path; import torch; "
        "from model.engine import cpu_kernels; cpu_kernels.load(Path(sys.argv[1])); "
        "print('torch.utils.cpp_extension' in sys.modules, "
        "float(torch.ops.huijin_cpu.rms_norm(torch.ones(1, 8), torch.ones(8), 0.0).sum()))"
    )
    repo_root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", code, str(load_settings().cache_dir)],
        capture_output=True,
        text=True,
        cwd=repo_root,
        check=True,
    )
    assert result.stdout.split() == ["False", "8.0"]
