"""Tiny random Llama-family models for engine tests: real architectures, seconds to build."""

from __future__ import annotations

import torch


def tiny_causal_lm(model_type: str = "llama", max_positions: int = 128) -> torch.nn.Module:
    """A random 2-layer model of another Llama-family shape: untied head, q/k/v biases (Qwen2)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        model_type,
        vocab_size=300,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()


def snap_to_4bit_grid(model: torch.nn.Module) -> torch.nn.Module:
    """Round every linear weight to a Q4_1-style grid (per 32 inputs: min + d * q, q in 0..15),
    as a 4-bit GGUF checkpoint's weights are, so the int8 copies are exact and get used."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.in_features % 32 == 0:
                w = module.weight.reshape(module.out_features, -1, 32)
                low, high = w.amin(-1, keepdim=True), w.amax(-1, keepdim=True)
                d = (high - low).clamp(min=1e-8) / 15
                module.weight.copy_(
                    (low + d * torch.round((w - low) / d)).reshape_as(module.weight)
                )
    return model
