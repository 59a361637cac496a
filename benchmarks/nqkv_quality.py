"""NQKV vs fp16 and the uniform-int peers: perplexity, KL, SQNR, bytes/token, greedy agreement.

    python benchmarks/nqkv_quality.py [--models smollm2,gemma] [--num-tokens 1024] [--threads 1]

Writes benchmarks/results/nqkv_quality.json and .md. Real text comes from the benchmark files
(HUIJIN_BENCHMARKS_DIR, default ../shared/data/benchmarks). See model/nqkv/bench.py for the
protocol. CPU only is fine; the JSON records the token counts, threads and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.nqkv.bench import BenchConfig, run_bench  # noqa: E402
from model.nqkv.corpus import load_calibration, load_texts  # noqa: E402
from model.nqkv.models import load_bench_model  # noqa: E402
from model.nqkv.report import markdown_report  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,gemma")
    parser.add_argument("--num-tokens", type=int, default=1024)
    parser.add_argument("--residual", type=int, default=128)
    parser.add_argument("--bits", default="2,3,4")
    parser.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    parser.add_argument("--greedy-prompt", type=int, default=384, help="greedy prompt tokens")
    parser.add_argument("--greedy-new", type=int, default=24, help="greedy tokens compared")
    parser.add_argument("--calibration", type=int, default=512, help="tokens to fit nqkv_fit")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    parser.add_argument("--out", type=Path, default=RESULTS / "nqkv_quality")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the .md from the existing --out .json"
    )
    args = parser.parse_args()
    if args.render:
        report = json.loads(args.out.with_suffix(".json").read_text())
        args.out.with_suffix(".md").write_text(markdown_report(report))
        print(markdown_report(report))
        return
    benchmarks_dir = Path(
        os.environ.get("HUIJIN_BENCHMARKS_DIR", ROOT.parent / "shared" / "data" / "benchmarks")
    )
    import torch

    torch.set_num_threads(args.threads)
    config = BenchConfig(
        num_tokens=args.num_tokens,
        residual_tokens=args.residual,
        greedy_prompt_tokens=args.greedy_prompt,
        greedy_new_tokens=args.greedy_new,
        bits=tuple(int(b) for b in args.bits.split(",")),
        **({"methods": tuple(args.methods.split(","))} if args.methods else {}),
    )
    report = {
        "command": "python benchmarks/nqkv_quality.py " + " ".join(sys.argv[1:]),
        "platform": f"{platform.machine()} CPU x{os.cpu_count()}, torch threads {args.threads}",
        "load_average_start": os.getloadavg(),
        "models": {},
    }
    for name in args.models.split(","):
        started = time.perf_counter()
        try:
            model, tokenizer, model_id = load_bench_model(name)
        except Exception as exc:
            print(f"{name}: cannot load ({type(exc).__name__}: {exc}); skipped", flush=True)
            report["models"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        texts, prompt = load_texts(
            benchmarks_dir, tokenizer, config.num_tokens, config.greedy_prompt_tokens
        )
        calibration = load_calibration(benchmarks_dir, tokenizer, args.calibration)
        result = run_bench(
            model, texts, prompt, config, log=lambda m: print(m, flush=True),
            calibration_ids=calibration,
        )  # fmt: skip
        result["model_id"] = model_id
        result["seconds"] = time.perf_counter() - started
        report["models"][name] = result
        report["load_average_end"] = os.getloadavg()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
        args.out.with_suffix(".md").write_text(markdown_report(report))
    print(markdown_report(report))


if __name__ == "__main__":
    main()
