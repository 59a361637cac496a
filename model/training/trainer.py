"""The training loop over logged episodes: order -> micro-batches -> loss -> optimizer step ->
metrics -> checkpoint, resumable at any checkpoint.

Why not TRL's GRPOTrainer: it generates its own rollouts from prompts (even its `rollout_func`
hook hands it prompts to sample), while our episodes are already logged, multi-turn, with tool
results inside the prompts and behaviour logprobs from the engine that served them. What is left
for a trainer is small (the numerics live in objective.py), so this loop stays a page long and
uses accelerate for devices and processes: `accelerate launch --config_file
configs/accelerate/multi_gpu.yaml` (DDP; torchrun on CPU) splits each step's sequences over
processes (each takes every world_size-th one). Sharded set-ups (FSDP, DeepSpeed ZeRO-3) would
also need the full state dict gathered before the main process saves; that is not done here.

Gradient accumulation is done by hand: each micro-batch's loss is its token sum divided by the
completion tokens of the whole step (known in advance from the data order), times the process
count because DDP averages gradients over processes. The sum of the micro-batch gradients is then
exactly the gradient of the token-level mean over the step, however the step is split.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.training.checkpoint import (
    TrainProgress,
    latest_checkpoint,
    load_training_state,
    save_training_state,
)
from model.training.config import TrainConfig
from model.training.dataset import TrainingSet
from model.training.forward import collate, completion_logits
from model.training.metrics import MetricsLog, StepMetrics
from model.training.objective import (
    ClipRange,
    LossStats,
    grpo_loss,
    sft_loss,
    token_entropy,
    token_logprobs,
)
from model.training.policy import Policy
from model.training.samples import Sample

REFERENCE_FILE = "reference_logprobs.pt"


@dataclass
class LoopOutcome:
    progress: TrainProgress
    resumed_from_step: int | None
    metrics: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    def __init__(
        self,
        policy: Policy,
        data: TrainingSet,
        config: TrainConfig,
        out_dir: Path,
        identity: dict[str, Any],
        on_step: Callable[[StepMetrics, int], None] | None = None,
    ) -> None:
        from accelerate import Accelerator

        self.policy, self.data, self.config, self.out_dir = policy, data, config, out_dir
        self.identity, self.on_step = identity, on_step
        # cpu=True also when "auto" finds no GPU: accelerate only sets up a multi-process CPU
        # run (torchrun, gloo) when told cpu, and would otherwise train each process alone.
        on_cpu = config.device == "cpu" or not torch.cuda.is_available()
        self.accelerator = Accelerator(cpu=on_cpu)
        self.log = MetricsLog(out_dir)
        self.clip = ClipRange(config.clip_eps_low, config.clip_eps_high)

    # -- the plan --------------------------------------------------------------------------------

    @property
    def num_steps(self) -> int:
        per_step = self.config.samples_per_step * self.accelerator.num_processes
        steps = self.config.num_epochs * math.ceil(len(self.data.samples) / per_step)
        return min(steps, self.config.max_steps or steps)

    def _order(self, epoch: int) -> list[int]:
        order = list(range(len(self.data.samples)))
        random.Random(self.config.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def _next_step_samples(self, progress: TrainProgress) -> list[int]:
        """The sample indices of the next optimizer step (all processes); advances progress.
        A step never spans two epochs: the last one of an epoch may be smaller."""
        per_step = self.config.samples_per_step * self.accelerator.num_processes
        order = self._order(progress.epoch)
        chosen = order[progress.index : progress.index + per_step]
        progress.index += len(chosen)
        if progress.index >= len(order):
            progress.epoch, progress.index = progress.epoch + 1, 0
        return chosen

    # -- the loop --------------------------------------------------------------------------------

    def prepare(self) -> tuple[Any, Any]:
        """(model, optimizer) on the accelerator's device(s), ready for `step`."""
        self.policy.model.to(self.accelerator.device)
        optimizer = torch.optim.AdamW(
            self.policy.trainable_parameters(),
            lr=self.config.resolved_learning_rate,
            weight_decay=self.config.weight_decay,
        )
        return self.accelerator.prepare(self.policy.model, optimizer)

    def run(self, resume: bool) -> LoopOutcome:
        accelerator = self.accelerator
        model, optimizer = self.prepare()
        reference = self._reference_logprobs(resume)
        progress, resumed_from = TrainProgress(), None
        checkpoint = latest_checkpoint(self.out_dir) if resume else None
        if checkpoint is not None:
            progress = self._restore(checkpoint, optimizer)
            resumed_from = progress.step
        if accelerator.is_main_process:
            self.log.truncate_after(progress.step)
        total = self.num_steps
        while progress.step < total:
            started = time.perf_counter()
            epoch = progress.epoch
            indices = self._next_step_samples(progress)
            metrics = self.step(model, optimizer, indices, reference)
            progress.step += 1
            progress.num_tokens += metrics.num_tokens
            metrics.step, metrics.epoch = progress.step, epoch
            metrics.seconds = time.perf_counter() - started
            if accelerator.is_main_process:
                self.log.append(metrics)
            is_last = progress.step >= total
            if progress.step % self.config.checkpoint_every == 0 or is_last:
                progress.is_finished = is_last
                self._save(progress, optimizer)
            if self.on_step is not None:
                self.on_step(metrics, total)
        return LoopOutcome(progress, resumed_from, self.log.read())

    def step(
        self,
        model: Any,
        optimizer: Any,
        indices: list[int],
        reference: list[torch.Tensor] | None,
    ) -> StepMetrics:
        """One optimizer step on samples `indices` (all processes'); returns its metrics."""
        accelerator, config = self.accelerator, self.config
        samples = [self.data.samples[i] for i in indices]
        step_tokens = float(sum(s.num_completion_tokens for s in samples))
        mine = list(range(accelerator.process_index, len(samples), accelerator.num_processes))
        micro = [
            mine[start : start + config.micro_batch_size]
            for start in range(0, len(mine), config.micro_batch_size)
        ]
        totals, entropy_sum, loss_sum = LossStats(), 0.0, 0.0
        for number, chunk in enumerate(micro):
            refs = [reference[indices[i]] for i in chunk] if reference is not None else None
            batch = collate([samples[i] for i in chunk], self.policy.pad_id, refs)
            batch = batch.to(accelerator.device)
            sync = number == len(micro) - 1
            with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                logits = completion_logits(model, batch)
                logprobs = token_logprobs(logits, batch.target_ids)
                if config.objective == "rl":
                    loss, stats = grpo_loss(
                        logprobs,
                        batch.behaviour_logprobs,
                        batch.advantages,
                        step_tokens,
                        self.clip,
                        config.kl_beta,
                        batch.ref_logprobs,
                    )
                else:
                    loss, stats = sft_loss(logprobs, step_tokens)
                entropy_sum += float(token_entropy(logits).sum())
                # DDP averages gradients over processes; undo that so tokens, not processes, count.
                accelerator.backward(loss * accelerator.num_processes)
            totals.add(stats)
            loss_sum += float(loss.detach()) * step_tokens
        grad_norm = self._clip_gradients()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sums = torch.tensor(
            [totals.num_tokens, totals.kl, totals.clipped, totals.ratio, entropy_sum, loss_sum],
            device=accelerator.device,
            dtype=torch.float64,
        )
        tokens, kl, clipped, ratio, entropy, loss_total = accelerator.reduce(sums).tolist()
        tokens = max(tokens, 1.0)
        return StepMetrics(
            step=0,
            epoch=0,
            loss=loss_total / tokens,
            reward=sum(s.reward for s in samples) / len(samples),
            advantage=sum(s.advantage for s in samples) / len(samples),
            # None: not measured (no reference without a KL term; no ratio in SFT).
            kl=kl / tokens if reference is not None else None,
            clip_fraction=clipped / tokens if config.objective == "rl" else None,
            ratio=ratio / tokens if config.objective == "rl" else None,
            entropy=entropy / tokens,
            grad_norm=grad_norm,
            learning_rate=config.resolved_learning_rate,
            num_sequences=len(samples),
            num_tokens=int(step_tokens),
            seconds=0.0,
        )

    def _clip_gradients(self) -> float:
        params = self.policy.trainable_parameters()
        max_norm = self.config.max_grad_norm or float("inf")
        norm = self.accelerator.clip_grad_norm_(params, max_norm)
        return float(norm) if norm is not None else float("nan")

    # -- reference policy --------------------------------------------------------------------

    def _reference_logprobs(self, resume: bool) -> list[torch.Tensor] | None:
        """log p_ref of every sample's completion tokens, scored once before the first step (the
        reference never changes) and kept in the output dir for a resumed run."""
        if self.config.objective != "rl" or self.config.kl_beta == 0:
            return None
        path = self.out_dir / REFERENCE_FILE
        if resume and path.is_file():
            saved = torch.load(path, weights_only=True)
            if len(saved) == len(self.data.samples):
                return saved
        scored = score_samples(self.policy, self.data.samples, self.accelerator.device)
        if self.accelerator.is_main_process:
            torch.save(scored, path)
        return scored

    # -- checkpoints -----------------------------------------------------------------------------

    def _save(self, progress: TrainProgress, optimizer: Any) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_training_state(
                self.out_dir,
                progress,
                self.policy.trainable_state(),
                optimizer,
                self.identity,
                self.config.keep_checkpoints,
            )

    def _restore(self, checkpoint: Path, optimizer: Any) -> TrainProgress:
        state = load_training_state(checkpoint)
        if state.identity != self.identity:
            raise ValueError(
                f"the checkpoint in {checkpoint} belongs to another training run (other data, "
                "model or settings); use a new --out to start over"
            )
        self.policy.load_trainable_state(state.trainable)
        optimizer.load_state_dict(state.optimizer_state)
        state.restore_rng()
        return state.progress


@torch.no_grad()
def score_samples(policy: Policy, samples: list[Sample], device: Any) -> list[torch.Tensor]:
    """The reference policy's logprobs of each sample's completion tokens, one sample at a time."""
    was_training = policy.model.training
    policy.model.eval()
    scored = []
    with policy.as_reference():
        for sample in samples:
            batch = collate([sample], policy.pad_id).to(device)
            logits = completion_logits(policy.model, batch)
            scored.append(token_logprobs(logits, batch.target_ids).float().cpu())
    policy.model.train(was_training)
    return scored
