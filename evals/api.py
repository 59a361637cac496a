"""The evals' public API, used by the CLI (and by benchmarks/ scripts):

    with EvalSession(settings) as evals:
        run_id = evals.start(EvalConfig(benchmark="gsm8k", data="...", split="test", limit=50))
        evals.execute(run_id, on_result=print)        # resumable: call again after a crash
        evals.report([run_id], Path("report/"))

The session owns one database and, when a run needs one, one engine (or the one passed in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

from core.db.session import Database, open_database
from core.settings import Settings
from evals.benchmarks import DEFAULT_SPLIT, default_data_path, load_benchmark
from evals.benchmarks.hub import fetch_hub_file, is_hub_spec
from evals.example import Example
from evals.prompts import Mode
from evals.report import write_report
from evals.runner import EvalConfig, EvalRunner, Finished, create_run
from evals.scorers import LlmJudge
from evals.solvers import AgentSolver, EngineSolver, ReasoningSolver, Solver
from evals.store import EvalStore, RunSummary
from model.engine.types import ChatEngine


def resolve_data(
    settings: Settings, benchmark: str, split: str | None, data: Path | None
) -> tuple[Path, str]:
    """The data path and split a run uses: given ones, else the defaults under the settings."""
    split = split or DEFAULT_SPLIT.get(benchmark, "test")
    if data is not None and is_hub_spec(data):
        return fetch_hub_file(data), split
    if data is not None:
        return data, split
    if benchmark == "tooluse":
        if settings.market_snapshot is None:
            raise FileNotFoundError(
                "the tool-use suite is built from the market snapshot: set HUIJIN_MARKET_SNAPSHOT "
                "or pass --data DIR"
            )
        return settings.market_snapshot, split
    found = default_data_path(benchmark, split, settings.benchmarks_dir)
    if found is None:
        where = settings.benchmarks_dir or "HUIJIN_BENCHMARKS_DIR (unset)"
        raise FileNotFoundError(
            f"no {benchmark} {split} file found under {where}; pass --data PATH"
        )
    return found, split


class EvalSession:
    def __init__(
        self,
        settings: Settings,
        engine: ChatEngine | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self._engine = engine
        self._owns_engine = engine is None
        self._owns_database = database is None
        self.database = database or open_database(settings.resolved_database_url())
        self.store = EvalStore(self.database)
        self._assistant: Any = None
        self._prms: dict[str, Any] = {}  # PRM spec -> loaded PRM, one per session

    # -- runs ----------------------------------------------------------------------------------

    def load(self, config: EvalConfig) -> list[Example]:
        return load_benchmark(config.benchmark, Path(config.data), config.split, seed=config.seed)

    def start(self, config: EvalConfig, name: str = "") -> str:
        """Record a new run over the chosen examples; nothing is solved yet."""
        if config.mode == Mode.AGENT and not config.today:
            config = replace(config, today=self._pinned_today(config).isoformat())
        return create_run(self.store, config, self.load(config), name)

    def _pinned_today(self, config: EvalConfig) -> date:
        """The agent's 'today' for a new run: the date is in its prompt, so a run left to float
        would score differently from one day to the next and change when resumed."""
        if self.settings.today is not None:
            return self.settings.today
        if config.benchmark == "tooluse":
            from tools.market.snapshot import SnapshotProvider

            last_day = SnapshotProvider(Path(config.data)).last_day()
            if last_day is not None:
                return last_day
        return date.today()

    def execute(self, run_id: str, on_result: Callable[[Finished], None] | None = None) -> int:
        """Solve, score and store every example of the run that has no result yet."""
        summary = self.store.run(run_id)
        config = EvalConfig.from_run(summary.config)
        examples = EvalRunner.run_examples(summary.config, self.load(config))
        runner = EvalRunner(self.store, self._solver(config), self._judge(config))
        return runner.execute(summary.id, examples, config.concurrency, config.seed, on_result)

    def run(self, run_id: str) -> RunSummary:
        return self.store.run(run_id)

    def runs(self, limit: int = 50) -> list[RunSummary]:
        return self.store.runs(limit)

    def report(self, run_ids: list[str], out_dir: Path) -> dict[str, Path]:
        return write_report(self.store, run_ids, out_dir)

    # -- what solves -----------------------------------------------------------------------------

    @property
    def engine(self) -> ChatEngine:
        if self._engine is None:
            from model.engine.factory import create_engine

            self._engine = create_engine(self.settings)
        return self._engine

    def _solver(self, config: EvalConfig) -> Solver:
        mode = Mode(config.mode)
        if mode is Mode.REASON:
            prm = self._prm(config.prm) if config.prm else None
            return ReasoningSolver(self.engine, config.reasoning_config(), prm, config.prm)
        if mode is not Mode.AGENT:
            return EngineSolver(self.engine, mode, config.max_new_tokens, config.temperature)
        # The run's own temperature (a collect run samples) and date, so a resumed run is the
        # same run.
        update: dict[str, Any] = {"temperature": config.temperature}
        if config.today:
            update["today"] = date.fromisoformat(config.today)
        if config.benchmark == "tooluse":
            # Gold answers come from the snapshot: the agent must read the same data.
            update |= {"market_live": False, "market_snapshot": Path(config.data)}
        settings = self.settings.model_copy(update=update)
        if self._assistant is None or self._assistant.settings != settings:
            from agent.api import Assistant

            if self._assistant is not None:
                self._assistant.close()
            self._assistant = Assistant(settings, engine=self.engine)
        return AgentSolver(self._assistant)

    def _prm(self, spec: str) -> Any:  # model.reasoning.ProcessRewardModel
        if spec not in self._prms:
            from model.reasoning import load_prm

            self._prms[spec] = load_prm(spec, engine=self.engine, device=self.settings.device)
        return self._prms[spec]

    def _judge(self, config: EvalConfig) -> LlmJudge | None:
        return LlmJudge(self.engine) if config.judge else None

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._assistant is not None:
            self._assistant.close()
        if self._owns_engine and self._engine is not None:
            self._engine.close()
        if self._owns_database:
            self.database.close()

    def __enter__(self) -> EvalSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
