"""Fixtures for the training tests: the real tokenizer, a tiny model that shares it, a database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from core.db.session import Database, open_database


@pytest.fixture(scope="session")
def embedded_dir(huijin_cache_dir: Path) -> Path:
    """The embedded SmolLM2-135M checkpoint directory (converted once into the cache)."""
    from model.engine.checkpoint import resolve_source

    return resolve_source(None, huijin_cache_dir).checkpoint_dir


@pytest.fixture(scope="session")
def tokenizer(embedded_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(embedded_dir))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_dir: Path) -> Path:
    """A randomly initialised 2-layer Llama with the embedded model's real tokenizer: the same
    ids, fingerprint and chat template, trainable in milliseconds."""
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("tiny-llama")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (embedded_dir / name).is_file():
            shutil.copy2(embedded_dir / name, directory / name)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture
def database(tmp_path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'huijin.db'}")
    yield database
    database.close()
