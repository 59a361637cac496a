"""An agent-mode run pins the date its prompts call 'today' when it starts, so the same run scores
the same on any day and a resumed run asks exactly what it asked before."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from core.settings import load_settings
from evals.api import EvalSession
from evals.runner import EvalConfig
from tools.market.snapshot import SnapshotProvider
from tools.tool import ToolContext


def tooluse_config(market_dir, **kwargs) -> EvalConfig:
    values = {"benchmark": "tooluse", "data": str(market_dir), "split": "dev", "limit": 1}
    return EvalConfig(**{**values, "mode": "agent", **kwargs})


def stored(evals: EvalSession, run_id: str) -> EvalConfig:
    return EvalConfig.from_run(evals.run(run_id).config)


def test_a_tooluse_run_pins_the_snapshots_last_day_and_its_agent_uses_it(
    tmp_path, market_dir, embedded_engine
):
    last_day = SnapshotProvider(market_dir).last_day()
    assert last_day is not None and last_day < date.today()
    settings = load_settings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with EvalSession(settings, engine=embedded_engine) as evals:
        config = stored(evals, evals.start(tooluse_config(market_dir)))
        assert config.today == last_day.isoformat()
        # What a resumed run (or the first execute) builds: the agent's prompt and its tools'
        # default dates are that day, not the real one.
        assistant = evals._solver(config).assistant
        assert assistant.runtime.today == last_day
        assert assistant.context.today() == last_day
        # A second run in the same session with another date gets an agent of its own.
        other = replace(config, today="2025-01-02")
        assert evals._solver(other).assistant.runtime.today == date(2025, 1, 2)


def test_the_today_setting_wins_and_other_runs_pin_the_day_they_start(
    tmp_path, market_dir, samples
):
    pinned = load_settings(data_dir=tmp_path, today="2024-06-28")
    with EvalSession(pinned) as evals:
        assert stored(evals, evals.start(tooluse_config(market_dir))).today == "2024-06-28"
    assert ToolContext(pinned).today() == date(2024, 6, 28)

    gsm8k = {"benchmark": "gsm8k", "data": str(samples / "gsm8k_sample.jsonl"), "split": "test"}
    with EvalSession(load_settings(data_dir=tmp_path / "other")) as evals:
        agent_run = evals.start(EvalConfig(**gsm8k, mode="agent"))
        assert stored(evals, agent_run).today == date.today().isoformat()
        direct_run = evals.start(EvalConfig(**gsm8k))
        assert stored(evals, direct_run).today == ""  # only the agent's prompt has a date
