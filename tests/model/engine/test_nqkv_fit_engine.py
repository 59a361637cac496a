"""The engine with the fitted NQKV variant (`kv_cache=nqkvN_fit`): selection, batching, CLI.

Runners share the session model (and its fused decode step) with `embedded_engine`, as in
test_nqkv_engine.py. With a window of 8 tokens and key blocks of 32 tokens, the two chat prompts
here (37 and 45 tokens) have bodies of 0 and 32 tokens and tails of 37 and 13: merging pads the
second row's tail by 24 columns, so its next key blocks start where a solo run's do not, and the
batch moves a block into the body 3 steps after the merge.
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from core.settings import load_settings
from model.engine.kv_cache import FIT_KV_CACHES, get_kv_cache_kind, kv_cache_names
from model.engine.quantized_kv_cache import NQKVCacheKind
from model.engine.runner import DecodeBatch, ModelRunner
from model.engine.transformers_engine import TransformersEngine
from model.nqkv.cache import NQKVLayer
from model.nqkv.variants import FITTED_TAILS

PROMPTS = [
    "What is the capital of France?",
    "Explain compound interest in one paragraph, with an example of a savings account.",
]
RESIDUAL = 8


def _runner(engine: TransformersEngine, kind: NQKVCacheKind) -> ModelRunner:
    """A runner on the session model, decoding through the engine's fused step."""
    runner = ModelRunner(engine._runner.model, kind)
    runner.fast_decoder = engine._runner.fast_decoder
    return runner


def _chat_ids(engine: TransformersEngine, text: str) -> list[int]:
    return engine.tokenize(engine.render_prompt([{"role": "user", "content": text}]))


def _solo(runner: ModelRunner, prompt_ids: list[int], num_new: int) -> list[int]:
    logits, batch = runner.prefill(prompt_ids)
    tokens = [int(logits.argmax())]
    for _ in range(num_new - 1):
        tokens.append(int(runner.decode(batch, [tokens[-1]])[0].argmax()))
    return tokens


def _batched(
    runner: ModelRunner, prompts: list[list[int]], num_new: int, leave_after: int | None = None
) -> tuple[list[list[int]], DecodeBatch]:
    """Prefill each prompt alone, merge, decode together; row 0 leaves after `leave_after`."""
    firsts, batches = zip(*(runner.prefill(ids) for ids in prompts), strict=True)
    batch: DecodeBatch = runner.merge(list(batches))
    tokens = [[int(first.argmax())] for first in firsts]
    rows = list(range(len(prompts)))
    for step in range(num_new - 1):
        if step == leave_after:
            batch, rows = runner.select(batch, rows[1:]), rows[1:]
        logits = runner.decode(batch, [tokens[row][-1] for row in rows])
        for i, row in enumerate(rows):
            tokens[row].append(int(logits[i].argmax()))
    return tokens, batch


def _body_tokens(batch: DecodeBatch) -> int:
    layer = batch.cache.layers[0]
    assert isinstance(layer, NQKVLayer) and layer.body_keys is not None
    return layer.body_keys.num_tokens


def test_fit_kinds_are_selectable_by_name() -> None:
    assert set(FIT_KV_CACHES) <= set(kv_cache_names())
    kind = get_kv_cache_kind("nqkv4_fit", residual_tokens=RESIDUAL)
    assert isinstance(kind, NQKVCacheKind) and kind.name == "nqkv4_fit"
    key_tail, value_tail = FITTED_TAILS[4]
    assert kind.info() == {
        "kv_variant": "fit",
        "kv_block_size": 32,
        "kv_residual_tokens": RESIDUAL,
        "kv_sink_tokens": 0,
        "kv_key_tail": key_tail,
        "kv_value_tail": value_tail,
    }
    assert get_kv_cache_kind("nqkv4").info()["kv_block_size"] == 64  # the paper's default
    assert get_kv_cache_kind("nqkv2_fit", key_tail=0.85).config.key_tail == 0.85


def test_bad_fit_options_are_clear_errors(embedded_engine: TransformersEngine) -> None:
    config = embedded_engine._runner.model_config
    with pytest.raises(ValueError, match="block_size 48 does not divide the model's head_dim 64"):
        get_kv_cache_kind("nqkv4_fit", block_size=48).check(config)
    with pytest.raises(ValueError, match=r"tail 0\.4 must be in"):
        get_kv_cache_kind("nqkv3_fit", value_tail=0.4)
    with pytest.raises(ValueError, match="unknown kv_cache 'nqkv5_fit'"):
        get_kv_cache_kind("nqkv5_fit")


def test_settings_accept_the_fit_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", "/nonexistent/config.toml")
    monkeypatch.delenv("HUIJIN_KV_BLOCK_SIZE", raising=False)
    assert load_settings(kv_cache="nqkv3_fit").kv_cache == "nqkv3_fit"
    assert load_settings().kv_block_size is None  # each kind's own: 64 paper, 32 fit


