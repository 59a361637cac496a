from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def samples() -> Path:
    """Small self-written files in each benchmark's published format."""
    return DATA


def shared_dir(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value or not Path(value).is_dir():
        pytest.skip(
            f"{variable} is not set to a directory (make test sets it to ../shared/data/...)"
        )
    return Path(value)


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    return shared_dir("HUIJIN_BENCHMARKS_DIR")


@pytest.fixture(scope="session")
def market_dir() -> Path:
    return shared_dir("HUIJIN_MARKET_SNAPSHOT")
