"""Scale: a million tasks at once, chains far deeper than Python's recursion limit.

These run in CI (marked ``scale`` so they can be picked or skipped with
``-m``) and are kept as lean as the workload allows. Each records its time
(``record_property``, shown with ``-rA``/junit) and fails only on a time
that means something went quadratic, not on a slow machine.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from asynq_core import asynq, get_scheduler

pytestmark = pytest.mark.scale

PATHOLOGICAL = 120.0  # seconds; each of these takes a few seconds at most


@pytest.fixture
def timed(record_property: Any) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    record_property("seconds", round(elapsed, 3))
    print(f"took {elapsed:.2f} s")
    assert elapsed < PATHOLOGICAL


@asynq()
def trivial(value: int) -> int:
    return value


@asynq()
def fanout(count: int) -> Generator[Any, Any, int]:
    values = yield [trivial.asynq(value) for value in range(count)]
    return sum(values)


def test_a_fanout_of_a_million_tasks(timed: None) -> None:
    count = 1_000_000
    assert fanout(count) == count * (count - 1) // 2
    gc.collect()


@asynq()
def chain(depth: int) -> Generator[Any, Any, int]:
    if depth == 0:
        return 0
    return (yield chain.asynq(depth - 1)) + 1


@asynq()
def failing_chain(depth: int) -> Generator[Any, Any, int]:
    if depth == 0:
        raise LookupError("at the bottom")
    return (yield failing_chain.asynq(depth - 1)) + 1


def test_a_chain_100000_deep_needs_no_python_recursion(timed: None) -> None:
    depth = 100_000
    assert depth > 50 * sys.getrecursionlimit()
    assert chain(depth) == depth


def test_an_error_climbs_a_chain_100000_deep(timed: None) -> None:
    with pytest.raises(LookupError, match="at the bottom") as info:
        failing_chain(100_000)
    # One traceback runs through every task the error passed.
    frames = 0
    tb = info.value.__traceback__
    while tb is not None:
        frames += tb.tb_frame.f_code is failing_chain.fn.__code__
        tb = tb.tb_next
    assert frames == 100_001
    del info
    gc.collect()


def test_a_hundred_thousand_reads_make_one_flush(timed: None, make_table) -> None:
    count = 100_000
    table = make_table("rows", {key: key for key in range(count)})

    @asynq()
    def read(key: int) -> Generator[Any, Any, int]:
        return (yield table.lookup(key))

    @asynq()
    def read_all() -> Generator[Any, Any, list[int]]:
        return (yield [read.asynq(key) for key in range(count)])

    assert read_all() == list(range(count))
    assert table.flush_count() == 1
    assert len(table.log[0][1]) == count


def test_too_deep_synchronous_calls_are_a_recursion_error_and_leave_a_clean_scheduler(
    timed: None,
) -> None:
    # Synchronous calls nest on Python's stack (yielded tasks do not).
    @asynq()
    def sync_chain(depth: int) -> int:
        return 0 if depth == 0 else sync_chain(depth - 1) + 1

    with pytest.raises(RecursionError):
        sync_chain(100_000)
    scheduler = get_scheduler()
    assert scheduler.active_task is None
    assert scheduler._ready == []
    assert sync_chain(50) == 50
    assert chain(1000) == 1000
