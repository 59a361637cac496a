"""One frozen, validated config for a training run (RL or the SFT warm start).

Defaults are sized for the embedded 135M model on a small CPU: LoRA r=16 on the attention and MLP
projections, float32 (bf16 matmuls are slow on CPUs without AVX512-BF16), one sequence per
micro-batch with gradient accumulation, and turns longer than `max_length` skipped (and counted),
never cut.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OBJECTIVES = ("rl", "sft")
DTYPES = ("auto", "float32", "bfloat16")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Every field is validated when the config is built."""

    objective: str = "rl"
    """rl: GRPO on every scored episode of the run; sft: imitate the successful episodes only
    (rejection sampling), the warm start RL has to beat."""
    lora: bool = True
    """Train LoRA adapters (merged into the weights on save) instead of every weight."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scale numerator (the update is scaled by alpha / r)."""
    lora_targets: tuple[str, ...] = LORA_TARGETS
    """Module names that get adapters: attention and MLP projections of Llama/Qwen-style models."""
    learning_rate: float | None = None
    """AdamW step size; None picks 1e-4 (LoRA) or 1e-5 (full) for sft, half of that for rl."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    num_epochs: int = 1
    """Passes over the run's samples (more than one re-uses stale rollouts; the clip bounds it)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (None: the epochs decide)."""
    micro_batch_size: int = 1
    """Sequences in one forward/backward pass."""
    grad_accum_steps: int = 4
    """Micro-batches summed into one optimizer step."""
    max_length: int = 3072
    """Longest training sequence (prompt + completion tokens); longer turns are skipped, counted."""
    clip_eps_low: float = 0.2
    """PPO clip: the ratio may fall to 1 - clip_eps_low before its gradient stops."""
    clip_eps_high: float = 0.2
    """PPO clip: the ratio may rise to 1 + clip_eps_high before its gradient stops."""
    kl_beta: float = 0.04
    """Weight of the KL penalty (k3 estimator) to the frozen reference policy; 0 turns it off."""
    scale_advantages_by_std: bool = True
    """GRPO advantages (r - mean) / (std + eps); False keeps r - mean (Dr. GRPO)."""
    skip_zero_advantage: bool = True
    """Drop sequences of groups whose rewards are all equal (no learning signal, only cost)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 turns it off)."""
    dtype: str = "auto"
    """Weights while training: auto (float32 on CPU, bfloat16 on GPU), float32 or bfloat16."""
    device: str = "auto"
    """cpu, or auto (what accelerate picks: the GPU when there is one)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, ~30% more time)."""
    checkpoint_every: int = 10
    """Save a resumable checkpoint every this many optimizer steps (and at the end)."""
    keep_checkpoints: int = 2
    """Newest resumable checkpoints kept; older ones are deleted."""
    seed: int = 0
    """Seed for the data order and any randomness in the model."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes stored with the run (e.g. which loop iteration made it)."""

    def __post_init__(self) -> None:
        _check(self.objective in OBJECTIVES, f"objective must be one of {', '.join(OBJECTIVES)}")
        _check(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}")
        _check(self.device in ("auto", "cpu"), "device must be auto or cpu")
        _check(self.lora_r >= 1, "lora_r must be at least 1")
        _check(self.lora_alpha >= 1, "lora_alpha must be at least 1")
        _check(bool(self.lora_targets), "lora_targets must name at least one module")
        _check(
            self.learning_rate is None or self.learning_rate > 0,
            "learning_rate must be > 0 (or None for the default)",
        )
        _check(self.weight_decay >= 0, "weight_decay must be >= 0")
        _check(self.num_epochs >= 1, "num_epochs must be at least 1")
        _check(self.max_steps is None or self.max_steps >= 1, "max_steps must be at least 1")
        _check(self.micro_batch_size >= 1, "micro_batch_size must be at least 1")
        _check(self.grad_accum_steps >= 1, "grad_accum_steps must be at least 1")
        _check(self.max_length >= 16, "max_length must be at least 16 tokens")
        _check(0 < self.clip_eps_low < 1, "clip_eps_low must be in (0, 1)")
        _check(self.clip_eps_high > 0, "clip_eps_high must be > 0")
        _check(self.kl_beta >= 0, "kl_beta must be >= 0 (0 turns the KL term off)")
        _check(self.max_grad_norm >= 0, "max_grad_norm must be >= 0 (0 turns clipping off)")
        _check(self.checkpoint_every >= 1, "checkpoint_every must be at least 1")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints must be at least 1")

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        base = 1e-4 if self.lora else 1e-5
        return base if self.objective == "sft" else base / 2

    @property
    def samples_per_step(self) -> int:
        """Sequences in one optimizer step on one process."""
        return self.micro_batch_size * self.grad_accum_steps

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["lora_targets"] = list(self.lora_targets)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "lora_targets" in known:
            known["lora_targets"] = tuple(known["lora_targets"])
        return cls(**known)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
