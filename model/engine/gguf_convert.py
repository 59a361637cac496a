"""Turning a GGUF file into a plain safetensors checkpoint, once, in the cache directory.

transformers reads a GGUF by dequantizing every tensor and rebuilding the tokenizer from the GGUF
metadata, which takes ~35 s for the 135M default. The dequantized weights are ordinary fp32, so we
save them (with the tokenizer and chat template) as a normal Hugging Face checkpoint and every
later start loads that in about a second. The cache key hashes the file's size and its first and
last MiB, so a different or re-downloaded file gets its own entry, while moving the package does
not trigger a reconversion.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from model.engine.types import EngineError

_GGUF_MAGIC = b"GGUF"
_HASH_CHUNK = 1 << 20
# Written last into a converted directory: a directory without it is never trusted.
COMPLETE_MARKER = ".huijin-converted"


def gguf_cache_key(gguf_path: Path) -> str:
    """A short content hash: size plus the first and last MiB (metadata and last tensors)."""
    size = gguf_path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with gguf_path.open("rb") as f:
        digest.update(f.read(_HASH_CHUNK))
        f.seek(max(0, size - _HASH_CHUNK))
        digest.update(f.read(_HASH_CHUNK))
    return digest.hexdigest()[:12]


def converted_dir(gguf_path: Path, cache_dir: Path) -> Path:
    """Where the safetensors copy of `gguf_path` lives (whether or not it exists yet)."""
    return cache_dir / "models" / f"{gguf_path.stem}-{gguf_cache_key(gguf_path)}"


def check_gguf_file(gguf_path: Path) -> None:
    """Fail fast, before a long load, when the file is missing or not a GGUF at all."""
    if not gguf_path.is_file():
        raise EngineError(
            f"GGUF file {gguf_path} not found; pass an existing .gguf file or checkpoint directory"
        )
    with gguf_path.open("rb") as f:
        if f.read(4) != _GGUF_MAGIC:
            raise EngineError(
                f"{gguf_path} is not a GGUF file (bad header, maybe corrupt or truncated); "
                "re-download it or pass another model"
            )


def ensure_converted(gguf_path: Path, cache_dir: Path) -> Path:
    """The converted checkpoint directory for `gguf_path`, converting it first if needed."""
    check_gguf_file(gguf_path)
    target = converted_dir(gguf_path, cache_dir)
    if (target / COMPLETE_MARKER).is_file():
        return target
    if target.exists():  # a leftover from an older, interrupted layout: rebuild it
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    _convert(gguf_path, target)
    return target


def _convert(gguf_path: Path, target: Path) -> None:
    """Load the GGUF with transformers and save it as safetensors, atomically.

    Everything is written to a temporary sibling directory that is renamed into place only when
    complete, so an interrupted conversion never leaves a half checkpoint behind.
    """
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    console = Console(stderr=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with console.status(
            f"[bold]Converting {gguf_path.name} to safetensors once "
            f"(about 40 s; later starts take a second)…",
            spinner="dots",
        ):
            try:
                tokenizer = AutoTokenizer.from_pretrained(
                    str(gguf_path.parent), gguf_file=gguf_path.name
                )
                model = AutoModelForCausalLM.from_pretrained(
                    str(gguf_path.parent), gguf_file=gguf_path.name
                )
            except Exception as exc:
                raise EngineError(
                    f"could not read GGUF {gguf_path} ({type(exc).__name__}: {_first_line(exc)}); "
                    "check the file is a complete transformers-supported GGUF"
                ) from exc
            _drop_gguf_quantization(model)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / COMPLETE_MARKER).write_text(f"{gguf_path}\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / COMPLETE_MARKER).is_file():  # not a concurrent converter's win
                raise
        console.print(f"Converted model cached at {target}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _drop_gguf_quantization(model: object) -> None:
    """Forget the GGUF quantizer so `save_pretrained` accepts the (already fp32) weights.

    transformers keeps `quantization_config` and an `hf_quantizer` on a GGUF-loaded model and then
    refuses to serialise it, although dequantization already produced plain tensors.
    """
    config = model.config  # type: ignore[attr-defined]
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    for attribute, value in (
        ("hf_quantizer", None),
        ("is_quantized", False),
        ("quantization_method", None),
    ):
        if hasattr(model, attribute):
            setattr(model, attribute, value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"
