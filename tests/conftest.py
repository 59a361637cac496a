"""Fixtures shared across the test tree.

The embedded model is loaded once per session: loading costs seconds and converting the GGUF the
first time costs ~40 s, so the converted checkpoint is kept in `$HUIJIN_CACHE_DIR` or, by
default, `<repo>/.cache/huijin` (git-ignored) and reused by later runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.settings import Settings, load_settings

if TYPE_CHECKING:
    from agent.api import Assistant
    from model.engine.transformers_engine import TransformersEngine

REPO_ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 9, 1)  # after the snapshot's last day, so results never drift


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


@pytest.fixture(scope="session")
def snapshot_dir() -> Path:
    value = os.environ.get("HUIJIN_MARKET_SNAPSHOT")
    if not value:
        pytest.skip(
            "HUIJIN_MARKET_SNAPSHOT is not set (make test sets it to ../shared/data/market)"
        )
    return Path(value)


def offline_settings(root: Path, snapshot: Path | None, **overrides) -> Settings:
    """Settings for a test: data and caches under `root`, offline market data, built-in tools."""
    return load_settings(
        data_dir=root / "data",
        cache_dir=root / "cache",
        market_live=False,
        market_snapshot=snapshot,
        tool_modules=[],
        enabled_tools=None,
        disabled_tools=[],
        **overrides,
    )


@pytest.fixture
def agent_settings(tmp_path, snapshot_dir) -> Settings:
    # The model words the answer here: the agent tests check that path (grounding, replacement,
    # flags) with scripted replies; quote mode, the default, is tested where it is named.
    return offline_settings(tmp_path, snapshot_dir, agent_max_steps=4, agent_answer="model")


@pytest.fixture
def make_assistant(agent_settings):
    made: list[Assistant] = []

    def make(engine, **overrides) -> Assistant:
        from agent.api import Assistant

        settings = agent_settings.model_copy(update=overrides)
        assistant = Assistant(settings, engine, today=TODAY)
        made.append(assistant)
        return assistant

    yield make
    for assistant in made:
        assistant.close()
