"""The `vllm serve` command line and the checks before it (no vLLM needed, nothing started).

The runtime checks take their probes (CUDA, installed packages, entry points, environment) as
arguments, so each failure is exercised here whatever this machine has.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from model.nqkv.vllm_plugin.launch import (
    VLLMLaunchError,
    VLLMServeOptions,
    check_vllm_runtime,
    vllm_serve_command,
)

OURS = EntryPoint("nqkv", "model.nqkv.vllm_plugin:register", "vllm.general_plugins")


def test_nqkv_command_selects_the_plugin_and_the_hermes_parser():
    options = VLLMServeOptions(
        "/models/qwen", kv_cache="nqkv4", extra_args=("--max-model-len", "8192")
    )
    assert vllm_serve_command(options, python="/venv/bin/python") == [
        "/venv/bin/python", "-m", "vllm.entrypoints.cli.main", "serve", "/models/qwen",
        "--host", "127.0.0.1", "--port", "8000",
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
        "--kv-cache-dtype", "nqkv4", "--attention-backend", "CUSTOM",
        "--max-model-len", "8192",
    ]  # fmt: skip
    assert options.base_url == "http://127.0.0.1:8000/v1"


def test_fp16_command_is_plain_vllm():
    command = vllm_serve_command(VLLMServeOptions("org/model", kv_cache="fp16", port=9000))
    assert "--attention-backend" not in command and "--kv-cache-dtype" not in command
    assert command[command.index("--port") + 1] == "9000"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kv_cache": "nqkv3"}, "3-bit codes have no paged kernel"),
        ({"kv_cache": "int8"}, "serves --kv-cache fp16, nqkv4, nqkv2"),
        ({"checkpoint": "embedded"}, "not the embedded GGUF model"),
        ({"port": 0}, "out of range"),
    ],
)
def test_bad_options_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VLLMServeOptions(**{"checkpoint": "/models/qwen", **kwargs})


def _check(options=None, *, cuda=True, installed=True, entry_points=(OURS,), environ=None):
    check_vllm_runtime(
        options or VLLMServeOptions("/models/qwen"),
        cuda_available=lambda: cuda,
        find_spec=lambda name: object() if installed else None,
        entry_points=lambda group: [e for e in entry_points if e.group == group],
        environ=environ or {},
    )


def test_runtime_checks_pass_when_everything_is_there():
    _check()
    _check(environ={"VLLM_PLUGINS": "lora_filesystem_resolver,nqkv"})


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ({"cuda": False}, "needs a CUDA GPU"),
        ({"installed": False}, r"pip install -e '.\[vllm\]'"),
        ({"entry_points": ()}, "reinstall huijin"),
        ({"environ": {"VLLM_PLUGINS": "other"}}, "add nqkv to it"),
    ],
)
def test_each_missing_piece_is_one_clear_line(probes, message):
    with pytest.raises(VLLMLaunchError, match=message) as error:
        _check(**probes)
    assert "\n" not in str(error.value)


def test_plain_vllm_needs_no_plugin():
    _check(VLLMServeOptions("/models/qwen", kv_cache="fp16"), entry_points=())


def test_the_real_entry_point_is_installed():
    """pyproject's entry point reached the installed metadata (vLLM finds plugins this way)."""
    from importlib.metadata import entry_points

    from model.nqkv.vllm_plugin import register

    (entry,) = [e for e in entry_points(group="vllm.general_plugins") if e.name == "nqkv"]
    assert entry.load() is register
