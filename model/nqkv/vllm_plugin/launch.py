"""The `vllm serve` command line for a checkpoint with the NQKV plugin, and the checks before it.

`huijin serve --backend vllm` runs vLLM's own OpenAI-compatible server (tool calls parsed in the
Hermes format the agent writes, auto tool choice), so the app and the evals reach it through the
`openai` engine backend. This module only builds and checks; it never imports vLLM (that takes
seconds and would fail on a machine without it, where the user needs a readable error instead).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from model.nqkv.vllm_plugin import PLUGIN_NAME
from model.nqkv.vllm_plugin.kv_dtypes import NQKV_CACHE_DTYPE_NAMES

PLUGIN_GROUP = "vllm.general_plugins"
TOOL_CALL_PARSER = "hermes"  # the agent's <tool_call>{...}</tool_call> format
VLLM_KV_CACHES = ("fp16", *NQKV_CACHE_DTYPE_NAMES)


class VLLMLaunchError(RuntimeError):
    """vLLM cannot be started here; the message is one line that says what to do."""


@dataclass(frozen=True)
class VLLMServeOptions:
    """What `huijin serve --backend vllm` passes to `vllm serve`."""

    checkpoint: str  # a Hugging Face checkpoint directory or hub id
    kv_cache: str = "nqkv4"  # fp16 (vLLM's own cache) or an NQKV width
    host: str = "127.0.0.1"
    port: int = 8000
    extra_args: tuple[str, ...] = field(default=())  # passed to `vllm serve` unchanged

    def __post_init__(self) -> None:
        if self.kv_cache not in VLLM_KV_CACHES:
            hint = " (3-bit codes have no paged kernel)" if self.kv_cache == "nqkv3" else ""
            raise ValueError(
                f"the vLLM backend serves --kv-cache {', '.join(VLLM_KV_CACHES)}, "
                f"not {self.kv_cache!r}{hint}"
            )
        if not self.checkpoint or self.checkpoint == "embedded":
            raise ValueError(
                "vLLM serves a Hugging Face checkpoint (a directory or hub id), not the embedded "
                "GGUF model; pass one, e.g. huijin serve --backend vllm Qwen/Qwen2.5-7B-Instruct"
            )
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range; use 1..65535")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def vllm_serve_command(options: VLLMServeOptions, python: str = sys.executable) -> list[str]:
    """The argv that starts vLLM's OpenAI server (with the same interpreter, so the same env)."""
    command = [python, "-m", "vllm.entrypoints.cli.main", "serve", options.checkpoint]
    command += ["--host", options.host, "--port", str(options.port)]
    command += ["--enable-auto-tool-choice", "--tool-call-parser", TOOL_CALL_PARSER]
    if options.kv_cache != "fp16":
        # The plugin registered both names in every vLLM process before these are parsed.
        command += ["--kv-cache-dtype", options.kv_cache, "--attention-backend", "CUSTOM"]
    return command + list(options.extra_args)


def check_vllm_runtime(
    options: VLLMServeOptions,
    *,
    cuda_available: Callable[[], bool] | None = None,
    find_spec: Callable[[str], object] = importlib.util.find_spec,
    entry_points: Callable[..., Sequence] = importlib.metadata.entry_points,
    environ: dict[str, str] | None = None,
) -> None:
    """Raise VLLMLaunchError when vLLM could not serve `options` here (GPU, install, plugin).

    The probes are parameters so each failure can be tested on any machine; by default they look
    at this process: torch's CUDA, the installed packages and the environment.
    """
    environ = os.environ if environ is None else environ
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available
    if not cuda_available():
        raise VLLMLaunchError(
            "vLLM needs a CUDA GPU and none is visible here; serve with --backend transformers, "
            "or run this on a GPU machine"
        )
    if find_spec("vllm") is None:
        raise VLLMLaunchError(
            "vLLM is not installed; install the extra with pip install -e '.[vllm]' "
            "(vllm==0.33.0, which brings its CUDA torch)"
        )
    if options.kv_cache == "fp16":
        return
    names = {entry.name for entry in entry_points(group=PLUGIN_GROUP)}
    if PLUGIN_NAME not in names:
        raise VLLMLaunchError(
            f"vLLM would not find the NQKV plugin (no {PLUGIN_GROUP} entry point {PLUGIN_NAME!r}); "
            "reinstall huijin with pip install -e . so its entry points are registered"
        )
    allowed = environ.get("VLLM_PLUGINS")
    if allowed is not None and PLUGIN_NAME not in allowed.split(","):
        raise VLLMLaunchError(
            f"VLLM_PLUGINS={allowed} keeps vLLM from loading the NQKV plugin; add "
            f"{PLUGIN_NAME} to it or unset it"
        )
