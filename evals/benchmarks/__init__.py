"""Benchmark loaders: each reads its published file format unchanged and returns `Example`s.

    examples = load_benchmark("finqa", Path("test.json"), split="test")

`default_data_path(name, benchmarks_dir)` says where a benchmark's file usually sits under
HUIJIN_BENCHMARKS_DIR (the layout of ../shared/data/benchmarks); the tool-use suite reads the
market snapshot directory instead and is generated, not loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evals.benchmarks import convfinqa, financebench, finqa, gsm8k, math500, tatqa
from evals.benchmarks.reading import BenchmarkFormatError
from evals.example import Example

__all__ = ["BENCHMARKS", "BenchmarkFormatError", "default_data_path", "load_benchmark"]

Loader = Callable[[Path, str], list[Example]]

BENCHMARKS: dict[str, Loader] = {
    "finqa": finqa.load,
    "convfinqa": convfinqa.load,
    "tatqa": tatqa.load,
    "financebench": financebench.load,
    "gsm8k": gsm8k.load,
    "math500": math500.load,
}
# Relative to HUIJIN_BENCHMARKS_DIR, per split; the first existing file wins.
DEFAULT_FILES = {
    "finqa": {
        "test": ["finqa/test.json", "finqa/derived_my_Fin_Skill/finqa_test.json"],
        "dev": ["finqa/dev.json"],
        "train": ["finqa/train.json"],
    },
    "convfinqa": {
        "dev": [
            "convfinqa/dev.json",
            "convfinqa/derived_JoyMurmur_finqa-agent/convfinqa_dataset.json",
        ],
        "train": ["convfinqa/train.json"],
    },
    "tatqa": {
        "dev": ["tatqa/tatqa_dataset_dev.json"],
        "test": ["tatqa/tatqa_dataset_test_gold.json"],
        "train": ["tatqa/tatqa_dataset_train.json"],
    },
    "financebench": {"test": ["financebench/financebench_open_source.jsonl"]},
    "gsm8k": {"test": ["gsm8k/test.jsonl"], "train": ["gsm8k/train.jsonl"]},
    "math500": {"test": ["math500/test.jsonl"]},
}
DEFAULT_SPLIT = {
    "finqa": "test",
    "convfinqa": "dev",
    "tatqa": "dev",
    "financebench": "test",
    "gsm8k": "test",
    "math500": "test",
    "tooluse": "test",
}


def known_benchmarks() -> list[str]:
    return [*BENCHMARKS, "tooluse"]


def load_benchmark(name: str, path: Path, split: str, seed: int = 0) -> list[Example]:
    """Every example of `split` in the file at `path` (for tooluse: the snapshot directory)."""
    if name == "tooluse":
        from evals.suites import build_suite

        if not Path(path).is_dir():
            raise FileNotFoundError(
                f"{path} is not a market snapshot directory; pass --data or set "
                "HUIJIN_MARKET_SNAPSHOT"
            )
        return build_suite(Path(path), seed=seed, split=None if split == "all" else split)
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(known_benchmarks())}")
    return BENCHMARKS[name](Path(path), split)


def default_data_path(name: str, split: str, benchmarks_dir: Path | None) -> Path | None:
    if benchmarks_dir is None:
        return None
    for relative in DEFAULT_FILES.get(name, {}).get(split, []):
        path = Path(benchmarks_dir) / relative
        if path.is_file():
            return path
    return None
