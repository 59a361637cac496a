"""The checkpoint PRMs on a CUDA device (`-m gpu`; run by benchmarks/run_gpu.sh): the same scores
as on the CPU, in float32 and (looser) in the bfloat16 that `dtype="auto"` picks there."""

from __future__ import annotations

import pytest
import torch

from model.reasoning.hf_prm import RewardHeadPRM, TokenProbPRM
from model.reasoning.prm import Solution
from tests.model.reasoning.tiny_checkpoints import build_reward_head_prm, build_token_prob_prm

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SOLUTIONS = [
    Solution(
        "Natalia sold 48 clips in April and half as many in May.", ("## Step 1: 48 / 2 = 24",)
    ),
    Solution(
        "Natalia sold 48 clips in April and half as many in May. How many in all?",
        ("## Step 1: 48 / 2 = 24", "## Step 2: 48 + 24 = 72", "The answer is $\\boxed{72}$."),
    ),
]


@pytest.mark.parametrize(
    ("build", "prm_class"),
    [
        (lambda d: build_token_prob_prm(d), TokenProbPRM),
        (lambda d: build_token_prob_prm(d, with_chat_template=False), TokenProbPRM),
        (build_reward_head_prm, RewardHeadPRM),
    ],
    ids=["rlhflow", "math-shepherd", "reward-head"],
)
def test_checkpoint_prm_scores_match_the_cpu(tmp_path, build, prm_class) -> None:
    directory = build(tmp_path)
    on_cpu = prm_class(directory, device="cpu", batch_size=2).score(SOLUTIONS)
    on_cuda = prm_class(directory, device="cuda", dtype="float32", batch_size=2).score(SOLUTIONS)
    in_bf16 = prm_class(directory, device="cuda", batch_size=2).score(SOLUTIONS)
    assert [len(row) for row in on_cuda] == [len(row) for row in on_cpu] == [1, 3]
    for cpu_row, cuda_row, bf16_row in zip(on_cpu, on_cuda, in_bf16, strict=True):
        assert cuda_row == pytest.approx(cpu_row, abs=1e-4)
        assert bf16_row == pytest.approx(cpu_row, abs=2e-2)
