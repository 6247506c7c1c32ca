"""Shared fixtures of the asynq-generator tests.

``store`` is a fake key-value store behind a counting flush group of deferred
futures (the seam asynq-batching plugs into, used here without it): every
``store.item(key)`` joins the store's open batch, a flush computes the whole
batch at once (``key * 10``, or KeyError for keys in ``store.missing``) and
is recorded in ``store.flushes``, so a test can tell how the async work of
the generator steps was batched. ``fetch`` is an asynq function reading it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import asynq_core
from asynq_core import asynq
from asynq_core.futures import DeferredFuture


class StoreItem(DeferredFuture[Any]):
    """One key read from the store: computed when its batch is flushed."""

    __slots__ = ("batch", "key")

    def __init__(self, batch: StoreBatch, key: Any) -> None:
        super().__init__()
        self.batch = batch
        self.key = key

    def flush_group(self) -> StoreBatch:
        return self.batch

    def __repr__(self) -> str:
        return f"<StoreItem {self.key!r}>"


class StoreBatch:
    """The keys asked for since the last flush; flushed once, as one request."""

    def __init__(self, store: CountingStore) -> None:
        self.store = store
        self.items: list[StoreItem] = []
        self.flushed = False

    def get_priority(self) -> Any:
        return (0, len(self.items))

    def flush(self) -> None:
        if self.flushed:
            return
        self.flushed = True
        store = self.store
        if store.open_batch is self:
            store.open_batch = None
        store.flushes.append([item.key for item in self.items])
        for item in self.items:
            if item.key in store.missing:
                item.set_error(KeyError(item.key))
            else:
                item.set_value(item.key * 10)


class CountingStore:
    def __init__(self) -> None:
        self.flushes: list[list[Any]] = []
        self.missing: set[Any] = set()
        self.open_batch: StoreBatch | None = None

    def item(self, key: Any) -> StoreItem:
        batch = self.open_batch
        if batch is None:
            batch = self.open_batch = StoreBatch(self)
        item = StoreItem(batch, key)
        batch.items.append(item)
        return item


@pytest.fixture(autouse=True)
def fresh_scheduler() -> Iterator[None]:
    asynq_core.scheduler.reset()
    yield
    asynq_core.scheduler.reset()


@pytest.fixture
def make_store() -> type[CountingStore]:
    """Makes fresh stores (for tests that need several, e.g. one per hypothesis example)."""
    return CountingStore


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def fetch(store: CountingStore) -> Callable[..., Any]:
    """``fetch(key)``: an asynq function reading ``key`` from ``store`` (batched)."""

    @asynq()
    def fetch(key: Any) -> Any:
        return (yield store.item(key))

    return fetch
