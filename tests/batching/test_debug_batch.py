"""DebugBatch, DebugBatchItem and sync(): a batch without a store."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from asynq_batching import DebugBatch, DebugBatchItem, sync
from asynq_core import _debug, asynq, debug


def test_a_debug_item_gets_its_result_when_flushed() -> None:
    item = DebugBatchItem(result={"answer": 42})
    assert isinstance(item.batch, DebugBatch)
    assert not item.is_computed()
    assert item.value() == {"answer": 42}
    assert DebugBatchItem().value() is None


def test_sync_makes_the_task_wait_while_others_run() -> None:
    log: list[str] = []

    @asynq()
    def patient(name: str) -> Any:
        log.append(f"{name} before")
        yield sync()
        log.append(f"{name} after")

    @asynq()
    def eager() -> Any:
        log.append("eager")
        return None

    @asynq()
    def main() -> Any:
        yield [patient.asynq("a"), patient.asynq("b"), eager.asynq()]

    main()
    # Everything that needs no flush runs before either task goes on.
    assert log[:3] == ["a before", "b before", "eager"]
    assert sorted(log[3:]) == ["a after", "b after"]


def test_each_sync_round_is_one_flush(scheduler_flushes: list[Any]) -> None:
    @asynq()
    def three_rounds(i: int) -> Any:
        for _ in range(3):
            yield sync()
        return i

    @asynq()
    def main() -> Any:
        return (yield [three_rounds.asynq(i) for i in range(10)])

    assert main() == list(range(10))
    assert len(scheduler_flushes) == 3
    assert [batch.index for batch in scheduler_flushes] == [
        scheduler_flushes[0].index + step for step in range(3)
    ]
    assert all(len(batch.items) == 10 for batch in scheduler_flushes)


def test_batch_names_are_separate_batches(scheduler_flushes: list[Any]) -> None:
    @asynq()
    def main() -> Any:
        return (yield [DebugBatchItem("x", 1), DebugBatchItem("y", 2), DebugBatchItem("x", 3)])

    assert main() == [1, 2, 3]
    assert sorted((batch.name, len(batch.items)) for batch in scheduler_flushes) == [
        ("x", 2),
        ("y", 1),
    ]


def test_the_active_debug_batch_is_per_thread() -> None:
    mine = DebugBatchItem(result="main")
    seen: dict[str, Any] = {}

    def other_thread() -> None:
        theirs = DebugBatchItem(result="thread")
        seen["batch"] = theirs.batch
        seen["value"] = theirs.value()  # flushes the thread's batch only

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen["value"] == "thread"
    assert seen["batch"] is not mine.batch
    assert not mine.is_computed()
    assert mine.value() == "main"


def test_dump_sync_writes_each_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(debug, "stdout", buffer)
    _debug.options.DUMP_SYNC = True
    DebugBatchItem("dumped").value()
    assert "sync flush of <DebugBatch 'dumped'" in buffer.getvalue()


def test_a_thread_whose_debug_batch_another_thread_flushed_gets_a_new_one() -> None:
    pending = DebugBatchItem("shared", result=1)
    worker = threading.Thread(target=pending.value)  # flushes this thread's batch there
    worker.start()
    worker.join()
    assert pending.value() == 1
    later = DebugBatchItem("shared", result=2)
    assert later.batch is not pending.batch
    assert later.batch.index == pending.batch.index + 1
    assert later.value() == 2
