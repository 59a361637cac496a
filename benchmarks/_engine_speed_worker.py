"""One backend's measurements, run in its own process so peak RSS belongs to that backend alone.

    python benchmarks/_engine_speed_worker.py SPEC.json RESULT.json

Phase "load" loads once (for our engine into a fresh cache dir, so the GGUF -> safetensors
conversion is included) and exits; phase "run" loads again (cached) and measures generation.
Progress goes to stdout as "PROGRESS <text>" lines for the parent's progress bar.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

import psutil
from _engine_speed_workload import (
    Backend,
    Generation,
    Timing,
    Workload,
    calibrate_long_prompt,
    essay_prompt,
    long_prompt,
    timed,
)

_nonces = itertools.count(1)


def progress(text: str) -> None:
    print(f"PROGRESS {text}", flush=True)


def make_backend(spec: dict[str, Any]) -> Backend:
    gguf_path, num_threads = Path(spec["gguf_path"]), spec["num_threads"]
    if spec["backend"] == "llamacpp":
        from _engine_speed_llamacpp import LlamaCppBackend

        return LlamaCppBackend(gguf_path, num_threads)
    from _engine_speed_transformers import TransformersBackend

    return TransformersBackend(
        gguf_path, num_threads, Path(spec["cache_dir"]), spec.get("engine_config", {})
    )


def measure_ttft(backend: Backend, workload: Workload, num_sentences: int) -> dict[str, Any]:
    """Prefill of the ~200-token prompt plus one sampled token, cold (unique prefix each time)."""
    wall, engine = Timing(), Timing()
    runs: list[Generation] = []
    for _ in range(workload.num_repeats):
        run = backend.chat(long_prompt(next(_nonces), num_sentences), max_new_tokens=1)
        runs.append(run)
        wall.values.append(run.seconds)
        if run.engine_ttft_s is not None:
            engine.values.append(run.engine_ttft_s)
    return {
        "num_prompt_tokens": runs[0].num_prompt_tokens,
        "wall_s": wall.as_dict(),
        "engine_reported_s": engine.as_dict() if engine.values else None,
    }


def measure_decode(backend: Backend, workload: Workload) -> dict[str, Any]:
    """Single-stream greedy generation of max_new_tokens on a long-answer prompt.

    decode tokens/s = (new tokens - 1) / (time for N tokens - time for 1 token): the prefill and
    the first token are taken out, both measured on the same prompt shape.
    """
    first, full = Timing(), Timing()
    decode_tps, e2e_tps, num_new = Timing(), Timing(), []
    for _ in range(workload.num_repeats):
        first.values.append(backend.chat(essay_prompt(next(_nonces)), 1).seconds)
    for _ in range(workload.num_repeats):
        run = backend.chat(essay_prompt(next(_nonces)), workload.max_new_tokens)
        full.values.append(run.seconds)
        num_new.append(run.num_new_tokens)
        e2e_tps.values.append(run.num_new_tokens / run.seconds)
        decode_tps.values.append((run.num_new_tokens - 1) / max(run.seconds - first.median, 1e-9))
    return {
        "num_new_tokens": num_new,
        "first_token_s": first.as_dict(),
        "total_s": full.as_dict(),
        "decode_tokens_per_s": decode_tps.as_dict(),
        "end_to_end_tokens_per_s": e2e_tps.as_dict(),
    }


def measure_batches(backend: Any, workload: Workload) -> dict[str, Any]:
    """Aggregate tokens/s of chat_batch (prefill included): all tokens of all rows / wall time."""
    results: dict[str, Any] = {}
    for batch_size in workload.batch_sizes:
        progress(f"batch {batch_size}")

        def one_batch(size: int = batch_size) -> list[Generation]:
            return backend.chat_batch(
                [essay_prompt(next(_nonces)) for _ in range(size)], workload.max_new_tokens
            )

        for _ in range(workload.num_warmup):
            one_batch()
        tps, num_new = Timing(), []
        for _ in range(workload.num_repeats):
            runs, seconds = timed(one_batch)
            total = sum(run.num_new_tokens for run in runs)
            num_new.append(total)
            tps.values.append(total / seconds)
        results[str(batch_size)] = {"num_new_tokens": num_new, "tokens_per_s": tps.as_dict()}
    return results


def run(spec: dict[str, Any]) -> dict[str, Any]:
    workload = Workload(
        **{**spec["workload"], "batch_sizes": tuple(spec["workload"]["batch_sizes"])}
    )
    progress("load")
    backend = make_backend(spec)
    _, load_s = timed(backend.load)
    result: dict[str, Any] = {
        "load_s": load_s,
        "rss_after_load_bytes": _rss(),
        # Includes this process; well above 1 x num_threads means others competed for the cores.
        "load_average_1min_after_load": os.getloadavg()[0],
    }
    if spec["phase"] == "run":
        progress("warm-up")
        num_sentences = calibrate_long_prompt(backend, workload.target_prompt_tokens)
        for _ in range(workload.num_warmup):
            backend.chat(long_prompt(next(_nonces), num_sentences), max_new_tokens=1)
            backend.chat(essay_prompt(next(_nonces)), workload.max_new_tokens)
        progress("time to first token")
        result["ttft"] = measure_ttft(backend, workload, num_sentences)
        progress("single-stream decode")
        result["decode"] = measure_decode(backend, workload)
        if hasattr(backend, "chat_batch"):
            result["batch"] = measure_batches(backend, workload)
    result["load_average_1min_at_end"] = os.getloadavg()[0]
    result["describe"] = backend.describe()
    backend.close()
    # ru_maxrss is in KiB on Linux.
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def _rss() -> int:
    return psutil.Process().memory_info().rss


if __name__ == "__main__":
    spec_path, result_path = sys.argv[1:3]
    outcome = run(json.loads(Path(spec_path).read_text()))
    Path(result_path).write_text(json.dumps(outcome, indent=2))
