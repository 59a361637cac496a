"""Model sources: the GGUF conversion cache and a clear error for every user mistake."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from model.engine.checkpoint import embedded_gguf_path, load_checkpoint, resolve_source
from model.engine.gguf_convert import COMPLETE_MARKER, converted_dir, ensure_converted
from model.engine.transformers_engine import TransformersEngine, TransformersEngineConfig
from model.engine.types import EngineError


def _one_line(exc: pytest.ExceptionInfo[EngineError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_conversion_is_cached_and_reloads_identically(
    embedded_engine: TransformersEngine, huijin_cache_dir: Path
) -> None:
    target = converted_dir(embedded_gguf_path(), huijin_cache_dir)
    assert (target / COMPLETE_MARKER).is_file()
    assert (target / "model.safetensors").is_file()
    stamp = (target / "model.safetensors").stat().st_mtime

    started = time.perf_counter()
    second = TransformersEngine(TransformersEngineConfig(cache_dir=huijin_cache_dir))
    seconds = time.perf_counter() - started
    try:
        assert (target / "model.safetensors").stat().st_mtime == stamp  # not converted again
        assert seconds < 20, f"cached load took {seconds:.1f} s"  # converting takes ~40 s
        ids = embedded_engine.tokenize("The quick brown fox")
        first_logits, _ = embedded_engine._runner.prefill(ids)
        second_logits, _ = second._runner.prefill(ids)
        assert torch.equal(first_logits, second_logits)
    finally:
        second.close()


def test_missing_path_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as exc:
        resolve_source(tmp_path / "nope" / "model.gguf", tmp_path)
    assert "does not exist" in _one_line(exc)


def test_directory_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as exc:
        resolve_source(tmp_path, tmp_path)
    assert "no config.json" in _one_line(exc)


def test_file_that_is_not_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"this is not a gguf file")
    with pytest.raises(EngineError) as exc:
        resolve_source(fake, tmp_path)
    assert "not a GGUF" in _one_line(exc)
    other = tmp_path / "weights.txt"
    other.write_text("x")
    with pytest.raises(EngineError, match=r"\.gguf"):
        resolve_source(other, tmp_path)


def test_corrupt_checkpoint_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    source = resolve_source(tmp_path, tmp_path)
    with pytest.raises(EngineError) as exc:
        load_checkpoint(source.checkpoint_dir, torch.float32, "cpu")
    assert "could not load the checkpoint" in _one_line(exc)


def test_engine_reports_bad_model_as_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        TransformersEngine(TransformersEngineConfig(model=str(tmp_path), cache_dir=tmp_path))


def test_hub_id_offline_asks_for_a_local_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(EngineError) as exc:
        resolve_source("some-org/some-model-that-is-not-cached", tmp_path)
    assert "local" in _one_line(exc)


def test_config_validation_says_how_to_fix() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        TransformersEngineConfig(max_batch_size=0)
    with pytest.raises(ValueError, match="kv_cache must be one of"):
        TransformersEngineConfig(kv_cache="nope")


@pytest.mark.slow
def test_fresh_conversion_is_atomic_and_loadable(tmp_path: Path) -> None:
    """Converting from scratch (~40 s): only the finished directory is left behind."""
    target = ensure_converted(embedded_gguf_path(), tmp_path)
    assert (target / COMPLETE_MARKER).is_file()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp leftovers
    model, tokenizer = load_checkpoint(target, torch.float32, "cpu")
    assert tokenizer.eos_token == "<|im_end|>"
    assert getattr(model.config, "quantization_config", None) is None
