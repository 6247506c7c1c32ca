"""Nothing of a finished program stays alive, and repeated runs keep memory flat.

Weak references to every task, generator, batch item and batch a program
creates must be dead once the program's result is dropped: tasks and
generators as soon as the run ends (by reference counting, no garbage
collection needed, so a busy server does not pile them up between
collections); batch items and their batches (which reference each other)
after a collection. The same holds for a failed run, an abandoned run and a
dependency cycle. Then tracemalloc checks that a thousand runs of a program
using batches, contexts, scoped values and errors leave memory where it was.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from asynq_batching import sync
from asynq_contexts import AsyncScopedValue
from asynq_core import AsyncTaskError, asynq, get_active_task, get_scheduler
from asynq_tools import AsyncTimer

ROWS = {key: str(key) for key in range(50)}


class Tracker:
    """Weak references to the objects of one run."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []

    def task(self) -> None:
        task = get_active_task()
        self.refs.append(weakref.ref(task))
        self.refs.append(weakref.ref(task._generator))

    def item(self, item: Any) -> Any:
        self.refs.append(weakref.ref(item))
        self.refs.append(weakref.ref(item.batch))
        return item

    def alive(self) -> list[str]:
        return [type(obj).__name__ for obj in (ref() for ref in self.refs) if obj is not None]


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting frees objects during the test."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@asynq()
def leaf(tracker: Tracker, value: int) -> int:
    tracker.task()
    return value


@asynq()
def reader(tracker: Tracker, table: Any, key: int) -> Generator[Any, Any, Any]:
    tracker.task()
    return (yield tracker.item(table.lookup(key)))


@asynq()
def program(tracker: Tracker, table: Any, fail: bool = False) -> Generator[Any, Any, Any]:
    tracker.task()
    plain = yield [leaf.asynq(tracker, value) for value in range(5)]
    rows = yield {key: reader.asynq(tracker, table, key) for key in range(5)}
    nested = yield (leaf.asynq(tracker, 9), [reader.asynq(tracker, table, 7), None])
    if fail:
        raise ValueError("program failed")
    return plain, rows, nested


def test_tasks_and_generators_are_freed_when_the_run_ends(no_gc, make_table) -> None:
    tracker = Tracker()
    table = make_table("rows", ROWS)
    result = program(tracker, table)
    assert result[1] == {key: str(key) for key in range(5)}
    alive = tracker.alive()
    # Items and their batch reference each other: only a collection frees them.
    assert set(alive) <= {"Lookup", "TableBatch"}
    assert alive.count("Lookup") == 6
    gc.collect()
    assert tracker.alive() == []
    assert len(tracker.refs) == 2 * 13 + 2 * 6  # 13 tasks, 6 items


def test_a_failed_run_frees_everything_once_its_error_is_dropped(make_table) -> None:
    tracker = Tracker()
    table = make_table("rows", ROWS)
    with pytest.raises(ValueError, match="program failed") as info:
        program(tracker, table, fail=True)
    del info  # the traceback references the frames, which reference the tasks
    gc.collect()
    assert tracker.alive() == []
    assert len(tracker.refs) == 2 * 13 + 2 * 6  # not vacuous: 13 tasks, 6 items


def test_an_abandoned_run_frees_everything(make_table) -> None:
    tracker = Tracker()
    table = make_table("rows", ROWS)

    def abort(group: Any) -> None:
        raise RuntimeError("abort")

    get_scheduler().on_after_batch_flush.subscribe(abort)
    with pytest.raises(RuntimeError, match="abort"):
        program(tracker, table)
    get_scheduler().on_after_batch_flush.unsubscribe(abort)
    gc.collect()
    assert tracker.alive() == []
    assert len(tracker.refs) == 2 * 11 + 2 * 5  # not vacuous: up to the first flush
    assert get_scheduler()._ready == []


def test_tasks_in_a_dependency_cycle_are_freed() -> None:
    tracker = Tracker()
    tasks: dict[str, Any] = {}

    @asynq()
    def waits_on(name: str) -> Generator[Any, Any, Any]:
        tracker.task()
        return (yield tasks[name])

    tasks["a"] = waits_on.asynq("b")
    tasks["b"] = waits_on.asynq("a")
    with pytest.raises(AsyncTaskError):
        tasks["a"].value()
    tasks.clear()
    gc.collect()
    assert tracker.alive() == []
    assert len(tracker.refs) == 2 * 2  # not vacuous: both tasks ran


def test_a_thousand_runs_keep_memory_flat(make_table) -> None:
    table = make_table("rows", ROWS)
    scoped = AsyncScopedValue(0)

    @asynq()
    def step(key: int) -> Generator[Any, Any, Any]:
        with scoped.override(key), AsyncTimer():
            row = yield table.lookup(key % 50)
            yield sync()
            if key % 7 == 0:
                raise KeyError(key)
            return row, scoped.get()

    @asynq()
    def run(base: int) -> Generator[Any, Any, Any]:
        tasks = [step.asynq(base + offset) for offset in range(10)]
        try:
            yield tasks
        except KeyError:
            pass
        return [task.error() is None for task in tasks]

    def runs(count: int) -> None:
        for index in range(count):
            assert len(run(index)) == 10
            table.log.clear()  # the test's own record of flushes

    runs(200)  # warm up: caches of the interpreter and the libraries fill once
    gc.collect()
    tracemalloc.start()
    try:
        runs(50)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        runs(1000)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # A leak of even one small object per run would be well above this.
    assert after - before < 16 * 1024, f"memory grew by {after - before} bytes over 1000 runs"
