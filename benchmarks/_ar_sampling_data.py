"""The problems benchmarks/ar_sampling.py runs, and how an answer to one is scored.

Three datasets, each through the project's own loader and scorer (evals/), so a number here means
what `huijin eval run --method ar` would count:
  - gsm8k: the first K problems of GSM8K's train split, in file order (the issue's "test-format
    problems from the train split"; the test split stays unseen);
  - finqa: FinQA's dev file when there is one, else its test file (the only FinQA file in
    ../shared/data is finqa/derived_my_Fin_Skill/finqa_test.json, and the table title says so),
    in a fixed order shuffled by the seed, so the first K are an unbiased sample and a larger K
    extends a smaller run instead of replacing it;
  - tooluse: the tool-use suite's questions whose every input is in the question and whose answer
    is a computed number (the cash-flow templates below), of its dev split, in the same seeded
    order. The suite has no "arithmetic" category; the market templates are left out because
    their inputs are prices the model cannot see without tools.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks import default_data_path, load_benchmark
from evals.example import Example
from evals.scorers import Score, final_answer, score_example
from evals.solvers import reasoning_reply
from model.reasoning import ReasoningResult

DATASETS = ("gsm8k", "finqa", "tooluse")
# Templates of evals/suites/templates.py whose numbers are all in the question (NPV, IRR, loans,
# savings); the rest ask about market data only the tools can read.
TOOLUSE_ARITHMETIC = ("npv", "irr", "loan_payment", "loan_interest", "savings_fv")
TOOLUSE_SPLIT = "dev"
# The suite is generated from the snapshot and a seed; 0 is the suite everyone else uses (the
# training loop's train/dev/test split), so "dev" here is that dev split.
TOOLUSE_SUITE_SEED = 0
# How each dataset is scored, in the words the table uses.
SCORERS = {
    "gsm8k": "evals/scorers/gsm8k.py (the final number equals the gold number)",
    "finqa": (
        "evals/scorers/finqa.py (execution accuracy: the answer's number matches the gold with "
        "FinQA's rounding and percent/decimal conventions)"
    ),
    "tooluse": (
        "evals/scorers/tooluse.py on the answer line (the number matches the gold within the "
        "template's tolerance)"
    ),
}


@dataclass(frozen=True)
class ProblemSet:
    """The chosen problems, in run order, and the words the table title uses for them."""

    dataset: str
    split: str
    source: str  # the file (or snapshot directory) they were read from
    title: str
    problems: list[Example]
    num_available: int  # how many the source has (FinQA's test file: 100; tool-use dev: 15)


def load_problems(
    dataset: str, num_problems: int, seed: int, data_dir: Path, market_dir: Path | None
) -> ProblemSet:
    """The first `num_problems` problems of `dataset` in its fixed order; raises
    FileNotFoundError (with the flag to pass) when the data is not where it should be."""
    if dataset == "gsm8k":
        path = _benchmark_file("gsm8k", "train", data_dir)
        examples = load_benchmark("gsm8k", path, "train")
        title = "GSM8K (train split, in file order)"
        return ProblemSet(
            dataset, "train", str(path), title, examples[:num_problems], len(examples)
        )
    if dataset == "finqa":
        has_dev = default_data_path("finqa", "dev", data_dir) is not None
        split = "dev" if has_dev else "test"
        path = _benchmark_file("finqa", split, data_dir)
        title = (
            "FinQA (dev split)" if has_dev else "FinQA (test file; no dev split is available here)"
        )
        examples = load_benchmark("finqa", path, split)
        problems = seeded_order(examples, seed)[:num_problems]
        return ProblemSet(dataset, split, str(path), title, problems, len(examples))
    if dataset == "tooluse":
        if market_dir is None or not Path(market_dir).is_dir():
            raise FileNotFoundError(
                f"market snapshot {market_dir} not found; pass --market-dir or set "
                "HUIJIN_MARKET_SNAPSHOT (the tool-use suite is generated from it)"
            )
        suite = load_benchmark("tooluse", market_dir, TOOLUSE_SPLIT, seed=TOOLUSE_SUITE_SEED)
        chosen = [e for e in suite if e.metadata.get("template") in TOOLUSE_ARITHMETIC]
        title = (
            f"tool-use suite, arithmetic questions ({TOOLUSE_SPLIT} split, templates "
            f"{', '.join(TOOLUSE_ARITHMETIC)}; no tools, the numbers are in the question)"
        )
        problems = seeded_order(chosen, seed)[:num_problems]
        return ProblemSet(dataset, TOOLUSE_SPLIT, str(market_dir), title, problems, len(chosen))
    raise ValueError(f"unknown --dataset {dataset!r}; choose from {', '.join(DATASETS)}")


def seeded_order(examples: list[Example], seed: int) -> list[Example]:
    """`examples` shuffled by `seed`: every prefix is a random sample, and a longer prefix
    contains a shorter one, so a run can be extended without redoing anything."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [examples[i] for i in order]


def score_result(example: Example, result: ReasoningResult) -> Score:
    """The example's own scorer on the reply `huijin eval run --method ...` would score.

    The tool-use scorer accepts an answer when *any* number in it is the gold (made for agent
    answers that quote tool lines); on a worked solution that would count intermediate numbers
    ("12 months" reads as an IRR of 12 %), so it is given the answer line only.
    """
    reply = reasoning_reply(result)
    if example.benchmark == "tooluse":
        reply = final_answer(reply)
    return score_example(example, reply)


def _benchmark_file(name: str, split: str, data_dir: Path) -> Path:
    path = default_data_path(name, split, data_dir)
    if path is None:
        raise FileNotFoundError(
            f"no {name} {split} file under {data_dir}; pass --data-dir or set "
            "HUIJIN_BENCHMARKS_DIR (../shared/data/benchmarks)"
        )
    return path
