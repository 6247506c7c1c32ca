"""Shared fixtures of the tools tests.

``Store`` is a tiny batching store built on core's DeferredFuture (these tests
may not import asynq-batching): ``store.get(key)`` returns a deferred future
that joins the store's current batch, and the scheduler flushes that batch
when no task can go on. A task that yields such a future stops, so the other
tasks run before it goes on: this is how the tests interleave tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asynq_core import DeferredFuture, scheduler


class StoreBatch:
    """One batch of lookups; flushing it answers them all at once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.items: list[StoreItem] = []
        self.flushed = False

    def get_priority(self) -> int:
        return 0

    def flush(self) -> None:
        if self.flushed:
            return
        self.flushed = True
        store = self.store
        if store.current_batch is self:
            store.current_batch = None  # later lookups start a new batch
        store.flushes.append([item.key for item in self.items])
        for callback in store.on_flush:
            callback()
        for item in self.items:
            if item.key in store.data:
                item.set_value(store.data[item.key])
            else:
                item.set_error(KeyError(item.key))


class StoreItem(DeferredFuture[Any]):
    """A lookup of one key, answered when its batch is flushed."""

    def __init__(self, batch: StoreBatch, key: Any) -> None:
        super().__init__()
        self.batch = batch
        self.key = key
        batch.items.append(self)

    def flush_group(self) -> StoreBatch:
        return self.batch


class Store:
    """A dict whose lookups are batched; ``flushes`` lists the keys of each flush."""

    def __init__(self, data: dict[Any, Any] | None = None) -> None:
        self.data: dict[Any, Any] = {} if data is None else data
        self.current_batch: StoreBatch | None = None
        self.flushes: list[list[Any]] = []
        self.on_flush: list[Callable[[], None]] = []  # called at each flush

    def get(self, key: Any) -> StoreItem:
        batch = self.current_batch
        if batch is None:
            batch = self.current_batch = StoreBatch(self)
        return StoreItem(batch, key)


@pytest.fixture
def store() -> Store:
    """A store answering every key with its double (keys are ints)."""
    return Store({key: key * 2 for key in range(100)})


@pytest.fixture(autouse=True)
def fresh_scheduler() -> Any:
    """Each test starts and ends with a fresh scheduler, even after a failure."""
    scheduler.reset()
    yield
    scheduler.reset()
