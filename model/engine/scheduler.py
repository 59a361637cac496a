"""The scheduler thread: one model, many callers, continuous batching.

Callers on any thread put a `Sequence` into the inbox and wait on that sequence's own event queue;
nobody ever holds a lock around generation. The scheduler thread loops:

1. admit: take waiting sequences while the batch has room (blocking only when idle), prefill
   them (prompts of similar length in one forward), sample first tokens, merge into the batch;
2. decode: one forward step for every running row, sample, record, and stream deltas;
3. retire: finished or cancelled rows are answered and selected out of the batch.

So a request arriving mid-generation joins at the next step instead of waiting for the batch to
drain. Failures stay local: a prefill that fails fails its own group, a failing decode step
fails the rows in that step, and the thread keeps serving.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from dataclasses import dataclass

from model.engine.runner import DecodeBatch, ModelRunner
from model.engine.sampling import SampledTokens, sample_batch
from model.engine.sequence import Detokenizer, Sequence, SequenceStatus
from model.engine.types import EngineError, FinishReason, StreamEvent

logger = logging.getLogger(__name__)

_IDLE_POLL_S = 0.5  # how often an idle scheduler re-checks for shutdown
# Prompts share a prefill forward while the padded group stays within these bounds: the padding
# costs compute and the masked attention scores grow with rows x tokens^2.
MAX_PREFILL_TOKENS = 4096
MAX_PADDING_RATIO = 1.25


def group_for_prefill(seqs: list[Sequence]) -> list[list[Sequence]]:
    """Split newcomers into groups of similar prompt length that are prefilled together."""
    groups: list[list[Sequence]] = []
    current: list[Sequence] = []
    for seq in sorted(seqs, key=lambda s: len(s.prompt_ids)):
        candidate = [*current, seq]
        padded = len(seq.prompt_ids) * len(candidate)  # sorted: this one is the longest
        real = sum(len(s.prompt_ids) for s in candidate)
        if current and (padded > MAX_PREFILL_TOKENS or padded > MAX_PADDING_RATIO * real):
            groups.append(current)
            candidate = [seq]
        current = candidate
    if current:
        groups.append(current)
    return groups


@dataclass
class SchedulerStats:
    """Counters a benchmark or a test reads to see what the scheduler actually did."""

    num_prefills: int = 0
    num_decode_steps: int = 0
    num_decode_tokens: int = 0
    max_batch_size_seen: int = 0
    num_batched_steps: int = 0  # decode steps that ran more than one row
    num_failed: int = 0
    prefill_s: float = 0.0  # wall time in prefill (forward + first-token sampling)
    decode_s: float = 0.0  # wall time in decode steps (forward + sampling + bookkeeping)


def _close_at_exit(ref: weakref.ReferenceType[Scheduler]) -> None:
    scheduler = ref()
    if scheduler is not None:
        scheduler.close(timeout=5.0)


class Scheduler:
    """Owns the model runner on a dedicated daemon thread."""

    def __init__(self, runner: ModelRunner, detok: Detokenizer, max_batch_size: int = 16) -> None:
        self.runner = runner
        self.detok = detok
        self.max_batch_size = max_batch_size
        self.stats = SchedulerStats()
        self._inbox: queue.Queue[Sequence | None] = queue.Queue()
        self._running: list[Sequence] = []
        self._batch: DecodeBatch | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="huijin-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()
        # A script that never calls close() must still exit cleanly: a daemon thread left in
        # torch at interpreter shutdown aborts the process ("terminate called ...", rc 134).
        atexit.register(_close_at_exit, weakref.ref(self))

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, seq: Sequence) -> None:
        """Queue `seq`; its answer arrives on `seq.events`."""
        if self._closed.is_set():
            raise EngineError("the engine is closed; create a new engine to generate")
        self._inbox.put(seq)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread; running and waiting requests finish with FinishReason.ABORT."""
        self._closed.set()
        self._inbox.put(None)  # wake an idle loop
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- the loop (scheduler thread only) ---------------------------------------------------

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._admit(block=not self._running)
                if self._running and not self._closed.is_set():
                    self._decode_step()
            except Exception as exc:  # a bug of ours: answer everyone, keep serving
                logger.exception("scheduler step failed")
                self._fail_running(exc)
        self._abort_all()

    def _admit(self, block: bool) -> None:
        newcomers: list[Sequence] = []
        room = self.max_batch_size - len(self._running)
        while len(newcomers) < room:
            try:
                item = self._inbox.get(timeout=_IDLE_POLL_S) if block else self._inbox.get_nowait()
            except queue.Empty:
                break
            block = False
            if item is None:  # close() woke us
                break
            if item.is_cancelled:
                self._finish(item, FinishReason.ABORT)
            else:
                newcomers.append(item)
        joined = [self._prefill(group) for group in group_for_prefill(newcomers)]
        batches = [batch for batch in joined if batch is not None]
        if batches:
            current = [self._batch] if self._batch is not None else []
            self._batch = self.runner.merge(current + batches)

    def _prefill(self, group: list[Sequence]) -> DecodeBatch | None:
        """Prefill a group and sample first tokens; the batch of the rows that go on, if any."""
        started = time.perf_counter()
        try:
            logits, batch = self.runner.prefill_many([seq.prompt_ids for seq in group])
            sampled = sample_batch(
                logits, [seq.sampler for seq in group], [seq.completion_ids for seq in group]
            )
        except Exception as exc:
            logger.exception("prefill failed")
            for seq in group:
                self._fail(seq, exc)
            return None
        self.stats.num_prefills += len(group)
        self.stats.prefill_s += time.perf_counter() - started
        keep = []
        for row, seq in enumerate(group):
            seq.status = SequenceStatus.RUNNING
            if not self._record(seq, sampled, row):
                keep.append(row)
                self._running.append(seq)
        if not keep:
            return None
        return batch if len(keep) == len(group) else self.runner.select(batch, keep)

    def _decode_step(self) -> None:
        cancelled = [row for row, seq in enumerate(self._running) if seq.is_cancelled]
        for row in cancelled:
            self._finish(self._running[row], FinishReason.ABORT)
        if cancelled:
            self._retire(cancelled)
        if not self._running or self._batch is None:
            return
        batch_size = len(self._running)
        started = time.perf_counter()
        self.stats.max_batch_size_seen = max(self.stats.max_batch_size_seen, batch_size)
        try:
            logits = self.runner.decode(self._batch, [s.last_token_id for s in self._running])
            sampled = sample_batch(
                logits,
                [s.sampler for s in self._running],
                [s.completion_ids for s in self._running],
            )
        except Exception as exc:
            logger.exception("decode step failed")
            self._fail_running(exc)
            return
        self.stats.num_decode_steps += 1
        self.stats.num_decode_tokens += batch_size
        self.stats.num_batched_steps += batch_size > 1
        done = [row for row, seq in enumerate(self._running) if self._record(seq, sampled, row)]
        if done:
            self._retire(done)
        self.stats.decode_s += time.perf_counter() - started

    def _record(self, seq: Sequence, sampled: SampledTokens, row: int) -> bool:
        """Append row's token to `seq`; answer it if it is done. True when it left the batch."""
        error = sampled.errors[row] if sampled.errors else None
        if error is not None:
            self._fail(seq, error)
            return True
        reason = seq.append(
            sampled.token_ids[row], sampled.logprobs[row], sampled.top_logprobs[row], self.detok
        )
        if reason is not None:
            self._finish(seq, reason)
            return True
        if seq.is_stream:
            event = seq.take_delta()
            if event is not None:
                seq.events.put(event)
        return False

    def _retire(self, rows: list[int]) -> None:
        """Drop finished `rows` from the running list and the batch."""
        gone = set(rows)
        keep = [row for row in range(len(self._running)) if row not in gone]
        self._running = [self._running[row] for row in keep]
        if not keep or self._batch is None:
            self._batch = None
        else:
            self._batch = self.runner.select(self._batch, keep)

    # -- answering --------------------------------------------------------------------------

    def _finish(self, seq: Sequence, reason: FinishReason) -> None:
        try:
            result = seq.finish(reason, self.detok)
        except Exception as exc:
            self._fail(seq, exc)
            return
        event = (
            seq.final_event(result)
            if seq.is_stream
            else StreamEvent(finish_reason=result.finish_reason, result=result)
        )
        seq.events.put(event)

    def _fail(self, seq: Sequence, exc: BaseException) -> None:
        self.stats.num_failed += 1
        seq.status = SequenceStatus.FINISHED
        error = EngineError(f"generation failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        seq.events.put(error)

    def _fail_running(self, exc: BaseException) -> None:
        for seq in self._running:
            self._fail(seq, exc)
        self._running = []
        self._batch = None

    def _abort_all(self) -> None:
        """On close: every running or waiting sequence ends with FinishReason.ABORT."""
        for seq in self._running:
            self._finish(seq, FinishReason.ABORT)
        self._running = []
        self._batch = None
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._finish(item, FinishReason.ABORT)
