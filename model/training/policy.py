"""The policy being trained: a causal LM from a local checkpoint, with LoRA adapters (peft) or all
weights trainable, and its save as a plain Hugging Face checkpoint the engine loads.

The reference policy of the KL term is the starting model. With LoRA it costs nothing: the
adapters start at zero (peft's B = 0), so the base model with adapters disabled *is* the starting
model. Without LoRA the trainer scores the reference once, before the first step, instead of
keeping a second copy of the weights in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model.training.config import TrainConfig

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class Policy:
    model: Any  # transformers PreTrainedModel, wrapped by peft when is_lora
    tokenizer: Any
    is_lora: bool
    source_dir: Path | None
    pad_id: int  # fills the tail of shorter sequences in a batch (attention-masked, no loss)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every trainable tensor by name (the adapters, or all weights), detached copies."""
        return {
            name: p.detach().clone() for name, p in self.model.named_parameters() if p.requires_grad
        }

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        params = {name: p for name, p in self.model.named_parameters() if p.requires_grad}
        if set(params) != set(state):
            raise ValueError(
                "the checkpoint's trainable tensors do not match this model (LoRA vs full, or "
                "another rank); resume with the settings the run started with"
            )
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor.to(params[name].dtype))

    @contextlib.contextmanager
    def as_reference(self) -> Iterator[None]:
        """The starting model: LoRA adapters switched off (a no-op before the first step)."""
        if self.is_lora:
            with self.model.disable_adapter():
                yield
        else:
            yield


def resolve_train_dtype(dtype: str, device: str) -> torch.dtype:
    """auto: float32 on CPU (no fast bf16 matmuls on most CPUs), bfloat16 on a GPU."""
    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    return _DTYPES[dtype]


def load_tokenizer(source_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(source_dir))


def load_policy(source_dir: Path, config: TrainConfig, device: str, tokenizer: Any) -> Policy:
    """The model of `source_dir` (its tokenizer already loaded), ready to train as `config` says."""
    from transformers import AutoModelForCausalLM

    dtype = resolve_train_dtype(config.dtype, device)
    model = AutoModelForCausalLM.from_pretrained(str(source_dir), dtype=dtype)
    torch.manual_seed(config.seed)  # LoRA's A matrices are drawn here
    if config.lora:
        model = with_lora(model, config)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return Policy(model, tokenizer, is_lora=config.lora, source_dir=source_dir, pad_id=int(pad))


def with_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [target for target in config.lora_targets if target in names]
    if not targets:
        raise ValueError(
            f"the model has none of the LoRA target modules {', '.join(config.lora_targets)}; "
            "train every weight instead (--full)"
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,  # dropout would make the ratio at step 0 differ from 1
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def save_checkpoint_dir(policy: Policy, out_dir: Path) -> None:
    """Write `out_dir` as a plain HF checkpoint (LoRA merged into the weights) + the tokenizer.

    Merging folds the adapters into the base weights in place: call this once, at the end.
    """
    model = policy.model
    if policy.is_lora:
        model = model.merge_and_unload()
        policy.model, policy.is_lora = model, False
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    policy.tokenizer.save_pretrained(str(out_dir))
