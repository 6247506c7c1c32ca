"""Concurrent flushes: batches that opt in (``concurrent = True``) and are pending
together fetch at the same time in worker threads; their results reach the
items on the scheduler's thread.

Concurrency is proven with barriers (a fetch waits until the others are
fetching too), not with timings; benchmarks/concurrent_flush.py measures them.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asynq_batching import BatchBase, BatchItemBase, batched
from asynq_core import asynq
from asynq_core.futures import FutureIsAlreadyComputed


class Key(BatchItemBase[Any]):
    def __init__(self, batch: RemoteBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class RemoteBatch(BatchBase):
    """A batch of a Remote; records the thread of each _flush and what it saw."""

    def __init__(self, remote: Remote) -> None:
        super().__init__()
        self.remote = remote
        self.concurrent = remote.concurrent
        self.fetch_in_thread = remote.fetch_in_thread

    def _try_switch_active_batch(self) -> None:
        if self.remote.active is self:
            self.remote.active = RemoteBatch(self.remote)

    def _flush(self) -> None:
        remote = self.remote
        remote.flush_threads.append(threading.get_ident())
        if remote.barrier is not None:
            remote.barrier.wait()
        if remote.fails:
            raise ConnectionError(f"{remote.name} is down")
        for item in self.items:
            item.set_value(f"{remote.name}:{item.key}")  # type: ignore[attr-defined]
            # In capture mode the item is not computed yet, but its result is recorded.
            remote.seen_computed.append((item.is_computed(), item._computed))
            if remote.set_twice:
                try:
                    item.set_value("again")
                except FutureIsAlreadyComputed:
                    remote.second_set_refused = True


class Remote:
    def __init__(self, name: str, *, concurrent: bool = True, fetch_in_thread: bool = True) -> None:
        self.name = name
        self.concurrent = concurrent
        self.fetch_in_thread = fetch_in_thread
        self.barrier: threading.Barrier | None = None
        self.fails = False
        self.set_twice = False
        self.second_set_refused = False
        self.flush_threads: list[int] = []
        self.seen_computed: list[tuple[bool, bool]] = []
        self.active = RemoteBatch(self)

    def get(self, key: Any) -> Key:
        return Key(self.active, key)


@asynq()
def outcome(future: Any) -> Any:
    try:
        return ("ok", (yield future))
    except Exception as error:
        return ("error", error)


def test_concurrent_batches_pending_together_fetch_together() -> None:
    remotes = [Remote(name) for name in ("users", "posts", "likes")]
    barrier = threading.Barrier(3, timeout=5)
    for remote in remotes:
        remote.barrier = barrier

    @asynq()
    def page() -> Any:
        return (yield [remote.get(1) for remote in remotes])

    assert page() == ["users:1", "posts:1", "likes:1"]
    threads = {remote.flush_threads[0] for remote in remotes}
    assert threading.get_ident() not in threads
    assert len(threads) == 3


def test_results_are_captured_off_thread_and_delivered_on_the_scheduler_thread() -> None:
    first, second = Remote("first"), Remote("second")
    delivered_on: list[int] = []
    items = [first.get(1), second.get(2)]
    for item in items:
        item.on_computed.subscribe(lambda _: delivered_on.append(threading.get_ident()))

    @asynq()
    def both() -> Any:
        return (yield items)

    assert both() == ["first:1", "second:2"]
    assert delivered_on == [threading.get_ident()] * 2
    # Inside _flush (a worker thread) the item read as computed, but was not yet.
    assert first.seen_computed == [(True, False)] and second.seen_computed == [(True, False)]


def test_setting_an_item_twice_in_capture_mode_is_refused() -> None:
    first, second = Remote("first"), Remote("second")
    first.set_twice = True

    @asynq()
    def both() -> Any:
        return (yield [first.get(1), second.get(2)])

    assert both() == ["first:1", "second:2"]
    assert first.second_set_refused


def test_a_failed_fetch_fails_only_its_batch() -> None:
    healthy, broken = Remote("healthy"), Remote("broken")
    broken.fails = True

    @asynq()
    def both() -> Any:
        return (yield [outcome.asynq(healthy.get(1)), outcome.asynq(broken.get(2))])

    ok, failed = both()
    assert ok == ("ok", "healthy:1")
    assert failed[0] == "error" and isinstance(failed[1], ConnectionError)


def test_a_failing_delivery_does_not_strand_the_other_batches() -> None:
    first, second = Remote("first"), Remote("second")
    items = [first.get(1), second.get(2)]

    def broken_subscriber(_: Any) -> None:
        raise KeyboardInterrupt("subscriber failed")

    items[0].on_computed.subscribe(broken_subscriber)

    @asynq()
    def both() -> Any:
        return (yield items)

    with pytest.raises(KeyboardInterrupt, match="subscriber failed"):
        both()
    assert items[0].value() == "first:1"
    assert items[1].value() == "second:2"


def test_batches_that_do_not_opt_in_flush_on_the_scheduler_thread() -> None:
    plain = Remote("plain", concurrent=False)
    pinned = Remote("pinned", fetch_in_thread=False)
    other = Remote("other")

    @asynq()
    def three() -> Any:
        return (yield [plain.get(1), pinned.get(2), other.get(3)])

    assert three() == ["plain:1", "pinned:2", "other:3"]
    assert plain.flush_threads == [threading.get_ident()]
    assert pinned.flush_threads == [threading.get_ident()]
    assert other.flush_threads != [threading.get_ident()]


def test_concurrent_loaders_fetch_together() -> None:
    barrier = threading.Barrier(3, timeout=5)
    threads: list[int] = []

    def make(name: str) -> Any:
        @batched(concurrent=True)
        def load(keys: list[int]) -> list[str]:
            threads.append(threading.get_ident())
            barrier.wait()
            return [f"{name}:{key}" for key in keys]

        return load

    users, posts, likes = make("users"), make("posts"), make("likes")

    @asynq()
    def page() -> Any:
        return (yield [users.asynq(1), posts.asynq(2), likes.asynq(3), users.asynq(4)])

    assert page() == ["users:1", "posts:2", "likes:3", "users:4"]
    assert len(set(threads)) == 3
