"""Benchmark files from the Hugging Face hub: the download is the network edge (faked here with
the repo's own sample file); parsing the spec and reading the file are the real code path."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest

from core.settings import load_settings
from evals.api import resolve_data
from evals.benchmarks import load_benchmark
from evals.benchmarks.hub import fetch_hub_file, parse_hub_spec

SAMPLE = Path(__file__).parent / "data" / "gsm8k_sample.jsonl"


def test_a_hub_spec_names_the_repo_the_file_and_the_revision():
    assert parse_hub_spec("hf://datasets/openai/gsm8k/main/test-00000.parquet@abc1") == (
        "openai/gsm8k",
        "main/test-00000.parquet",
        "abc1",
    )
    assert parse_hub_spec(Path("hf://datasets/o/n/test.jsonl")) == ("o/n", "test.jsonl", None)
    with pytest.raises(ValueError, match="hf://datasets/OWNER/NAME"):
        parse_hub_spec("hf://models/o/n/file.json")


def test_run_data_from_the_hub_is_read_by_the_same_loader(monkeypatch, tmp_path):
    asked = {}

    def download(repo_id, filename, repo_type=None, revision=None):
        asked.update(repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision)
        return str(SAMPLE)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    settings = load_settings(data_dir=tmp_path)
    path, split = resolve_data(settings, "gsm8k", None, Path("hf://datasets/me/gsm8k/test.jsonl"))
    assert asked == {
        "repo_id": "me/gsm8k",
        "filename": "test.jsonl",
        "repo_type": "dataset",
        "revision": None,
    }
    assert path == SAMPLE and load_benchmark("gsm8k", path, split)


def test_an_unreachable_hub_is_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(FileNotFoundError, match="pass a local --data PATH"):
        fetch_hub_file("hf://datasets/me/gsm8k/test.jsonl")
