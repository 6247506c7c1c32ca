"""Batching under asyncio (real ``asyncio.run``): BatchBase subclasses and loaders.

A 1.x-style batch (only ``_flush``) runs its flush in the loop's executor and
its results reach the items on the loop; one with ``async def _flush_async``
is awaited on the loop; concurrent requests each get their own scope.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
import weakref
from typing import Any

import pytest

from asynq_batching import BatchBase, BatchItemBase, batched
from asynq_batching.stores import MISSING, SqlStore
from asynq_core import asynq


def run(coroutine: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout=10)

    return asyncio.run(bounded())


def readme_example(**options: Any) -> tuple[Any, list[list[int]], list[list[int]]]:
    """The README's all_author_names on two loaders, with their call logs."""
    answer_calls: list[list[int]] = []
    user_calls: list[list[int]] = []

    @batched(**options)
    def author_of_answers(aids: list[int]) -> dict[int, int]:
        answer_calls.append(list(aids))
        return {aid: aid % 3 for aid in aids}

    @batched(**options)
    def names_of_users(uids: list[int]) -> list[str]:
        user_calls.append(list(uids))
        return [f"user{uid}" for uid in uids]

    @asynq()
    def all_author_names(aids: list[int]) -> Any:
        uids = yield [author_of_answers.asynq(aid) for aid in aids]
        names = yield [names_of_users.asynq(uid) for uid in uids]
        return names

    return all_author_names, answer_calls, user_calls


@pytest.mark.parametrize("concurrent", [False, True])
def test_the_readme_example_makes_the_same_two_calls_under_asyncio(concurrent: bool) -> None:
    all_author_names, answer_calls, user_calls = readme_example(concurrent=concurrent)
    aids = list(range(10))
    expected = [f"user{aid % 3}" for aid in aids]
    assert all_author_names(aids) == expected
    assert (answer_calls, user_calls) == ([aids], [[0, 1, 2]])
    answer_calls.clear()
    user_calls.clear()
    assert run(all_author_names.asyncio(aids)) == expected
    assert (answer_calls, user_calls) == ([aids], [[0, 1, 2]])


class Lookup(BatchItemBase[Any]):
    def __init__(self, batch: SlowBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class SlowBatch(BatchBase):
    """A 1.x-style batch: only ``_flush``, which blocks for ``delay`` seconds."""

    active: SlowBatch | None = None
    delay = 0.0
    flush_threads: list[int] = []

    def _try_switch_active_batch(self) -> None:
        if type(self).active is self:
            type(self).active = type(self)()

    def _flush(self) -> None:
        type(self).flush_threads.append(threading.get_ident())
        time.sleep(self.delay)
        for item in self.items:
            item.set_value(item.key * 2)  # type: ignore[attr-defined]

    @classmethod
    def lookup(cls, key: Any) -> Lookup:
        if cls.active is None:
            cls.active = cls()
        return Lookup(cls.active, key)


@asynq()
def doubled(keys: list[int], batch_cls: type[SlowBatch]) -> Any:
    return (yield [batch_cls.lookup(key) for key in keys])


def test_loaded_values_live_no_longer_than_the_resolvers_hold_them() -> None:
    """Once its round is over, a loader's batch lets go of its items: the values
    they hold are freed as soon as the resolvers drop them, with the garbage
    collector off too (an item and its batch refer to each other)."""

    class Value:
        pass

    made: list[weakref.ref[Value]] = []

    @batched()
    async def load(keys: list[int]) -> list[Value]:
        values = [Value() for _ in keys]
        made.extend(weakref.ref(value) for value in values)
        return values

    async def resolve(key: int) -> bool:
        return isinstance(await load.asyncio(key), Value)

    async def resolve_all() -> list[bool]:
        return list(await asyncio.gather(*(resolve(key) for key in range(5))))

    gc.disable()
    try:
        assert run(resolve_all()) == [True] * 5
        assert len(made) == 5
        assert [ref() for ref in made] == [None] * 5
    finally:
        gc.enable()


def test_a_synchronous_flush_runs_in_the_executor_without_blocking_the_loop() -> None:
    class Slow(SlowBatch):
        delay = 0.1
        flush_threads: list[int] = []

    assert not hasattr(Slow(), "flush_async")
    ticks: list[float] = []
    delivered_on: list[int] = []

    async def main() -> Any:
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.005)

        ticking = asyncio.create_task(ticker())
        item = Slow.lookup(1)
        item.on_computed.subscribe(lambda _: delivered_on.append(threading.get_ident()))
        values = await doubled.asyncio([2, 3], Slow)
        stop.set()
        await ticking
        return values, await item_value(item), threading.get_ident()

    async def item_value(item: Any) -> Any:
        return item.value()

    values, first, loop_thread = run(main())
    assert values == [4, 6] and first == 2
    assert Slow.flush_threads and loop_thread not in Slow.flush_threads
    assert delivered_on == [loop_thread]
    assert len(ticks) >= 8  # the loop ran during the 100 ms flush


