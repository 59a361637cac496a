"""Our engine, through its public API only: TransformersEngine with a config built from the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from _engine_speed_workload import Generation, timed


class TransformersBackend:
    def __init__(
        self, gguf_path: Path, num_threads: int, cache_dir: Path, overrides: dict[str, Any]
    ) -> None:
        from model.engine.transformers_engine import TransformersEngineConfig

        known = {f.name for f in dataclasses.fields(TransformersEngineConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SystemExit(
                f"unknown TransformersEngineConfig field(s) {unknown}; known: {sorted(known)}"
            )
        # The same GGUF file llama.cpp reads, converted into this run's own (fresh) cache dir.
        self.config = TransformersEngineConfig(
            **{
                "model": str(gguf_path),
                "cache_dir": cache_dir,
                "num_threads": num_threads,
                **overrides,
            }
        )
        self._engine: Any = None

    def load(self) -> None:
        from model.engine.transformers_engine import TransformersEngine

        self._engine = TransformersEngine(self.config)

    def _params(self, max_new_tokens: int) -> Any:
        from model.engine.types import SamplingParams

        # Greedy; no logprobs, since llama.cpp computes none either (the agent's RL path does).
        return SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, logprobs=False)

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> Generation:
        result, seconds = timed(
            lambda: self._engine.chat(messages, params=self._params(max_new_tokens))
        )
        return _generation(result, seconds)

    def chat_batch(
        self, conversations: list[list[dict[str, str]]], max_new_tokens: int
    ) -> list[Generation]:
        results = self._engine.chat_batch(conversations, params=self._params(max_new_tokens))
        return [_generation(result, result.total_time_s) for result in results]

    def describe(self) -> dict[str, Any]:
        info = self._engine.info()
        config = {
            k: str(v) if isinstance(v, Path) else v
            for k, v in dataclasses.asdict(self.config).items()
        }
        return {
            "backend": "transformers",
            "config": config,
            "dtype": info.dtype,
            "device": info.device,
            "num_parameters": info.num_parameters,
            "weights_bytes": info.memory_bytes,
            "engine_load_time_s": info.load_time_s,
            **{
                k: info.extra.get(k)
                for k in ("kv_cache", "fast_decode", "max_batch_size", "num_threads")
            },
        }

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _generation(result: Any, seconds: float) -> Generation:
    return Generation(
        num_prompt_tokens=result.usage.prompt_tokens,
        num_new_tokens=result.usage.completion_tokens,
        seconds=seconds,
        finish_reason=result.finish_reason.value,
        engine_ttft_s=result.time_to_first_token_s,
    )
