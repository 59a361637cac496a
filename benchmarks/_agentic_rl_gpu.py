"""Training throughput of model/training's step on a random-initialised 1.5B model (no weights).

The architecture is Qwen2-1.5B's published config (28 layers, hidden 1536, 12 query / 2 KV heads,
MLP 8960, vocabulary 151,936, tied embeddings); the weights are random, which costs the same
FLOPs as trained ones. The sequences are synthetic agent turns: a prompt and a completion of
random token ids, with group advantages of +-1. Each mode (LoRA r=16 on every projection, and
all weights) runs warm-up steps, then timed optimizer steps of `Trainer.step`, the exact code
`huijin train rl` runs, with the KL term on (reference logprobs scored once, as in training).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from model.training.config import TrainConfig
from model.training.dataset import RunInfo, TrainingSet
from model.training.policy import Policy, resolve_train_dtype, with_lora
from model.training.samples import Sample
from model.training.trainer import Trainer, score_samples

QWEN2_1_5B = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
TINY = {  # --smoke: the same code path on a CPU in seconds
    "vocab_size": 1000,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
}


def synthetic_samples(
    num: int, prompt_tokens: int, completion_tokens: int, vocab: int, seed: int
) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for index in range(num):
        ids = [rng.randrange(vocab) for _ in range(prompt_tokens + completion_tokens)]
        sample = Sample(
            trajectory_id=f"synthetic-{index}",
            group_id=f"g{index // 2}",
            input_ids=ids,
            completion_mask=[False] * prompt_tokens + [True] * completion_tokens,
            behaviour_logprobs=[0.0] * prompt_tokens + [-12.0] * completion_tokens,
            turn_indices=[0],
            advantage=1.0 if index % 2 == 0 else -1.0,
        )
        samples.append(sample)
    return samples


def measure(
    lora: bool,
    architecture: dict[str, Any],
    *,
    micro_batch: int,
    grad_accum: int,
    prompt_tokens: int,
    completion_tokens: int,
    warmup_steps: int,
    timed_steps: int,
    device: str,
) -> dict[str, Any]:
    """Tokens per second of `timed_steps` optimizer steps after `warmup_steps`."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = TrainConfig(
        objective="rl",
        lora=lora,
        micro_batch_size=micro_batch,
        grad_accum_steps=grad_accum,
        max_length=prompt_tokens + completion_tokens,
        gradient_checkpointing=not lora and device == "cuda",
        device="auto" if device == "cuda" else "cpu",
    )
    dtype = resolve_train_dtype(config.dtype, device)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(Qwen2Config(**architecture), dtype=dtype)
    num_params = sum(p.numel() for p in model.parameters())
    if lora:
        model = with_lora(model, config)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    policy = Policy(model, tokenizer=None, is_lora=lora, source_dir=None, pad_id=0)
    per_step = micro_batch * grad_accum
    samples = synthetic_samples(
        per_step * (warmup_steps + timed_steps),
        prompt_tokens,
        completion_tokens,
        architecture["vocab_size"],
        seed=1,
    )
    data = TrainingSet(run=RunInfo("synthetic", "synthetic", "throughput"), samples=samples)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(policy, data, config, Path(out_dir), identity={})
        train_model, optimizer = trainer.prepare()
        reference = score_samples(policy, samples, trainer.accelerator.device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds = 0.0
        for step in range(warmup_steps + timed_steps):
            indices = list(range(step * per_step, (step + 1) * per_step))
            _sync(device)
            started = time.perf_counter()
            trainer.step(train_model, optimizer, indices, reference)
            _sync(device)
            if step >= warmup_steps:
                seconds += time.perf_counter() - started
    tokens = timed_steps * per_step * (prompt_tokens + completion_tokens)
    trained = timed_steps * per_step * completion_tokens
    return {
        "mode": "LoRA r=16" if lora else "full",
        "parameters": num_params,
        "trainable_parameters": sum(p.numel() for p in policy.trainable_parameters()),
        "dtype": str(dtype).removeprefix("torch."),
        "gradient_checkpointing": config.gradient_checkpointing,
        "sequences_per_step": per_step,
        "sequence_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
        "timed_steps": timed_steps,
        "seconds_per_step": round(seconds / timed_steps, 4),
        "tokens_per_s": round(tokens / seconds, 1),
        "completion_tokens_per_s": round(trained / seconds, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
    }


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_throughput(smoke: bool) -> dict[str, Any]:
    """Both modes on the GPU (or, with --smoke, a tiny model on the CPU)."""
    if smoke:
        device, architecture, name = "cpu", TINY, "tiny Qwen2 (smoke)"
        shape = {"micro_batch": 2, "grad_accum": 1, "prompt_tokens": 48, "completion_tokens": 16}
        steps = {"warmup_steps": 1, "timed_steps": 2}
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "--gpu-throughput needs a CUDA device (or add --smoke for a CPU check)"
            )
        device, architecture, name = "cuda", QWEN2_1_5B, "Qwen2-1.5B architecture, random init"
        shape = {"micro_batch": 4, "grad_accum": 2, "prompt_tokens": 768, "completion_tokens": 256}
        steps = {"warmup_steps": 2, "timed_steps": 5}
    rows = [measure(lora, architecture, device=device, **shape, **steps) for lora in (True, False)]
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    return {"model": name, "device": gpu, "architecture": architecture, "rows": rows}