def test_merge_and_select_on_the_real_model_are_exact(embedded_engine: TransformersEngine) -> None:
    """Prefill caches, merge, select each row back: the stored tokens and bytes are unchanged."""
    kind = NQKVCacheKind(4, residual_tokens=RESIDUAL, variant="fit")
    runner = _runner(embedded_engine, kind)
    prompts = [_chat_ids(embedded_engine, text) for text in PROMPTS]
    solos = [runner.prefill(ids)[1] for ids in prompts]
    merged = runner.merge([runner.prefill(ids)[1] for ids in prompts])
    assert merged.is_padded
    for row, solo in enumerate(solos):
        alone = runner.select(merged, [row])
        assert torch.equal(alone.attention_mask, solo.attention_mask)
        for got, want in zip(kind.tensors(alone.cache), kind.tensors(solo.cache), strict=True):
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert kind.nbytes(alone.cache) == kind.nbytes(solo.cache)


def test_plain_path_reads_a_merged_cache_as_its_solo_rows(
    embedded_engine: TransformersEngine,
) -> None:
    """The transformers forward (the reference) with the merge's padded mask: until the batch
    next flushes a block, each row's logits are its solo run's up to float rounding."""
    runner = ModelRunner(
        embedded_engine._runner.model, NQKVCacheKind(4, residual_tokens=RESIDUAL, variant="fit")
    )
    prompts = [_chat_ids(embedded_engine, text) for text in PROMPTS]
    solo_logits = []
    for ids in prompts:
        logits, batch = runner.prefill(ids)
        solo_logits.append(runner.decode(batch, [int(logits.argmax())])[0])
    firsts, batches = zip(*(runner.prefill(ids) for ids in prompts), strict=True)
    merged = runner.merge(list(batches))
    logits = runner.decode(merged, [int(first.argmax()) for first in firsts])
    for row, want in enumerate(solo_logits):
        torch.testing.assert_close(logits[row], want, rtol=0, atol=1e-3)


def test_batched_greedy_matches_solo_through_a_flush_and_a_leave(
    embedded_engine: TransformersEngine,
) -> None:
    """10 tokens: the batch flushes a key block 3 steps in; the first row leaves after 5."""
    runner = _runner(embedded_engine, NQKVCacheKind(4, residual_tokens=RESIDUAL, variant="fit"))
    prompts = [_chat_ids(embedded_engine, text) for text in PROMPTS]
    want = _solo(runner, prompts[1], 10)
    got, batch = _batched(runner, prompts, 10, leave_after=5)
    assert got[1] == want
    assert _body_tokens(batch) == 64  # 32 at the merge, one block flushed since


NEAR_TIE = 0.25
"""Logit gap under which the batched row's other block alignment may pick the other token."""


@pytest.mark.slow  # 96 decode steps through a dequantizing cache: 110 s on 2 busy cores
def test_batched_greedy_matches_solo_for_32_tokens(embedded_engine: TransformersEngine) -> None:
    """Each batched row follows its solo run token for token; where they part (if they do), the
    solo run had a near tie there: the padded row quantizes other blocks, so a tie may flip, but
    a wrong merge would part where one token clearly led. Measured: one machine matched all 32
    tokens of both rows; another parted at row 1's token 31, where the solo run's choice led the
    batched one by 0.09."""
    runner = _runner(embedded_engine, NQKVCacheKind(4, residual_tokens=RESIDUAL, variant="fit"))
    prompts = [_chat_ids(embedded_engine, text) for text in PROMPTS]
    solo = [_solo_with_logits(runner, ids, 32) for ids in prompts]
    got, batch = _batched(runner, prompts, 32)
    for row, (want, logits) in enumerate(solo):
        parted = next(
            (i for i, (a, b) in enumerate(zip(got[row], want, strict=True)) if a != b), None
        )
        if parted is not None:
            gap = float(logits[parted][want[parted]] - logits[parted][got[row][parted]])
            assert parted >= 8 and gap < NEAR_TIE, (row, parted, gap)
    assert _body_tokens(batch) == 64  # a second key block went into the body after the merge


def _solo_with_logits(
    runner: ModelRunner, prompt_ids: list[int], num_new: int
) -> tuple[list[int], list[torch.Tensor]]:
    logits, batch = runner.prefill(prompt_ids)
    steps = [logits]
    tokens = [int(logits.argmax())]
    for _ in range(num_new - 1):
        steps.append(runner.decode(batch, [tokens[-1]])[0])
        tokens.append(int(steps[-1].argmax()))
    return tokens, steps


# -- the CLI, with the engine built from settings as a user gets it ----------------------------

