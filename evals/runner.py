"""The batch runner: solve, score and store every example of a run with bounded concurrency.

    run_id = create_run(store, config, examples)      # chooses the examples, records the run
    EvalRunner(store, solver).execute(run_id, examples, concurrency, seed, on_result)
    # ... and again later with the same run id: it redoes nothing finished

Workers are threads: the transformers engine batches concurrent requests on its own, and an
OpenAI-compatible server gets parallel requests. Each finished example is committed with its
trajectory at once, so a crash or Ctrl-C loses only what was in flight; `resume` picks up the
rest. The examples of a run are fixed when it is created (a seeded sample when --limit is below
the file's size) and stored in the run's config, so a resumed run is the same run.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from core.db.eval_models import EvalResult
from evals.example import Example
from evals.prompts import Mode
from evals.scorers import LlmJudge, Score, score_example
from evals.solvers import Attempt, Solver
from evals.store import EvalStore
from model.engine.types import EngineError
from model.reasoning import Method, ReasoningConfig
from model.reasoning.config import NEEDS_PRM
from model.reasoning.prm_factory import parse_prm_spec


@dataclass(frozen=True)
class EvalConfig:
    """Everything that defines a run; stored with it so `--resume` rebuilds the same run."""

    benchmark: str
    data: str
    split: str
    mode: str = Mode.DIRECT.value
    limit: int | None = None
    concurrency: int = 1
    seed: int = 0
    # Episodes per example: 1 for an eval; G for a rollout collection (GRPO groups), where each
    # example runs G times as `<id>#<k>` and its trajectories share extra["group_id"] = <id>.
    group: int = 1
    # The run's kind: "eval", or "collect" for training rollouts (`huijin train collect`).
    kind: str = "eval"
    max_new_tokens: int = 256
    temperature: float = 0.0
    judge: bool = False
    model: str = ""
    backend: str = ""
    # Reason mode only: the model.reasoning method, its PRM spec, N, p and m.
    method: str | None = None
    prm: str | None = None
    num_samples: int = 1
    threshold: float = 0.4
    max_rethinks: int = 1
    # Agent mode: the ISO date the agent's "today" is; EvalSession.start pins it ("" in runs
    # stored before it existed: the real date).
    today: str = ""

    def __post_init__(self) -> None:
        if self.mode not in {m.value for m in Mode}:
            raise ValueError(
                f"mode must be one of {', '.join(m.value for m in Mode)} (got {self.mode!r})"
            )
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.group < 1:
            raise ValueError("group must be at least 1 (episodes per example)")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1 (leave it out for every example)")
        if (self.mode == Mode.REASON) != (self.method is not None):
            raise ValueError(
                "a reasoning method runs in mode reason: give --method (greedy, sc, bon, "
                "weighted or ar) and leave --mode out"
            )
        if self.method is not None:
            self.reasoning_config()  # raises on a bad method, N, p or m
            if self.prm is not None:
                parse_prm_spec(self.prm)  # a typo fails here, before any model loads
            elif Method(self.method) in NEEDS_PRM:
                raise ValueError(
                    f"method {self.method} needs a PRM: add --prm verifier (or judge, or the path "
                    "of a PRM checkpoint)"
                )

    def reasoning_config(self) -> ReasoningConfig:
        """The `reason()` config of a reason-mode run (the runner seeds each example itself)."""
        if self.method is None:
            raise ValueError(f"mode {self.mode} runs no reasoning method")
        return ReasoningConfig(
            method=self.method,
            num_samples=self.num_samples,
            threshold=self.threshold,
            max_rethinks=self.max_rethinks,
            temperature=self.temperature,
            max_tokens=self.max_new_tokens,
        )

    @classmethod
    def from_run(cls, config: dict[str, Any]) -> EvalConfig:
        return cls(**{k: config[k] for k in cls.__dataclass_fields__ if k in config})


@dataclass(frozen=True)
class Finished:
    """What the progress display hears about each finished example."""

    example_id: str
    correct: bool
    score: float
    error: str


def select_examples(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """All examples, or a seeded sample of `limit` of them kept in file order."""
    if limit is None or limit >= len(examples):
        return list(examples)
    chosen = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in chosen]


def category_of(example: Example) -> str:
    """The breakdown a report groups this example under."""
    meta = example.metadata
    if example.benchmark == "tooluse":
        return str(meta.get("template", ""))
    if example.benchmark == "tatqa":
        return f"{meta.get('answer_type', '')}/{meta.get('answer_from', '')}"
    if example.benchmark == "math500":
        return str(meta.get("subject", ""))
    if example.benchmark == "financebench":
        return str(meta.get("question_type", ""))
    if example.benchmark == "convfinqa":
        return f"turn {meta.get('turn', 0)}"
    return example.answer_type.value


def create_run(
    store: EvalStore, config: EvalConfig, examples: list[Example], name: str = ""
) -> str:
    """Record a run over the chosen examples (their ids fix the run for `--resume`)."""
    chosen = select_examples(examples, config.limit, config.seed)
    if not chosen:
        raise ValueError(f"no examples in split {config.split!r} of {config.data}")
    run_config = {
        **asdict(config),
        "num_examples": len(chosen) * config.group,
        "example_ids": [e.id for e in chosen],
    }
    how = config.method or config.mode
    name = name or f"{config.benchmark}/{config.split} {how}"
    return store.create_run(name, run_config, kind=config.kind)


class EvalRunner:
    def __init__(self, store: EvalStore, solver: Solver, judge: LlmJudge | None = None) -> None:
        self.store, self.solver, self.judge = store, solver, judge
        self._stop = threading.Event()

    @staticmethod
    def run_examples(run_config: dict[str, Any], examples: list[Example]) -> list[Example]:
        """The run's examples, in its order, from a fresh load of its data."""
        by_id = {e.id: e for e in examples}
        missing = [i for i in run_config["example_ids"] if i not in by_id]
        if missing:
            raise ValueError(
                f"{len(missing)} of the run's examples are not in {run_config['data']} any more "
                f"(e.g. {missing[0]!r}); the data changed since the run started"
            )
        chosen = [by_id[i] for i in run_config["example_ids"]]
        group = int(run_config.get("group", 1))
        if group == 1:
            return chosen
        return [
            e.model_copy(update={"id": f"{e.id}#{k}", "metadata": {**e.metadata, "group_id": e.id}})
            for e in chosen
            for k in range(group)
        ]

    def execute(
        self,
        run_id: str,
        examples: list[Example],
        concurrency: int,
        seed: int,
        on_result: Callable[[Finished], None] | None = None,
    ) -> int:
        """Solve every example without a stored result; returns how many were done now."""
        done = self.store.finished_ids(run_id)
        todo = [(i, e) for i, e in enumerate(examples) if e.id not in done]
        count = 0
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval") as pool:
            pending: set[Future[Finished]] = set()
            queue = iter(todo)
            try:
                while True:
                    while len(pending) < concurrency and not self._stop.is_set():
                        item = next(queue, None)
                        if item is None:
                            break
                        index, example = item
                        pending.add(pool.submit(self._one, run_id, index, example, seed + index))
                    if not pending:
                        return count
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        outcome = future.result()  # an EngineError aborts the run here
                        count += 1
                        if on_result is not None:
                            on_result(outcome)
            except BaseException:
                # Ctrl-C or an engine failure: start nothing new; what is in flight finishes
                # and is stored when the pool closes, so nothing done is lost.
                self._stop.set()
                raise

    def _one(self, run_id: str, index: int, example: Example, seed: int) -> Finished:
        error = ""
        try:
            attempt = self.solver.solve(example, seed)
        except EngineError:
            raise
        except Exception as exc:  # one bad example must not end the run; it is recorded
            attempt = Attempt(reply="", stop_reason="error", duration_s=0.0, num_steps=0)
            error = f"{type(exc).__name__}: {exc}"
        score = (
            score_example(example, attempt.reply, tool_calls=attempt.tool_calls, judge=self.judge)
            if not error
            else Score(False, 0.0, "error")
        )
        self.store.save_result(*self._records(run_id, index, example, attempt, score, error))
        return Finished(example.id, score.correct, score.value, error)

    def _records(
        self, run_id: str, index: int, example: Example, attempt: Attempt, score: Score, error: str
    ) -> tuple[EvalResult, dict[str, Any], Any]:
        extra = {
            "benchmark": example.benchmark,
            "example_id": example.id,
            "group_id": example.metadata.get("group_id", example.id),
            "split": example.split,
            "gold": example.gold,
            "mode": self.solver.mode.value,
        }
        terms = {
            "correct": score.correct,
            "score": score.value,
            "method": score.method,
            "extra": extra,
        }
        trajectory = attempt.trajectory
        if trajectory is not None:
            trajectory.run_id = run_id
            trajectory.reward = score.value
            trajectory.reward_terms = terms
            trajectory.extra = {**trajectory.extra, **extra}
        num_tool_errors = sum(1 for call in attempt.tool_calls if call.get("is_error"))
        result = EvalResult(
            run_id=run_id,
            example_id=example.id,
            example_index=index,
            split=example.split,
            trajectory_id=attempt.trajectory_id,
            question=example.question,
            gold=example.gold,
            reply=attempt.reply,
            extracted=score.extracted,
            correct=score.correct,
            score=score.value,
            method=score.method,
            answer_type=example.answer_type.value,
            num_steps=attempt.num_steps,
            num_tool_calls=len(attempt.tool_calls),
            num_tool_errors=num_tool_errors,
            stop_reason=attempt.stop_reason,
            error=error,
            duration_s=attempt.duration_s,
            details={
                **_jsonable(score.details),
                **_jsonable(attempt.details),
                "category": category_of(example),
                "expected_tools": example.expected_tools,
            },
        )
        return result, terms, trajectory


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
