"""Batching under asyncio and concurrent flushes: the optional FlushGroup protocol.

``LookupBatch`` is a small flush group with an active batch per store that is
switched when it starts flushing, as real batches do; it offers the optional
protocol (``begin_flush`` with a fetch that may run in a thread,
``concurrent``, ``flush_async``) so that the scheduler's use of it can be seen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from asynq_core import asynq
from asynq_core.futures import DeferredFuture


class LookupItem(DeferredFuture[Any]):
    __slots__ = ("batch", "key")

    def __init__(self, batch: LookupBatch, key: Any) -> None:
        super().__init__()
        self.batch = batch
        self.key = key
        batch.items.append(self)

    def flush_group(self) -> LookupBatch:
        return self.batch


class Store:
    """A dict behind a batch: one round trip per flush, logged."""

    def __init__(
        self,
        name: str,
        data: dict[Any, Any],
        *,
        concurrent: bool = False,
        asynchronous: bool = False,
        fetch_delay: float = 0.0,
    ) -> None:
        self.name = name
        self.data = data
        self.concurrent = concurrent
        self.asynchronous = asynchronous
        self.fetch_delay = fetch_delay
        self.round_trips: list[list[Any]] = []
        self.fetch_threads: list[int] = []
        self.deliver_threads: list[int] = []
        self.fetch_started = threading.Event()
        self.rendezvous_with: Store | None = None
        self.met_in_time: list[bool] = []
        self.active = LookupBatch(self)

    def lookup(self, key: Any) -> LookupItem:
        return LookupItem(self.active, key)


class LookupBatch:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.items: list[LookupItem] = []
        self.flushing = False
        self.concurrent = store.concurrent
        if store.asynchronous:
            self.flush_async = self._flush_async

    def get_priority(self) -> Any:
        return (0, len(self.items))

    def _start(self) -> list[LookupItem] | None:
        if self.flushing:
            return None
        self.flushing = True
        self.store.active = LookupBatch(self.store)
        return list(self.items)

    def begin_flush(self) -> Any:
        items = self._start()
        if items is None:
            return None
        keys = [item.key for item in items]

        def fetch() -> Any:
            self.store.fetch_threads.append(threading.get_ident())
            self.store.fetch_started.set()
            if self.store.rendezvous_with is not None:
                met = self.store.rendezvous_with.fetch_started.wait(timeout=5)
                self.store.met_in_time.append(met)
            if self.store.fetch_delay:
                time.sleep(self.store.fetch_delay)
            self.store.round_trips.append(keys)
            values = [self.store.data.get(key) for key in keys]

            def deliver() -> None:
                self.store.deliver_threads.append(threading.get_ident())
                for item, value in zip(items, values, strict=True):
                    item.set_value(value)

            return deliver

        return fetch

    def flush(self) -> None:
        fetch = self.begin_flush()
        if fetch is not None:
            fetch()()

    async def _flush_async(self) -> None:
        items = self._start()
        if items is None:
            return
        await asyncio.sleep(0)
        self.store.round_trips.append([item.key for item in items])
        for item in items:
            item.set_value(self.store.data.get(item.key))


def run(coroutine: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout=10)

    return asyncio.run(bounded())


def make_readme_example(answers: Store, users: Store) -> Any:
    @asynq()
    def author_of_answer(aid: int) -> Any:
        return (yield answers.lookup(aid))

    @asynq()
    def name_of_user(uid: int) -> Any:
        return (yield users.lookup(uid))

    @asynq()
    def all_author_names(aids: list[int]) -> Any:
        uids = yield [author_of_answer.asynq(aid) for aid in aids]
        names = yield [name_of_user.asynq(uid) for uid in uids]
        return names

    return all_author_names


def stores(**options: Any) -> tuple[Store, Store]:
    answers = Store("answers", {aid: aid % 3 for aid in range(20)}, **options)
    users = Store("users", {uid: f"user{uid}" for uid in range(3)}, **options)
    return answers, users


@pytest.mark.parametrize("asynchronous", [False, True])
def test_asyncio_makes_the_same_two_flushes_as_the_synchronous_call(asynchronous: bool) -> None:
    answers, users = stores(asynchronous=asynchronous)
    all_author_names = make_readme_example(answers, users)
    aids = list(range(12))
    expected = [f"user{aid % 3}" for aid in aids]

    assert all_author_names(aids) == expected
    assert len(answers.round_trips) == 1 and len(users.round_trips) == 1

    answers.round_trips.clear()
    users.round_trips.clear()
    assert run(all_author_names.asyncio(aids)) == expected
    assert answers.round_trips == [aids]
    assert len(users.round_trips) == 1


def test_a_synchronous_fetch_runs_in_the_executor_and_delivers_on_the_loop() -> None:
    answers, users = stores(fetch_delay=0.05)
    all_author_names = make_readme_example(answers, users)
    ticks = []

    async def main() -> Any:
        loop_thread = threading.get_ident()
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.005)

        ticking = asyncio.create_task(ticker())
        names = await all_author_names.asyncio([1, 2])
        stop.set()
        await ticking
        return names, loop_thread

    names, loop_thread = run(main())
    assert names == ["user1", "user2"]
    assert loop_thread not in answers.fetch_threads + users.fetch_threads
    assert set(answers.deliver_threads + users.deliver_threads) == {loop_thread}
    # The loop kept running while the fetches slept (2 x 50 ms).
    assert len(ticks) >= 6


def test_native_io_in_a_branch_does_not_hold_a_round_back() -> None:
    answers, _ = stores()
    events = []

    async def slow_native(aid: int) -> int:
        events.append("io started")
        await asyncio.sleep(0.02)
        events.append("io done")
        return aid

    @asynq(asyncio_fn=slow_native)
    def slow_identity(aid: int) -> Any:
        yield None
        return aid

    @asynq()
    def author_after_io(aid: int) -> Any:
        aid = yield slow_identity.asynq(aid)
        return (yield answers.lookup(aid))

    @asynq()
    def author(aid: int) -> Any:
        return (yield answers.lookup(aid))

    @asynq()
    def root() -> Any:
        return (yield [author.asynq(1), author_after_io.asynq(2), author.asynq(4)])

    assert run(root.asyncio()) == [1, 2, 1]
    # The round did not wait for the branch awaiting real I/O: its key came later.
    assert answers.round_trips == [[1, 4], [2]]
    assert events == ["io started", "io done"]


def test_native_work_without_real_io_joins_the_round() -> None:
    answers, _ = stores()

    async def quick_native(aid: int) -> int:
        await asyncio.sleep(0)  # a few turns of the loop, no I/O
        await asyncio.sleep(0)
        return aid

    @asynq(asyncio_fn=quick_native)
    def quick_identity(aid: int) -> Any:
        yield None
        return aid

    @asynq()
    def author_after_native(aid: int) -> Any:
        aid = yield quick_identity.asynq(aid)
        return (yield answers.lookup(aid))

    @asynq()
    def author(aid: int) -> Any:
        return (yield answers.lookup(aid))

    @asynq()
    def root() -> Any:
        return (yield [author.asynq(1), author_after_native.asynq(2), author.asynq(4)])

    assert run(root.asyncio()) == [1, 2, 1]
    # The round waited while the domain was busy: one flush.
    assert answers.round_trips == [[1, 4, 2]]


def test_concurrent_requests_batch_independently() -> None:
    answers, _ = stores()
    finished = []

    async def slow_native() -> None:
        await asyncio.sleep(0.2)

    @asynq(asyncio_fn=slow_native)
    def slow() -> Any:
        yield None

    @asynq()
    def request(name: str, aids: list[int], wait_first: bool) -> Any:
        if wait_first:
            yield slow.asynq()
        values = yield [answers.lookup(aid) for aid in aids]
        finished.append(name)
        return values

    async def main() -> Any:
        return await asyncio.gather(
            request.asyncio("slow request", [1, 2], True),
            request.asyncio("quick request", [3, 4], False),
        )

    assert run(main()) == [[1, 2], [0, 1]]
    # The quick request did not wait for the slow one's native I/O to flush.
    assert finished == ["quick request", "slow request"]
    assert answers.round_trips == [[3, 4], [1, 2]]


def test_asyncio_fn_awaiting_asynq_work_of_its_scope_does_not_deadlock() -> None:
    answers, _ = stores()

    @asynq()
    def lookup(aid: int) -> Any:
        return (yield answers.lookup(aid))

    async def native(aid: int) -> Any:
        return await lookup.asyncio(aid) + 100

    @asynq(asyncio_fn=native)
    def via_native(aid: int) -> Any:
        yield None
        return aid

    @asynq()
    def root() -> Any:
        return (yield [via_native.asynq(1), lookup.asynq(2)])

    assert run(root.asyncio()) == [101, 2]
    assert answers.round_trips == [[2, 1]]


@pytest.mark.parametrize("under_asyncio", [False, True])
def test_concurrent_groups_fetch_together_in_one_round(under_asyncio: bool) -> None:
    first = Store("first", {1: "a"}, concurrent=True)
    second = Store("second", {2: "b"}, concurrent=True)
    # Each fetch waits until the other has started: possible only if they run together.
    first.rendezvous_with = second
    second.rendezvous_with = first

    @asynq()
    def both() -> Any:
        return (yield [first.lookup(1), second.lookup(2)])

    if under_asyncio:
        assert run(both.asyncio()) == ["a", "b"]
    else:
        assert both() == ["a", "b"]
    assert first.met_in_time == [True] and second.met_in_time == [True]
    assert first.round_trips == [[1]] and second.round_trips == [[2]]
