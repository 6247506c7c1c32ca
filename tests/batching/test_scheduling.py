"""Batches under the scheduler: when they flush, in which order, how many
times, and where their errors go."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asynq_core
from asynq_batching import BatchBase, BatchItemBase, sync
from asynq_core import asynq

hypothesis_settings = settings(max_examples=25, deadline=None)


FlushLog = list[tuple[str, list[Any]]]


def fresh_log_and_scheduler() -> FlushLog:
    # Hypothesis runs many examples in one test call: each gets clean state.
    asynq_core.scheduler.reset()
    return []


class RankedBatch(BatchBase):
    """A batch with a fixed priority that logs its flush."""

    def __init__(self, name: str, priority: Any, log: list[str]) -> None:
        super().__init__()
        self.name = name
        self.priority = priority
        self.log = log

    def get_priority(self) -> Any:
        return self.priority

    def _try_switch_active_batch(self) -> None:
        pass

    def _flush(self) -> None:
        self.log.append(self.name)
        for item in self.items:
            item.set_value(self.name)


class Item(BatchItemBase[Any]):
    pass


def test_the_pending_batch_of_highest_priority_flushes_first() -> None:
    log: list[str] = []
    low = RankedBatch("low", (0, 1), log)
    high = RankedBatch("high", (5, 0), log)
    middle = RankedBatch("middle", (1, 0), log)

    @asynq()
    def wait(item: Item) -> Any:
        return (yield item)

    @asynq()
    def main() -> Any:
        return (yield [wait.asynq(Item(low)), wait.asynq(Item(high)), wait.asynq(Item(middle))])

    assert main() == ["low", "high", "middle"]
    assert log == ["high", "middle", "low"]


def test_by_default_the_larger_batch_flushes_first(make_table: Any, flush_log: FlushLog) -> None:
    small = make_table("small", {1: "a"})
    large = make_table("large", {1: "x", 2: "y", 3: "z"})

    @asynq()
    def main() -> Any:
        return (yield [small.lookup(1), large.lookup(1), large.lookup(2), large.lookup(3)])

    assert main() == ["a", "x", "y", "z"]
    assert [name for name, _ in flush_log] == ["large", "small"]


@hypothesis_settings
@given(n=st.integers(min_value=1, max_value=80))
def test_the_readme_example_makes_two_flushes_whatever_n(table_cls: Any, n: int) -> None:
    log = fresh_log_and_scheduler()
    aids = list(range(n))
    answers = table_cls("answers", {aid: f"u{aid % 7}" for aid in aids}, log)
    users = table_cls("users", {f"u{i}": f"User {i}" for i in range(7)}, log)

    @asynq()
    def author_of_answer(aid: int) -> Any:
        return (yield answers.lookup(aid))

    @asynq()
    def name_of_user(uid: str) -> Any:
        return (yield users.lookup(uid))

    @asynq()
    def all_author_names(aids: list[int]) -> Any:
        uids = yield [author_of_answer.asynq(aid) for aid in aids]
        names = yield [name_of_user.asynq(uid) for uid in uids]
        return names

    names = all_author_names(aids)
    assert names == [f"User {aid % 7}" for aid in aids]
    assert [name for name, _ in log] == ["answers", "users"]
    assert log[0][1] == aids
    assert len(log[1][1]) == n


@hypothesis_settings
@given(k=st.integers(min_value=1, max_value=30), width=st.integers(min_value=1, max_value=5))
def test_a_chain_of_k_dependent_lookups_makes_k_flushes(table_cls: Any, k: int, width: int) -> None:
    # Each of `width` parallel chains follows k links: step i needs step i-1's result.
    log = fresh_log_and_scheduler()
    rows = {(chain, step): (chain, step + 1) for chain in range(width) for step in range(k)}
    links = table_cls("links", rows, log)

    @asynq()
    def follow(start: tuple[int, int], steps: int) -> Any:
        node = start
        for _ in range(steps):
            node = yield links.lookup(node)
        return node

    @asynq()
    def main() -> Any:
        return (yield [follow.asynq((chain, 0), k) for chain in range(width)])

    assert main() == [(chain, k) for chain in range(width)]
    assert len(log) == k
    assert all(len(keys) == width for _, keys in log)


@hypothesis_settings
@given(depth=st.integers(min_value=1, max_value=4), fanout=st.integers(min_value=1, max_value=4))
def test_a_tree_of_independent_lookups_makes_one_flush(
    table_cls: Any, depth: int, fanout: int
) -> None:
    log = fresh_log_and_scheduler()
    values = table_cls("values", {}, log)

    @asynq()
    def subtree(path: tuple[int, ...]) -> Any:
        values.rows[path] = len(path)
        own = values.lookup(path)
        if len(path) == depth:
            return (yield own)
        children = [subtree.asynq((*path, child)) for child in range(fanout)]
        mine, below = yield own, children
        return mine + sum(below)

    total = subtree(())
    expected_nodes = sum(fanout**level for level in range(depth + 1))
    assert len(log) == 1
    assert len(log[0][1]) == expected_nodes
    assert total == sum(level * fanout**level for level in range(depth + 1))


def test_errors_reach_only_the_tasks_waiting_on_those_items(make_table: Any) -> None:
    table = make_table("t", {1: "one", 3: "three"})
    finished: list[Any] = []

    @asynq()
    def read(key: int) -> Any:
        value = yield table.lookup(key)
        finished.append(key)
        return value

    @asynq()
    def main() -> Any:
        return (yield [read.asynq(key) for key in (1, 2, 3)])

    with pytest.raises(KeyError) as info:
        main()
    assert info.value.args == (2,)
    assert sorted(finished) == [1, 3]


def test_a_failing_flush_fails_only_its_own_waiters(make_table: Any, flush_log: FlushLog) -> None:
    broken = make_table("broken", {1: "never"})
    broken.fail_with = ConnectionError("broken store is down")
    healthy = make_table("healthy", {1: "fine"})
    outcomes: dict[str, Any] = {}

    @asynq()
    def read(table: Any) -> Any:
        try:
            outcomes[table.name] = yield table.lookup(1)
        except ConnectionError as error:
            outcomes[table.name] = error

    @asynq()
    def main() -> Any:
        yield [read.asynq(broken), read.asynq(healthy)]

    main()
    assert outcomes["healthy"] == "fine"
    assert isinstance(outcomes["broken"], ConnectionError)
    assert sorted(name for name, _ in flush_log) == ["broken", "healthy"]


def test_the_scheduler_hooks_see_each_flushed_batch(
    make_table: Any, scheduler_flushes: list[Any]
) -> None:
    table = make_table("t", {1: 1, 2: 2})
    after: list[Any] = []
    asynq_core.get_scheduler().on_after_batch_flush.subscribe(after.append)

    @asynq()
    def main() -> Any:
        first = yield table.lookup(1)
        second = yield table.lookup(2)
        return first + second

    assert main() == 3
    assert len(scheduler_flushes) == 2
    assert after == scheduler_flushes
    assert all(batch.is_flushed() for batch in scheduler_flushes)
    assert scheduler_flushes[0] is not scheduler_flushes[1]


def test_a_synchronous_call_inside_a_task_flushes_what_it_needs(
    make_table: Any, flush_log: FlushLog
) -> None:
    table = make_table("t", {1: "one", 2: "two"})

    @asynq()
    def inner(key: int) -> Any:
        return (yield table.lookup(key))

    @asynq()
    def outer() -> Any:
        synchronous = inner(1)  # a nested scheduler loop, flushing on its own
        later = yield inner.asynq(2)
        return synchronous, later

    assert outer() == ("one", "two")
    assert [keys for _, keys in flush_log] == [[1], [2]]


# -- the order tasks resume in after a flush (as asynq 1.x) ---------------------


def interleaved(log: list[str]) -> Any:
    @asynq()
    def appender(name: str) -> Any:
        log.append(f"{name}1")
        yield sync()
        log.append(f"{name}2")

    @asynq()
    def both() -> Any:
        yield [appender.asynq("a"), appender.asynq("b")]

    return both


def test_tasks_woken_by_a_flush_resume_in_the_order_of_their_items() -> None:
    log: list[str] = []
    interleaved(log)()
    assert log == ["a1", "b1", "a2", "b2"]


def test_the_resume_order_after_a_flush_is_the_same_under_asyncio() -> None:
    log: list[str] = []
    asyncio.run(interleaved(log).asyncio())
    assert log == ["a1", "b1", "a2", "b2"]


def test_woken_tasks_resume_in_the_depth_first_order_of_the_waiting_tree() -> None:
    # As asynq 1.x, which walks the tree of waiting tasks again after each
    # flush: not in the order their items were added to the batch.
    log: list[str] = []
    first = RankedBatch("first", 2, log)
    second = RankedBatch("second", 1, log)
    resumed: list[str] = []

    @asynq()
    def reads_first_then_second() -> Any:
        yield Item(first)
        yield Item(second)
        resumed.append("a")

    @asynq()
    def reads_second(name: str) -> Any:
        yield Item(second)
        resumed.append(name)

    @asynq()
    def root() -> Any:
        yield [reads_first_then_second.asynq(), reads_second.asynq("b"), reads_second.asynq("c")]

    root()
    assert log == ["first", "second"]
    assert resumed == ["a", "b", "c"]  # the item order would be b, c, a
