"""The Hugging Face PRM code paths on tiny random checkpoints of the real architectures.

Each batched, padded score is checked against an independent computation: the model run on the
text up to that step alone, read at the last position (causal models make the two equal).
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

from model.reasoning.hf_prm import MATH_SHEPHERD_TAG, PRMLoadError, RewardHeadPRM, TokenProbPRM
from model.reasoning.prm import ProcessRewardModel, Solution
from model.reasoning.prm_factory import load_prm
from tests.model.reasoning.tiny_checkpoints import build_reward_head_prm, build_token_prob_prm

QUESTION = "Natalia sold 48 clips in April and half as many in May. How many in all?"
SHORT = Solution(QUESTION, ("## Step 1: 48 / 2 = 24 clips.", "## Step 2: 48 + 24 = 72 clips."))
LONG = Solution(
    QUESTION,
    (
        "## Step 1: 48 * 2 = 96 clips.",
        "## Step 2: 96 + 48 = 144.",
        "Therefore, the final answer is: $\\boxed{144}$.",
    ),
    context="Tool result: April 48 + clips - sold",  # "+" and "-" in the text must not confuse it
)


@pytest.fixture(scope="module")
def chat_prm_dir(tmp_path_factory):
    return build_token_prob_prm(tmp_path_factory.mktemp("rlhflow_prm"))


@pytest.fixture(scope="module")
def tag_prm_dir(tmp_path_factory):
    return build_token_prob_prm(tmp_path_factory.mktemp("shepherd_prm"), with_chat_template=False)


@pytest.fixture(scope="module")
def head_prm_dir(tmp_path_factory):
    return build_reward_head_prm(tmp_path_factory.mktemp("qwen_prm"))


def _last_position_probs(directory, model_class, text):
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = model_class.from_pretrained(directory, dtype=torch.float32).eval()
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        return model(ids).logits[0, -1], tokenizer


def test_rlhflow_style_prm_reads_p_plus_before_each_assistant_plus(chat_prm_dir):
    prm = TokenProbPRM(chat_prm_dir, batch_size=2)
    assert isinstance(prm, ProcessRewardModel) and prm.prm_format == "chat"
    scores = prm.score([SHORT, LONG, SHORT])  # batches of 2: padding on both sides of a batch
    assert [len(row) for row in scores] == [2, 3, 2]
    assert scores[0] == scores[2]
    tokenizer = AutoTokenizer.from_pretrained(chat_prm_dir)
    for solution, row in ((SHORT, scores[0]), (LONG, scores[1])):
        question = (
            f"{solution.context}\n\n{solution.question}" if solution.context else solution.question
        )
        conversation = []
        for k, step in enumerate(solution.steps):
            conversation.append(
                {"role": "user", "content": f"{question} {step}" if k == 0 else step}
            )
            prefix = tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True
            )
            logits, _ = _last_position_probs(chat_prm_dir, AutoModelForCausalLM, prefix)
            plus, minus = tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]
            expected = torch.softmax(logits[[plus, minus]], dim=-1)[0].item()
            assert row[k] == pytest.approx(expected, abs=1e-5)
            conversation.append({"role": "assistant", "content": "+"})
    assert len({round(s, 6) for row in scores for s in row}) > 2  # real, varying outputs


def test_math_shepherd_style_prm_reads_p_plus_at_each_step_tag(tag_prm_dir):
    prm = TokenProbPRM(tag_prm_dir)
    assert prm.prm_format == "tag"
    (short_scores, long_scores) = prm.score([SHORT, LONG])
    text = f"{SHORT.question} "
    tokenizer = AutoTokenizer.from_pretrained(tag_prm_dir)
    for k, step in enumerate(SHORT.steps):
        text += f"{step} {MATH_SHEPHERD_TAG}"
        logits, _ = _last_position_probs(tag_prm_dir, AutoModelForCausalLM, text)
        plus, minus = tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]
        assert short_scores[k] == pytest.approx(
            torch.softmax(logits[[plus, minus]], -1)[0].item(), abs=1e-5
        )
        text += "\n"
    assert len(long_scores) == 3


def test_reward_head_prm_reads_the_positive_class_at_each_separator(head_prm_dir):
    prm = RewardHeadPRM(head_prm_dir, batch_size=4)
    assert prm.step_separator == "<extra_0>"
    (short_scores, long_scores) = prm.score([SHORT, LONG])
    assert len(short_scores) == 2 and len(long_scores) == 3
    tokenizer = AutoTokenizer.from_pretrained(head_prm_dir)
    answer = "".join(f"{s}<extra_0>" for s in SHORT.steps)
    full = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": prm.system_prompt},
            {"role": "user", "content": SHORT.question},
            {"role": "assistant", "content": answer},
        ],
        tokenize=False,
    )
    start = full.index(answer)
    for k in range(2):
        end = start + len("".join(f"{s}<extra_0>" for s in SHORT.steps[: k + 1]))
        logits, _ = _last_position_probs(head_prm_dir, AutoModelForTokenClassification, full[:end])
        assert short_scores[k] == pytest.approx(torch.softmax(logits, -1)[1].item(), abs=1e-5)


def test_scores_are_causal_so_a_growing_path_keeps_its_earlier_scores(chat_prm_dir, head_prm_dir):
    for prm in (TokenProbPRM(chat_prm_dir), RewardHeadPRM(head_prm_dir)):
        full = prm.score([LONG])[0]
        prefix = prm.score([Solution(LONG.question, LONG.steps[:2], LONG.context)])[0]
        assert prefix == pytest.approx(full[:2], abs=1e-5)
        assert prm.score([Solution(QUESTION, ())]) == [[]]


def test_load_prm_picks_the_family_from_the_checkpoint(chat_prm_dir, head_prm_dir):
    assert isinstance(load_prm(str(chat_prm_dir)), TokenProbPRM)
    assert isinstance(load_prm(str(head_prm_dir)), RewardHeadPRM)
    mixed = load_prm(f"verifier:0.25,{chat_prm_dir}:0.75")
    verifier, learned = (
        load_prm("verifier").score([SHORT])[0],
        TokenProbPRM(chat_prm_dir).score([SHORT])[0],
    )
    expected = [0.25 * v + 0.75 * t for v, t in zip(verifier, learned, strict=True)]
    assert mixed.score([SHORT])[0] == pytest.approx(expected)


def test_remote_code_prm_needs_consent_and_a_bad_path_says_so(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"architectures": ["Qwen2ForProcessRewardModel"], "auto_map": {"AutoModel": "x.Y"}}
        )
    )
    with pytest.raises(PRMLoadError, match="trust_remote_code"):
        RewardHeadPRM(tmp_path)
    with pytest.raises(ValueError, match="unknown PRM"):
        load_prm(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PRMLoadError, match=r"no config\.json"):
        TokenProbPRM(tmp_path / "empty")
