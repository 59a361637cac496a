"""Loaders read each published format and point at the line of a broken file."""

from __future__ import annotations

import json

import pytest

from evals.benchmarks import BenchmarkFormatError, load_benchmark
from evals.example import AnswerType


def test_finqa_original_format(samples):
    examples = load_benchmark("finqa", samples / "finqa_sample.json", "test")
    assert [e.id for e in examples] == [
        "ACME/2019/page_12.pdf-1",
        "ACME/2019/page_13.pdf-2",
        "ACME/2019/page_14.pdf-3",
    ]
    first = examples[0]
    assert first.gold_value == 0.25 and first.program.startswith("subtract")
    assert first.context_table[1] == ["net revenue", "$ 1,250", "$ 1,000"]
    assert "acme corp" in first.context_text and first.split == "test"
    assert examples[1].answer_type is AnswerType.BOOLEAN and examples[1].gold == "yes"


def test_convfinqa_conversation_becomes_turns_with_gold_history(samples):
    turns = load_benchmark("convfinqa", samples / "convfinqa_sample.json", "dev")
    assert [t.id for t in turns][-1] == "Single_ACME/2019/page_20.pdf-1#3"
    last = turns[-1]
    assert last.history == [
        ("what were dividends per share in 2019?", "1.2"),
        ("and in 2018?", "1"),
        ("what was the change?", "0.2"),
    ]
    assert last.gold_value == 0.2 and last.program.endswith("divide(#0, 1.00)")


def test_tatqa_answers_types_and_scales(samples):
    examples = {e.id: e for e in load_benchmark("tatqa", samples / "tatqa_sample.json", "dev")}
    assert examples["q1"].scale == "million" and examples["q1"].answer_type is AnswerType.SPAN
    assert examples["q2"].gold_value == -22.22 and examples["q2"].answer_type is AnswerType.NUMBER
    assert examples["q3"].gold_spans == ["Germany", "Japan"]
    assert examples["q4"].answer_type is AnswerType.COUNT
    # Paragraphs are joined in their `order`, not file order.
    assert examples["q1"].context_text.startswith("All amounts are in millions.")


def test_financebench_numeric_and_free_text(samples):
    numeric, free = load_benchmark("financebench", samples / "financebench_sample.jsonl", "test")
    assert numeric.gold_value == 1577.0 and numeric.answer_type is AnswerType.NUMBER
    assert "1,577" in numeric.context_text
    assert free.gold_value is None and free.answer_type is AnswerType.FREE_TEXT


def test_gsm8k_and_math500(samples):
    gsm = load_benchmark("gsm8k", samples / "gsm8k_sample.jsonl", "test")
    assert [e.gold_value for e in gsm] == [36.0, 1000.0, 4.5]
    maths = load_benchmark("math500", samples / "math500_sample.jsonl", "test")
    assert maths[0].gold == "\\frac{5}{6}" and maths[0].metadata["subject"] == "Prealgebra"


def test_truncated_json_names_the_line(samples, tmp_path):
    text = (samples / "finqa_sample.json").read_text()
    broken = tmp_path / "test.json"
    broken.write_text(text[: len(text) // 2])
    with pytest.raises(BenchmarkFormatError, match=r"test\.json:\d+:\d+: the file ends early"):
        load_benchmark("finqa", broken, "test")


def test_truncated_jsonl_names_the_line(samples, tmp_path):
    lines = (samples / "gsm8k_sample.jsonl").read_text().splitlines()
    broken = tmp_path / "test.jsonl"
    broken.write_text("\n".join([*lines[:2], lines[2][:30]]))
    with pytest.raises(
        BenchmarkFormatError, match=r"test\.jsonl:3: not valid JSON \(the line ends early"
    ):
        load_benchmark("gsm8k", broken, "test")


def test_missing_field_names_the_item_line_and_field(samples, tmp_path):
    items = json.loads((samples / "finqa_sample.json").read_text())
    del items[2]["qa"]["question"]
    broken = tmp_path / "test.json"
    broken.write_text(json.dumps(items, indent=2))
    with pytest.raises(BenchmarkFormatError) as error:
        load_benchmark("finqa", broken, "test")
    lines = broken.read_text().splitlines()
    third_item = [number for number, text in enumerate(lines, 1) if text == "  {"][2]
    assert f"test.json:{third_item} (item 2)" in str(error.value)
    assert "'question' is missing" in str(error.value)


def test_gsm8k_answer_without_final_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "answer": "no marker here"}\n')
    with pytest.raises(BenchmarkFormatError, match=r"bad\.jsonl:1: the answer has no '####"):
        load_benchmark("gsm8k", path, "test")


def test_wrong_file_for_the_benchmark(samples):
    with pytest.raises(BenchmarkFormatError, match=r"tatqa_sample\.json:2 \(item 0\): field"):
        load_benchmark("convfinqa", samples / "tatqa_sample.json", "dev")


def test_tatqa_public_test_file_without_answers_is_refused(tmp_path):
    path = tmp_path / "tatqa_dataset_test.json"
    path.write_text(
        json.dumps(
            [
                {
                    "table": {"table": [["a"]]},
                    "paragraphs": [],
                    "questions": [{"uid": "u", "question": "q"}],
                }
            ]
        )
    )
    with pytest.raises(BenchmarkFormatError, match="test_gold"):
        load_benchmark("tatqa", path, "test")


def test_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        load_benchmark("gsm8k", tmp_path / "nope.jsonl", "test")


@pytest.mark.parametrize(
    ("name", "relative", "split", "count"),
    [
        ("finqa", "finqa/derived_my_Fin_Skill/finqa_test.json", "test", 100),
        (
            "convfinqa",
            "convfinqa/derived_JoyMurmur_finqa-agent/convfinqa_dataset.json",
            "dev",
            1490,
        ),
        ("convfinqa", "convfinqa/derived_Program-of-Thoughts/convfinqa_dev.json", "dev", 421),
        ("tatqa", "tatqa/tatqa_dataset_dev.json", "dev", 1668),
        ("tatqa", "tatqa/tatqa_dataset_test_gold.json", "test", 1663),
        ("financebench", "financebench/financebench_open_source.jsonl", "test", 150),
        ("gsm8k", "gsm8k/test.jsonl", "test", 1319),
        ("math500", "math500/test.jsonl", "test", 500),
    ],
)
def test_real_files_load_completely(benchmarks_dir, name, relative, split, count):
    examples = load_benchmark(name, benchmarks_dir / relative, split)
    assert len(examples) == count
    assert len({e.id for e in examples}) == count  # ids are unique: resume relies on it