def test_a_batch_that_must_stay_on_its_thread_flushes_on_the_loop() -> None:
    class Pinned(SlowBatch):
        fetch_in_thread = False
        flush_threads: list[int] = []

    # Without begin_flush the scope calls flush() on the loop's thread.
    assert not hasattr(Pinned(), "begin_flush")

    async def main() -> Any:
        return await doubled.asyncio([1, 2], Pinned), threading.get_ident()

    values, loop_thread = run(main())
    assert values == [2, 4]
    assert Pinned.flush_threads == [loop_thread]


class AsyncClientBatch(BatchBase):
    """A batch with an asyncio client: ``_flush_async`` awaits it."""

    active: AsyncClientBatch | None = None
    log: list[tuple[str, list[Any]]] = []
    max_batch_size = 2

    def _try_switch_active_batch(self) -> None:
        if AsyncClientBatch.active is self:
            AsyncClientBatch.active = AsyncClientBatch()

    def _flush(self) -> None:
        raise RuntimeError("AsyncClientBatch flushes under asyncio only")

    async def _flush_async(self) -> None:
        keys = [item.key for item in self.items]  # type: ignore[attr-defined]
        self.log.append(("start", keys))
        await asyncio.sleep(0.01)
        self.log.append(("end", keys))
        for item in self.items:
            item.set_value(f"async:{item.key}")  # type: ignore[attr-defined]


def test_a_batch_with_an_async_flush_is_awaited_on_the_loop() -> None:
    AsyncClientBatch.active = AsyncClientBatch()
    AsyncClientBatch.log = []

    @asynq()
    def fetch(keys: list[int]) -> Any:
        return (yield [Lookup(AsyncClientBatch.active, key) for key in keys])  # type: ignore[arg-type]

    assert callable(AsyncClientBatch().flush_async)
    assert run(fetch.asyncio([1, 2, 3])) == ["async:1", "async:2", "async:3"]
    # Split in two pieces (max_batch_size=2), flushed one after the other, in one round.
    assert AsyncClientBatch.log == [
        ("start", [1, 2]),
        ("end", [1, 2]),
        ("start", [3]),
        ("end", [3]),
    ]


def test_an_async_bulk_function_is_awaited_under_asyncio() -> None:
    calls: list[list[int]] = []
    in_loop: list[bool] = []

    @batched(concurrent=True, max_size=2)
    async def remote(keys: list[int]) -> dict[int, str]:
        in_loop.append(asyncio.get_running_loop() is not None)
        calls.append(list(keys))
        await asyncio.sleep(0.01)
        return {key: f"r{key}" for key in keys}

    @asynq()
    def three() -> Any:
        return (yield [remote.asynq(1), remote.asynq(2), remote.asynq(3)])

    assert run(three.asyncio()) == ["r1", "r2", "r3"]
    assert sorted(calls) == [[1, 2], [3]]
    assert in_loop == [True, True]


