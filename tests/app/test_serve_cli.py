"""`huijin serve --backend vllm`: the command it would run and its one-line errors.

Nothing here starts vLLM: --print-command stops after building the command, and every other case
fails before the launch.
"""

from __future__ import annotations

import os
import shlex
import sys

import pytest
import torch
from typer.testing import CliRunner

from app.cli import app


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("HUIJIN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", str(tmp_path / "absent.toml"))
    return tmp_path


def serve(*args: str):
    return CliRunner().invoke(app, ["serve", *args])


def test_print_command_shows_the_vllm_command_line(clean_env):
    result = serve(
        "--backend", "vllm", "--kv-cache", "nqkv4", "--print-command", "/models/qwen",
        "--", "--max-model-len", "4096",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    command = shlex.split(result.stdout)
    assert command[:5] == [
        sys.executable,
        "-m",
        "vllm.entrypoints.cli.main",
        "serve",
        "/models/qwen",
    ]
    assert command[command.index("--host") + 1] == "127.0.0.1"  # loopback unless asked
    for flag, value in [
        ("--kv-cache-dtype", "nqkv4"),
        ("--attention-backend", "CUSTOM"),
        ("--tool-call-parser", "hermes"),
    ]:
        assert command[command.index(flag) + 1] == value
    assert "--enable-auto-tool-choice" in command
    assert command[-2:] == ["--max-model-len", "4096"]


def test_kv_cache_and_model_come_from_settings(clean_env, monkeypatch):
    monkeypatch.setenv("HUIJIN_KV_CACHE", "nqkv2")
    monkeypatch.setenv("HUIJIN_MODEL", "org/model")
    monkeypatch.setenv("HUIJIN_PORT", "9001")
    result = serve("--backend", "vllm", "--print-command")
    command = shlex.split(result.stdout)
    assert command[4] == "org/model"
    assert command[command.index("--kv-cache-dtype") + 1] == "nqkv2"
    assert command[command.index("--port") + 1] == "9001"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "vllm", "--kv-cache", "nqkv3", "/m"], "3-bit codes have no paged kernel"),
        (["--backend", "vllm", "--print-command"], "not the embedded GGUF model"),
        (["--backend", "vllm", "--kv-cache", "int3", "/m"], "HUIJIN_KV_CACHE"),
        (["--print-command", "/m"], "need --backend vllm"),
        (["/m", "--", "--max-model-len", "8"], "need --backend vllm"),
    ],
)
def test_bad_requests_are_one_line(clean_env, args, message):
    result = serve(*args)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())  # rich may wrap a long line
    assert "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this would start vLLM on a GPU machine")
def test_without_a_gpu_vllm_is_refused_before_it_starts(clean_env):
    result = serve("--backend", "vllm", "/models/qwen")
    assert result.exit_code == 1
    assert "needs a CUDA GPU" in result.output
    assert len(result.output.strip().splitlines()) == 1
