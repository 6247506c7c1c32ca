"""Deadlines with batches and loaders, and ``max_concurrency``: at most that many
pieces of a split batch, or requests of a store, in flight at once.

Concurrency is proven with barriers (k fetches wait until k are fetching),
never more than k by counting those in flight; deadlines with slow bulk
functions that wait for the test to let them go.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from asynq_batching import BatchBase, BatchItemBase, batched
from asynq_batching.stores import BatchedStore
from asynq_core import DeadlineExceededError, asynq, deadline, request
from asynq_core.lowlevel import remaining_time

SHORT = 0.2
EARLY = 1.5


@pytest.fixture
def released() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


class InFlight:
    """Counts the calls running at once; ``barrier`` (if any) makes each wait
    until that many are running."""

    def __init__(self, parties: int | None = None) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.barrier = None if parties is None else threading.Barrier(parties, timeout=5)

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        if self.barrier is not None:
            self.barrier.wait()

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.now -= 1


# -- deadlines and loaders ------------------------------------------------------------


def test_a_slow_loader_fails_its_callers_at_the_deadline_and_sees_the_time_left(
    released,
) -> None:
    seen: list[float | None] = []

    @batched(concurrent=True)
    def slow_users(uids: list[int]) -> dict[int, str]:
        seen.append(remaining_time())
        released.wait(10)
        return {uid: f"user{uid}" for uid in uids}

    @asynq()
    def names(uids: list[int]) -> Any:
        return (yield [slow_users.asynq(uid) for uid in uids])

    start = time.monotonic()
    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        names([1, 2])
    assert time.monotonic() - start < EARLY
    assert raised.value.batch is not None and raised.value.batch.endswith(".slow_users")
    assert seen[0] is not None and 0 < seen[0] <= SHORT


def test_a_cached_load_left_in_flight_reaches_a_later_call_of_the_request(released) -> None:
    calls: list[list[int]] = []

    @batched(cache=True, concurrent=True)
    def users(uids: list[int]) -> dict[int, str]:
        calls.append(uids)
        released.wait(10)
        return {uid: f"user{uid}" for uid in uids}

    with request():
        with pytest.raises(DeadlineExceededError), deadline(SHORT):
            users(1)
        released.set()
        assert users(1) == "user1"  # the cached item, delivered once fetched
    assert calls == [[1]]


def test_under_asyncio_a_native_load_is_cancelled_naming_its_loader(released) -> None:
    @batched()
    def slow(keys: list[int]) -> dict[int, int]:
        released.wait(10)
        return {key: key for key in keys}

    async def main() -> Any:
        with pytest.raises(DeadlineExceededError) as raised:
            with deadline(SHORT):
                await slow.asyncio(1)
        released.set()
        return raised.value

    error = asyncio.run(main())
    assert error.batch is not None and error.batch.endswith(".slow")
    assert "while its coroutine awaited @batched() " in str(error)


def test_a_native_load_of_a_shared_batch_keeps_it_unbounded(released) -> None:
    seen: list[float | None] = []

    @batched()
    def shared(keys: list[int]) -> dict[int, int]:
        seen.append(remaining_time())
        return {key: key * 2 for key in keys}

    @asynq()
    def bounded(key: int) -> Any:
        return (yield shared.asynq(key))

    async def inside() -> Any:
        with deadline(5):
            return await bounded.asyncio(1)

    async def main() -> Any:
        bounded_call = asyncio.ensure_future(inside())
        await asyncio.sleep(0)  # the call started: its task waits on key 1 next
        native = shared.asyncio(1)  # the same key, in the same round
        return await asyncio.gather(bounded_call, native)

    assert asyncio.run(main()) == [2, 2]
    assert seen == [None]  # native code without a deadline waits on it too


# -- max_concurrency: pieces of a split batch ---------------------------------------------


def test_at_most_max_concurrency_pieces_of_a_loader_fetch_at_once() -> None:
    running = InFlight(parties=3)

    @batched(max_size=2, concurrent=True, max_concurrency=3)
    def double(keys: list[int]) -> dict[int, int]:
        with running:
            return {key: key * 2 for key in keys}

    @asynq()
    def all_of(keys: list[int]) -> Any:
        return (yield [double.asynq(key) for key in keys])

    assert all_of(list(range(18))) == [key * 2 for key in range(18)]  # 9 pieces
    assert running.peak == 3


def test_max_concurrency_of_a_batch_class_bounds_its_pieces() -> None:
    running = InFlight(parties=2)

    class Doubles(BatchBase):
        active: Doubles | None = None
        max_batch_size = 1
        max_concurrency = 2
        concurrent = True

        def _try_switch_active_batch(self) -> None:
            if Doubles.active is self:
                Doubles.active = Doubles()

        def _flush(self) -> None:
            with running:
                for item in self.items:
                    item.set_value(item.key * 2)  # type: ignore[attr-defined]

    class Double(BatchItemBase[int]):
        def __init__(self, key: int) -> None:
            if Doubles.active is None:
                Doubles.active = Doubles()
            super().__init__(Doubles.active)
            self.key = key

    @asynq()
    def all_of(keys: list[int]) -> Any:
        return (yield [Double(key) for key in keys])

    assert all_of(list(range(6))) == [0, 2, 4, 6, 8, 10]
    assert running.peak == 2

    Doubles.max_concurrency = 0  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"Doubles.max_concurrency must be None or an int >= 1"):
        all_of([1, 2])


@pytest.mark.parametrize("limit", [0, -1, "2", True, 1.5])
def test_a_bad_max_concurrency_is_refused_naming_the_option(limit: Any) -> None:
    with pytest.raises(ValueError, match=r"batched\(max_concurrency=.*max_concurrency must be"):
        batched(concurrent=True, max_concurrency=limit)
    with pytest.raises(ValueError, match=r"MemoryStore: max_concurrency must be"):
        MemoryStore(max_concurrency=limit)


def test_max_concurrency_of_a_loader_needs_concurrent() -> None:
    with pytest.raises(ValueError, match=r"batched\(max_concurrency=2\) needs concurrent=True"):
        batched(max_concurrency=2)


# -- max_concurrency: requests of a store ------------------------------------------------------


class MemoryStore(BatchedStore):
    """One dict; each request runs inside ``running`` (counting those in flight)."""

    def __init__(self, running: InFlight | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.data: dict[Any, Any] = {}
        self.running = running or InFlight()

    def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
        with self.running:
            return {key: self.data[key] for key in keys if key in self.data}

    def _store(self, server: str | None, values: dict[Any, Any]) -> list[Any]:
        with self.running:
            self.data.update(values)
            return []

    def _remove(self, server: str | None, keys: list[Any]) -> None:
        with self.running:
            for key in keys:
                self.data.pop(key, None)


def test_a_stores_requests_of_a_flush_run_at_most_max_concurrency_at_once() -> None:
    store = MemoryStore(InFlight(parties=4), max_batch_size=5, max_concurrency=4)
    store.set_many({key: key * 10 for key in range(40)})  # 8 requests
    assert store.running.peak == 4
    assert store.request_count == 8
    assert store.get_many(range(40)) == {key: key * 10 for key in range(40)}
    assert store.request_count == 16


def test_without_max_concurrency_the_requests_go_one_after_another() -> None:
    store = MemoryStore(max_batch_size=5)
    store.set_many({key: key for key in range(40)})
    assert store.running.peak == 1
    assert store.request_count == 8


def test_max_concurrency_bounds_the_requests_of_a_store_across_threads() -> None:
    store = MemoryStore(InFlight(), max_batch_size=1, max_concurrency=2)
    threads = [
        threading.Thread(target=store.set_many, args=({f"{name}{i}": i for i in range(6)},))
        for name in "abc"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.running.peak <= 2
    assert len(store.data) == 18


def test_a_request_waiting_for_a_slot_past_its_deadline_fails_with_it(released) -> None:
    class Slow(MemoryStore):
        fetch_in_thread = False  # only the wait for a slot can end it early

        def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
            released.wait(10)
            return {}

    store = Slow(max_batch_size=1, max_concurrency=1)
    outcomes: list[Any] = []

    def hold_the_slot() -> None:
        outcomes.append(store.get("held"))

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    time.sleep(0.05)
    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        store.get("queued")
    released.set()
    holder.join()
    assert "passed in round 1 during Slow get of 'queued'" in str(raised.value)
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert raised.value.batch == "Slow.get"


def test_a_synchronous_call_past_its_deadline_is_named_in_the_message(released) -> None:
    @batched(concurrent=True)
    def slow(keys: list[int]) -> dict[int, int]:
        released.wait(10)
        return {key: key for key in keys}

    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        slow(1)
    assert "while <AsyncTask value(<_LoaderItem at " in str(raised.value)
