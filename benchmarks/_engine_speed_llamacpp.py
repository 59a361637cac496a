"""The llama.cpp reference: llama-cpp-python's high-level chat API on the same GGUF.

Only single-stream is measured; the Python binding has no batched generation, and the goal ratios
are stated against llama.cpp single-stream anyway.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from _engine_speed_workload import Generation, timed

# Room for the ~200-token prompt plus generation; llama-cpp-python's default of 512 is too tight
# for a long-answer run with max_new_tokens > 300.
_NUM_CTX = 2048


def is_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaCppBackend:
    def __init__(self, gguf_path: Path, num_threads: int) -> None:
        self.gguf_path = gguf_path
        self.num_threads = num_threads
        self._llm: Any = None

    def load(self) -> None:
        from llama_cpp import Llama

        # llama-cpp-python defaults to cpu_count // 2 threads; both backends get the same count.
        self._llm = Llama(
            model_path=str(self.gguf_path),
            n_ctx=_NUM_CTX,
            n_threads=self.num_threads,
            n_threads_batch=self.num_threads,
            verbose=False,
        )

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> Generation:
        # Forget the previous prompt: otherwise llama.cpp reuses the longest common KV prefix.
        self._llm.reset()
        response, seconds = timed(
            lambda: self._llm.create_chat_completion(
                messages=messages,
                max_tokens=max_new_tokens,
                temperature=0.0,  # greedy
                repeat_penalty=1.0,  # off, as in our engine
            )
        )
        usage = response["usage"]
        return Generation(
            num_prompt_tokens=usage["prompt_tokens"],
            num_new_tokens=usage["completion_tokens"],
            seconds=seconds,
            finish_reason=response["choices"][0]["finish_reason"] or "",
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "llama.cpp",
            "version": importlib.metadata.version("llama_cpp_python"),
            "num_threads": self.num_threads,
            "weights": "Q4_1 (GGUF, quantized kernels)",
            "n_ctx": _NUM_CTX,
        }

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
