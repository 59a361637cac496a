"""Fixtures shared across the test tree.

The embedded model is loaded once per session: loading costs seconds and converting the GGUF the
first time costs ~40 s, so the converted checkpoint is kept in `$HUIJIN_CACHE_DIR` or, by
default, `<repo>/.cache/huijin` (git-ignored) and reused by later runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from model.engine.transformers_engine import TransformersEngine

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def huijin_cache_dir() -> Path:
    """Where converted model checkpoints are cached across test runs."""
    env = os.environ.get("HUIJIN_CACHE_DIR")
    return Path(env).expanduser() if env else REPO_ROOT / ".cache" / "huijin"


@pytest.fixture(scope="session")
def embedded_engine(huijin_cache_dir: Path) -> Iterator[TransformersEngine]:
    """The real embedded model (SmolLM2-135M-Instruct) behind a TransformersEngine."""
    from model.engine.transformers_engine import TransformersEngine, TransformersEngineConfig

    engine = TransformersEngine(TransformersEngineConfig(cache_dir=huijin_cache_dir))
    yield engine
    engine.close()