# Long enough that the default 128-token window leaves a quantized body.
FILING = (
    "Net revenue for fiscal 2023 was $4.2 billion, up 12% from $3.75 billion in fiscal 2022, "
    "driven by higher volumes in the commercial segment and pricing actions taken in the second "
    "half. Gross margin improved to 41.3% from 39.8%, reflecting lower freight costs and a "
    "favorable product mix, partly offset by wage inflation. Operating expenses rose 7% to $1.1 "
    "billion as the company invested in sales capacity and its new enterprise software platform. "
    "Operating income was $633 million, or 15.1% of revenue, compared with $520 million, or 13.9% "
    "of revenue, a year earlier. Net interest expense fell to $41 million after the company repaid "
    "$300 million of its term loan in March. The effective tax rate was 23.5%. Diluted earnings "
    "per share were $3.12, compared with $2.47 in the prior year. Cash from operations was $702 "
    "million and capital expenditures were $188 million, so free cash flow was $514 million. "
)


def test_cli_generate_with_nqkv4_fit_matches_fp16(
    embedded_engine: TransformersEngine, monkeypatch: pytest.MonkeyPatch, huijin_cache_dir
) -> None:
    from app.cli import app
    from model.engine.types import SamplingParams

    question = FILING + "What was the free cash flow?"
    monkeypatch.setenv("HUIJIN_CACHE_DIR", str(huijin_cache_dir))
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", "/nonexistent/config.toml")
    monkeypatch.setenv("HUIJIN_KV_CACHE", "nqkv4_fit")
    result = CliRunner().invoke(app, ["generate", question, "--max-tokens", "8", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["usage"]["prompt_tokens"] > 128 + 32  # a key block left the window
    reference = embedded_engine.chat(
        [{"role": "user", "content": question}], params=SamplingParams(max_new_tokens=8)
    )
    assert payload["completion_ids"] == reference.completion_ids


def test_cli_unknown_fit_kind_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, huijin_cache_dir
) -> None:
    from app.cli import app

    monkeypatch.setenv("HUIJIN_CACHE_DIR", str(huijin_cache_dir))
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", "/nonexistent/config.toml")
    monkeypatch.setenv("HUIJIN_KV_CACHE", "nqkv5_fit")
    result = CliRunner().invoke(app, ["generate", "hi", "--max-tokens", "2"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "nqkv2_fit, nqkv3_fit, nqkv4_fit" in output and "Traceback" not in output


# -- with the engine config passing its kv_* options to the fit kinds --------------------------


def test_engine_config_passes_nqkv_options_to_the_fit_kinds() -> None:
    from model.engine.transformers_config import TransformersEngineConfig

    config = TransformersEngineConfig(kv_cache="nqkv4_fit", kv_residual_tokens=RESIDUAL)
    options = config.kv_cache_options()
    assert options == {"block_size": None, "residual_tokens": RESIDUAL, "sink_tokens": 0}
    info = get_kv_cache_kind(config.kv_cache, **options).info()
    assert (info["kv_block_size"], info["kv_residual_tokens"]) == (32, RESIDUAL)
    with pytest.raises(ValueError, match="block_size 1 is too small"):
        TransformersEngineConfig(kv_cache="nqkv4_fit", kv_block_size=1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HUIJIN_KV_CACHE": "nqkv4_fit", "HUIJIN_KV_BLOCK_SIZE": "48"}, "does not divide"),
        ({"HUIJIN_KV_CACHE": "nqkv3_fit", "HUIJIN_KV_SINK_TOKENS": "-1"}, "greater than or equal"),
    ],
)
def test_cli_bad_fit_settings_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, huijin_cache_dir, env: dict[str, str], message: str
) -> None:
    from app.cli import app

    monkeypatch.setenv("HUIJIN_CACHE_DIR", str(huijin_cache_dir))
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", "/nonexistent/config.toml")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["generate", "hi", "--max-tokens", "2"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich wraps long lines
    assert message in output and "Traceback" not in output


def test_cli_reports_the_fit_kinds_resolved_options(
    monkeypatch: pytest.MonkeyPatch, huijin_cache_dir
) -> None:
    from app.cli import app

    monkeypatch.setenv("HUIJIN_CACHE_DIR", str(huijin_cache_dir))
    monkeypatch.setenv("HUIJIN_CONFIG_FILE", "/nonexistent/config.toml")
    monkeypatch.setenv("HUIJIN_KV_CACHE", "nqkv4_fit")
    monkeypatch.setenv("HUIJIN_KV_RESIDUAL_TOKENS", str(RESIDUAL))
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["kv_cache"] == "nqkv4_fit" and info["kv_variant"] == "fit"
    assert (info["kv_block_size"], info["kv_residual_tokens"]) == (32, RESIDUAL)
