"""Tiny, randomly initialised PRM checkpoints built from the real architectures.

A byte-level BPE tokenizer is trained on a few sentences (so nothing is downloaded), given a chat
template, and saved with a LlamaForCausalLM ("+/-" PRMs) or a Qwen2ForTokenClassification
(reward-head PRMs) of a few thousand parameters. Loading them goes through the same
`from_pretrained` calls as a real 7B checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForTokenClassification,
)

SPECIAL_TOKENS = ["<|begin|>", "<|end|>", "<pad>", "<extra_0>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|begin|>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|begin|>assistant\n{% endif %}"
)
_CORPUS = [
    "Natalia sold clips to 48 of her friends in April, and then half as many in May.",
    "## Step 1: 48 / 2 = 24 clips. ## Step 2: 48 + 24 = 72 clips. + - ки",
    "Therefore, the final answer is: $\\boxed{72}$. Wait! Maybe I made some mistakes.",
    "user assistant system Please reason step by step 0123456789",
]


def build_tokenizer(directory: Path, with_chat_template: bool = True) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|begin|>",
        eos_token="<|end|>",
        pad_token="<pad>",
        additional_special_tokens=["<extra_0>"],
    )
    if with_chat_template:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)
    return fast


def _small(config_class, vocab_size: int, **extra):
    return config_class(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=2,
        **extra,
    )


def build_token_prob_prm(directory: Path, with_chat_template: bool = True) -> Path:
    """A Llama causal LM: RLHFlow-style ("chat") with a template, Math-Shepherd ("tag") without."""
    tokenizer = build_tokenizer(directory, with_chat_template)
    torch.manual_seed(0)
    model = LlamaForCausalLM(_small(LlamaConfig, len(tokenizer), tie_word_embeddings=False))
    model.save_pretrained(directory)
    return directory


def build_reward_head_prm(directory: Path) -> Path:
    """A Qwen2 transformer with a two-class per-token head (Qwen2.5-Math-PRM's shape)."""
    tokenizer = build_tokenizer(directory)
    torch.manual_seed(1)
    model = Qwen2ForTokenClassification(_small(Qwen2Config, len(tokenizer), num_labels=2))
    model.save_pretrained(directory)
    return directory
