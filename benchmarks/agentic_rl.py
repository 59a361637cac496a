"""Agentic RL from logged trajectories, measured on the embedded SmolLM2-135M (issue 9).

On the tool-use suite's test split, with the same questions and greedy decoding for every model:
pass rate and valid-call rate of the base model, of the SFT warm start (imitating the successful
episodes of G sampled rollouts per train question; by default the base agent's rollouts with its
tool-call grammar on, as the app runs it, so the model learns to write without the grammar the
calls it makes with it) and after K rounds of collect -> GRPO ->
evaluate on dev -> keep the best, started from the SFT model; general-text perplexity (the FinQA
and GSM8K text the NQKV benchmark uses, model/nqkv/corpus.py) of each; reward and KL curves.
Everything goes through the product's own code: eval runs (collect runs are eval runs of kind
"collect"), model.training's train() and run_loop().

    python benchmarks/agentic_rl.py                    # the full configuration: ~3.5 h on 2 cores
    python benchmarks/agentic_rl.py --tool-calls constrained   # the agent with its grammar
    python benchmarks/agentic_rl.py --sft-data free    # warm start from the free-call rollouts
    python benchmarks/agentic_rl.py --rl-learning-rate 2e-4 --name lr2e-4   # larger RL steps,
                                                       # results and work dir beside the default
    python benchmarks/agentic_rl.py --smoke            # a few minutes: checks the pipeline only
    python benchmarks/agentic_rl.py --gpu-throughput   # training tokens/s, 1.5B random init (CUDA)

Writes benchmarks/results/agentic_rl.json, .md and agentic_rl_curves.png (--smoke:
agentic_rl_smoke.*; --gpu-throughput: agentic_rl_throughput.*; --name N: agentic_rl_N.*, work dir
<data dir>/agentic_rl_N). Goals (issue 9): RL beats the SFT warm start; test pass rate +15 points
over the base model; general-text perplexity up by at most 5%. A rerun with the same --work-dir
resumes: finished stages are read back, an interrupted training run resumes from its last
checkpoint; a work dir refuses a different --tool-calls, --sft-data or --rl-learning-rate than it
was started with.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from datetime import date
from pathlib import Path
from typing import Any

from _agentic_rl_report import chosen_round, goals, markdown, plot_curves, throughput_markdown

from core.db.session import open_database
from core.settings import Settings, load_settings
from evals.rollouts import RolloutSpec, SuiteRollouts
from model.training.api import TrainConfig, resolve_model_dir, train
from model.training.dataset import TrainingDataError
from model.training.loop import run_loop
from model.training.rewards import RewardWeights

RESULTS = Path(__file__).parent / "results"
# Sized for 2 CPU cores. Measured here (2026-11, benchmarks/results/agentic_rl.json): a 40-question
# test eval 5-7 min, a 64-episode collect 4-7 min, the SFT warm start 66 min, an RL round's
# training 15-23 min (~55 s a step of 4 sequences): about 3.5 hours in all.
FULL = {"train_limit": 16, "group": 4, "test_limit": 40, "dev_limit": 20, "iterations": 3}
SMOKE = {"train_limit": 1, "group": 2, "test_limit": 2, "dev_limit": 1, "iterations": 1}


class Stages:
    """Stage results kept in <work>/bench.json, so a rerun skips what is done."""

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / "bench.json"
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def run(self, name: str, compute: Any) -> Any:
        if name not in self.done:
            print(f"[agentic_rl] {name} ...", flush=True)
            started = time.perf_counter()
            self.done[name] = compute()
            # Wall time of each stage, to plan a rerun (a resumed stage counts its last part).
            seconds = self.done.setdefault("stage_seconds", {})
            seconds[name] = round(time.perf_counter() - started, 1)
            self.path.write_text(json.dumps(self.done, indent=2, default=str))
        return self.done[name]

    def run_id(self, name: str, start: Any) -> str:
        """A stage's eval run, recorded before it executes, so a killed stage resumes its run
        (finished episodes kept) instead of starting a new one."""
        return str(self.run(f"{name}_run_id", start))


def perplexity(model_dir: Path, texts: dict[str, Any], window: int = 1024) -> dict[str, float]:
    """Perplexity of each text (non-overlapping windows of `window` tokens), and their mean."""
    import math

    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    result: dict[str, float] = {}
    with torch.no_grad():
        for name, ids in texts.items():
            nll, count = 0.0, 0
            for start in range(0, ids.shape[1] - 1, window):
                chunk = ids[:, start : start + window]
                if chunk.shape[1] < 2:
                    break
                logits = model(input_ids=chunk).logits[:, :-1].float()
                targets = chunk[:, 1:]
                nll += float(
                    torch.nn.functional.cross_entropy(logits[0], targets[0], reduction="sum")
                )
                count += targets.numel()
            result[name] = round(math.exp(nll / count), 4)
    result["mean"] = round(sum(result.values()) / len(result), 4)
    return result


def bench_settings(work_dir: Path, tool_calls: str) -> Settings:
    """The agent every stage runs. `tool_calls="free"` (the default here) turns the grammar off:
    with it, the base agent already passes the whole suite (benchmarks/agent_quality.py), so
    there is nothing left to learn; without it the 135M model writes a valid call on ~15% of
    questions, and that is the skill agentic RL has to teach. Answers quote the tools either way
    (the product's default), so the pass rate measures the calls."""
    settings = load_settings()
    if settings.market_snapshot is None:
        raise SystemExit("set HUIJIN_MARKET_SNAPSHOT (make sets it to ../shared/data/market)")
    return settings.model_copy(
        update={
            "data_dir": work_dir,
            "database_url": None,
            "market_live": False,
            "temperature": 0.0,
            "agent_constrained": tool_calls == "constrained",
        }
    )


def run_cpu(args: argparse.Namespace, sizes: dict[str, Any]) -> dict[str, Any]:
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(work_dir, args.tool_calls)
    base_dir = resolve_model_dir(settings.model, settings.cache_dir)
    weights = RewardWeights.from_settings(settings)
    database = open_database(settings.resolved_database_url())
    stages = Stages(work_dir)
    if not stages.done:
        stages.run("tool_calls", lambda: args.tool_calls)
        stages.run("sft_data", lambda: args.sft_data)
        stages.run("rl_learning_rate", lambda: args.rl_learning_rate)
    # Work dirs from before these options: constrained calls, SFT on the agent's own rollouts,
    # the default RL learning rate.
    for option, before in (
        ("tool_calls", "constrained"),
        ("sft_data", "free"),
        ("rl_learning_rate", None),
    ):
        recorded = stages.done.get(option, before)
        if recorded != getattr(args, option):
            shown = "(the default)" if recorded is None else recorded
            raise SystemExit(
                f"{work_dir} holds a run with --{option.replace('_', '-')} {shown}; pass that, "
                "or another --work-dir"
            )
    common = {"data": settings.market_snapshot, "seed": args.seed, "concurrency": args.concurrency}
    collect = RolloutSpec(
        split="train",
        group=sizes["group"],
        limit=sizes["train_limit"],
        temperature=settings.train_temperature,
        **common,
    )
    test = RolloutSpec(split="test", group=1, limit=sizes["test_limit"], temperature=0.0, **common)
    dev = RolloutSpec(split="dev", group=1, limit=sizes["dev_limit"], temperature=0.0, **common)
    on_test = SuiteRollouts(settings, collect, test, weights)
    max_steps = 2 if args.smoke else None
    limits = {
        "max_length": args.max_length,
        "grad_accum_steps": args.grad_accum,
        "max_steps": max_steps,
    }

    def test_stage(name: str, model_dir: Path) -> dict[str, Any]:
        run_id = stages.run_id(name, lambda: on_test.start_evaluation(model_dir))
        return stages.run(name, lambda: on_test.run_evaluation(model_dir, run_id).to_dict())

    base_test = test_stage("base_test", base_dir)
    collect_id = stages.run_id("base_collect", lambda: on_test.start_collect(base_dir))
    rollouts = stages.run(
        "base_collect", lambda: on_test.run_collect(base_dir, collect_id).to_dict()
    )
    sft_rollouts = rollouts
    if args.sft_data == "constrained" and args.tool_calls == "free":
        # The same agent with its grammar on, as the app runs it: its successful episodes are
        # the model's own calls, which the warm start teaches it to write without the grammar.
        with_grammar = bench_settings(work_dir, "constrained")
        source = SuiteRollouts(with_grammar, collect, test, weights)
        sft_id = stages.run_id("sft_collect", lambda: source.start_collect(base_dir))
        sft_rollouts = stages.run(
            "sft_collect", lambda: source.run_collect(base_dir, sft_id).to_dict()
        )
    sft_dir = work_dir / "sft"

    def warm_start() -> dict[str, Any]:
        config = TrainConfig(objective="sft", num_epochs=args.sft_epochs, **limits)
        try:
            result = train(
                database,
                sft_rollouts["run_id"],
                sft_dir,
                config,
                base_dir,
                weights,
                resume=(sft_dir / "training.json").is_file(),
            )
        except TrainingDataError as exc:  # no successful rollout: the warm start is the base
            return {"skipped": str(exc)}
        return {"steps": result.steps, "data": result.data, "seconds": round(result.seconds, 1)}

    sft = stages.run("sft_train", warm_start)
    start_dir = base_dir if "skipped" in sft else sft_dir
    sft_test = test_stage("sft_test", start_dir)

    loop_dir = work_dir / "loop"

    def rl_loop() -> dict[str, Any]:
        config = TrainConfig(
            objective="rl",
            num_epochs=args.rl_epochs,
            learning_rate=args.rl_learning_rate,
            **limits,
        )
        result = run_loop(
            database,
            SuiteRollouts(settings, collect, dev, weights),
            loop_dir,
            sizes["iterations"],
            config,
            start_dir,
            weights,
            resume=(loop_dir / "loop.json").is_file(),
        )
        return {
            "best_dir": str(result.best_dir) if result.best_dir else None,
            "history": result.history,
        }

    loop = stages.run("rl_loop", rl_loop)
    rl_dir = Path(loop["best_dir"]) if loop["best_dir"] else start_dir
    rl_test = test_stage("rl_test", rl_dir)
    # The last round, when the dev split did not choose it, is tested too and shown beside the
    # chosen model: it says what RL did to the test score. It never takes part in the choice.
    last = loop["history"][-1]
    last_round = None
    if last.get("iteration") and last.get("score") and Path(last["model_dir"]) != rl_dir:
        last_test = test_stage("last_round_test", Path(last["model_dir"]))
        last_round = {"iteration": last["iteration"], "test": last_test}

    from transformers import AutoTokenizer

    from model.nqkv.corpus import load_texts

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    texts, _ = load_texts(settings.benchmarks_dir, tokenizer, args.ppl_tokens, 8)
    ppl = {
        name: stages.run(f"perplexity_{name}", lambda d=model_dir: perplexity(d, texts))
        for name, model_dir in (("base", base_dir), ("sft", start_dir), ("rl", rl_dir))
    }
    curves = plot_curves(loop_dir, sft_dir if "skipped" not in sft else None, args.curves)
    database.close()
    best_round = chosen_round(loop["history"])
    return {
        "model_id": "SmolLM2-135M-Instruct" if settings.model == "embedded" else settings.model,
        "stages": {
            "base": {"test": base_test, "perplexity": ppl["base"]},
            "sft": {
                "test": sft_test,
                "perplexity": ppl["sft"],
                "train": sft,
                "note": "no successful rollout: base" if "skipped" in sft else "",
            },
            "rl": {
                "test": rl_test,
                "perplexity": ppl["rl"],
                "note": f"round {best_round}" if best_round else "no round beat the warm start",
            },
        },
        "last_round": last_round,
        "collect": rollouts,
        "sft_collect": sft_rollouts,
        "loop": loop["history"],
        "curves": str(
            curves.relative_to(Path.cwd()) if curves.is_relative_to(Path.cwd()) else curves
        ),
        "work_dir": str(work_dir),
        "stage_seconds": stages.done.get("stage_seconds", {}),
    }


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _result_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,39}", text):
        raise argparse.ArgumentTypeError(f"use letters, digits, '.' and '-' only, got {text!r}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 2 optimizer steps")
    parser.add_argument("--gpu-throughput", action="store_true", help="training tokens/s on CUDA")
    parser.add_argument("--train-limit", type=int, help="train questions collected per round")
    parser.add_argument("--group", type=int, help="episodes per train question (G)")
    parser.add_argument("--test-limit", type=int, help="test questions scored per model")
    parser.add_argument("--dev-limit", type=int, help="dev questions scored per RL round")
    parser.add_argument("--iterations", type=int, help="RL rounds (K)")
    parser.add_argument("--sft-epochs", type=int, default=2)
    parser.add_argument("--rl-epochs", type=int, default=1)
    parser.add_argument(
        "--rl-learning-rate",
        type=_positive_float,
        help="RL rounds' learning rate (default: TrainConfig's, 5e-5 with LoRA)",
    )
    parser.add_argument("--max-length", type=int, default=3072, help="longest training sequence")
    parser.add_argument("--grad-accum", type=int, default=4, help="sequences per optimizer step")
    parser.add_argument("--ppl-tokens", type=int, help="tokens of each perplexity text")
    parser.add_argument("--concurrency", type=int, default=8, help="episodes batched at once")
    parser.add_argument("--seed", type=int, default=0, help="suite seed and question sample")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--work-dir", type=Path, help="models, database, stage results")
    parser.add_argument(
        "--tool-calls",
        choices=("free", "constrained"),
        default="free",
        help="the agent's calls as the model writes them (free), or grammar-constrained",
    )
    parser.add_argument(
        "--sft-data",
        choices=("constrained", "free"),
        default="constrained",
        help="the warm start's episodes: the base agent with its tool-call grammar (the app's "
        "default; its successes are the model's own calls), or the --tool-calls rollouts",
    )
    parser.add_argument(
        "--name",
        type=_result_name,
        help="write agentic_rl_<NAME>.json/.md/_curves.png: a variant run kept beside the default",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    suffix = "_throughput" if args.gpu_throughput else ("_smoke" if args.smoke else "")
    suffix += f"_{args.name}" if args.name else ""
    out = RESULTS / f"agentic_rl{suffix}.json"
    args.curves = RESULTS / f"agentic_rl{suffix}_curves.png"
    load_start = round(os.getloadavg()[0], 2)
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}",
        "load_average_start": load_start,
    }
    if args.gpu_throughput:
        from _agentic_rl_gpu import run_throughput

        report["throughput"] = run_throughput(args.smoke)
        text = throughput_markdown(report["throughput"])
    else:
        sizes = dict(SMOKE if args.smoke else FULL)
        for key in sizes:
            if getattr(args, key) is not None:
                sizes[key] = getattr(args, key)
        args.ppl_tokens = args.ppl_tokens or (256 if args.smoke else 4096)
        args.work_dir = args.work_dir or load_settings().data_dir / f"agentic_rl{suffix}"
        settings = load_settings()
        report["config"] = {
            **sizes,
            "smoke": args.smoke,
            "tool_calls": args.tool_calls,
            "sft_data": args.sft_data,
            "seed": args.seed,
            "temperature": settings.train_temperature,
            "sft_epochs": args.sft_epochs,
            "rl_epochs": args.rl_epochs,
            "rl_learning_rate": TrainConfig(
                objective="rl", learning_rate=args.rl_learning_rate
            ).resolved_learning_rate,
            "max_length": args.max_length,
            "grad_accum": args.grad_accum,
            "ppl_tokens": args.ppl_tokens,
            "reward_weights": RewardWeights.from_settings(settings).__dict__,
        }
        report.update(run_cpu(args, sizes))
        report["load_average_end"] = round(os.getloadavg()[0], 2)
        report["goals"] = goals(report)
        text = markdown(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
