from __future__ import annotations

import io

import pytest

from core.trajectory import (
    ModelTurnRecord,
    ToolCallRecordModel,
    TrajectoryNotFound,
    TrajectoryRecord,
    TrajectoryStore,
)


def make_record(run_id: str | None = None, question: str = "How did NVDA do?") -> TrajectoryRecord:
    return TrajectoryRecord(
        run_id=run_id,
        thread_id="thread-1",
        model_id="SmolLM2-135M-Instruct",
        question=question,
        final_answer="NVDA returned 12.5%.",
        stop_reason="final_answer",
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "returns"}]},
            {"role": "tool", "content": "12.5%"},
            {"role": "assistant", "content": "NVDA returned 12.5%."},
        ],
        settings={"temperature": 0.0},
        timings={"total_s": 1.5},
        extra={"split": "dev"},
        turns=[
            ModelTurnRecord(
                turn_index=0,
                prompt_ids=[1, 2, 3],
                completion_ids=[4, 5],
                logprobs=[-0.1, -0.2],
                text="<tool_call>",
                finish_reason="tool_calls",
                tokenizer_fingerprint="abc",
            ),
            ModelTurnRecord(
                turn_index=1,
                prompt_ids=[1, 2, 3, 4, 5, 6],
                completion_ids=[7],
                logprobs=[-0.3],
                text="NVDA returned 12.5%.",
                finish_reason="stop",
            ),
        ],
        tool_calls=[
            ToolCallRecordModel(
                turn_index=0,
                name="returns",
                arguments={"ticker": "NVDA"},
                result="12.5%",
                duration_s=0.01,
            ),
        ],
    )


def test_save_get_round_trip(database):
    store = TrajectoryStore(database)
    run_id = store.create_run("eval", name="smoke")
    record = make_record(run_id)
    store.save(record)
    loaded = store.get(record.id)
    assert loaded.model_dump(exclude={"created_at"}) == record.model_dump(exclude={"created_at"})
    assert store.get(record.id[:8]).id == record.id


def test_list_filters_by_run_and_counts_turns(database):
    store = TrajectoryStore(database)
    run_a, run_b = store.create_run("eval"), store.create_run("collect")
    store.save(make_record(run_a, "a"))
    store.save(make_record(run_b, "b"))
    store.save(make_record(run_b, "c"))
    summaries = store.list(run_id=run_b)
    assert {s.question for s in summaries} == {"b", "c"}
    assert all(s.num_turns == 2 for s in summaries)
    assert len(store.list()) == 3


def test_reward_and_jsonl_export_round_trip(database):
    store = TrajectoryStore(database)
    record = make_record()
    store.save(record)
    store.set_reward(record.id, 1.0, {"outcome": 1.0, "format": 0.0})
    buffer = io.StringIO()
    assert store.export_jsonl(buffer) == 1
    exported = TrajectoryRecord.model_validate_json(buffer.getvalue().strip())
    assert exported.reward == 1.0
    assert exported.reward_terms == {"outcome": 1.0, "format": 0.0}
    assert exported.turns[0].completion_ids == [4, 5]


def test_saving_again_replaces(database):
    store = TrajectoryStore(database)
    record = make_record()
    store.save(record)
    record.final_answer = "changed"
    store.save(record)
    assert store.get(record.id).final_answer == "changed"
    assert len(store.list()) == 1


def test_misaligned_logprobs_are_refused(sqlite_db):
    record = make_record()
    record.turns[0].logprobs = [-0.1]
    with pytest.raises(ValueError, match="1 logprobs for 2 completion ids"):
        TrajectoryStore(sqlite_db).save(record)


def test_unknown_id(sqlite_db):
    with pytest.raises(TrajectoryNotFound):
        TrajectoryStore(sqlite_db).get("doesnotexist")