def test_a_batch_flushing_for_one_request_is_awaited_by_another() -> None:
    calls: list[list[int]] = []
    flush_started = threading.Event()
    release_flush = threading.Event()
    late_waits = asyncio.Event()

    @batched()
    def slow(keys: list[int]) -> list[int]:
        calls.append(list(keys))
        flush_started.set()
        assert release_flush.wait(5), "the late request never waited on the flush"
        return keys

    async def until_the_flush_started() -> None:
        assert await asyncio.to_thread(flush_started.wait, 5)

    @asynq(asyncio_fn=until_the_flush_started)
    def pause() -> Any:
        yield None

    @asynq()
    def quick() -> Any:
        return (yield slow.asynq(1))

    @asynq()
    def late() -> Any:
        # Joins the batch of this thread, then waits on native I/O until the
        # quick request flushes that batch in the executor.
        pending = slow.asynq(2)
        yield pause.asynq()
        assert not pending.is_computed()  # the flush is in progress, held by release_flush
        late_waits.set()  # wakes release() only once this scope awaits the flush
        return (yield pending)

    async def release() -> None:
        await late_waits.wait()
        release_flush.set()

    async def main() -> Any:
        return await asyncio.gather(quick.asyncio(), late.asyncio(), release())

    assert run(main()) == [1, 2, None]
    assert calls == [[1, 2]]


def test_cancelling_a_request_does_not_abort_a_flush_another_request_waits_on() -> None:
    calls: list[list[int]] = []
    started = threading.Event()

    @batched()
    def slow(keys: list[int]) -> list[int]:
        calls.append(list(keys))
        started.set()
        time.sleep(0.1)
        return keys

    async def nap() -> None:
        await asyncio.sleep(0.02)

    @asynq(asyncio_fn=nap)
    def pause() -> Any:
        yield None

    @asynq()
    def doomed() -> Any:
        return (yield slow.asynq(1))

    @asynq()
    def survivor() -> Any:
        pending = slow.asynq(2)
        yield pause.asynq()
        return (yield pending)

    async def main() -> Any:
        doomed_request = asyncio.create_task(doomed.asyncio())
        surviving_request = asyncio.create_task(survivor.asyncio())
        while not started.is_set():
            await asyncio.sleep(0.001)
        doomed_request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed_request
        return await surviving_request

    assert run(main()) == 2
    assert calls == [[1, 2]]


def test_concurrent_requests_each_batch_on_their_own() -> None:
    all_author_names, answer_calls, user_calls = readme_example()
    finished: list[str] = []

    async def slow_io() -> None:
        await asyncio.sleep(0.2)

    @asynq(asyncio_fn=slow_io)
    def slow_dependency() -> Any:
        yield None

    @asynq()
    def request(name: str, aids: list[int], slow: bool) -> Any:
        if slow:
            yield slow_dependency.asynq()
        names = yield all_author_names.asynq(aids)
        finished.append(name)
        return names

    async def main() -> Any:
        started = time.perf_counter()
        results = await asyncio.gather(
            request.asyncio("slow", [1, 2], True),
            request.asyncio("quick 1", [3, 4], False),
            request.asyncio("quick 2", [5, 6, 7], False),
        )
        return results, time.perf_counter() - started

    results, elapsed = run(main())
    assert results == [["user1", "user2"], ["user0", "user1"], ["user2", "user0", "user1"]]
    # The quick requests did not wait for the slow one's I/O to make their rounds.
    assert sorted(finished[:2]) == ["quick 1", "quick 2"] and finished[2] == "slow"
    # Each request made at most its two calls (requests of one thread share
    # the batches open when they flush); the slow one made its own two rounds
    # after its I/O.
    assert answer_calls[-1] == [1, 2] and user_calls[-1] == [1, 2]
    assert sorted(key for call in answer_calls[:-1] for key in call) == [3, 4, 5, 6, 7]
    assert len(answer_calls) <= 3 and len(user_calls) <= 3
    assert elapsed < 1.0


def test_a_sqlite_store_is_flushed_on_the_loop_thread_that_owns_its_connection() -> None:
    connection = sqlite3.connect(":memory:")  # refuses to be used from another thread
    connection.execute("CREATE TABLE users (uid INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ann"), (2, "bob")])
    users = SqlStore(connection, "users", key_column="uid", value_column="name")

    @asynq()
    def names() -> Any:
        return (yield [users.get.asynq(1), users.get.asynq(2), users.get.asynq(3)])

    assert run(names.asyncio()) == ["ann", "bob", MISSING]
    assert users.request_count == 1
