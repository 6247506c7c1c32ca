"""Fixtures and hooks shared by every part's tests (imports only asynq_core, which all declare).

- Under ``CI=true`` a skipped test (or a module skipped at collection) is a
  failure: CI installs every optional dependency and server, so a skip there
  means something is missing.
- Every test starts and ends with a fresh scheduler, even after a failure.
- ``Store`` is a tiny batching store built on core's DeferredFuture (for parts
  that may not import asynq-batching): ``store.get(key)`` returns a deferred
  future that joins the store's current batch, and the scheduler flushes that
  batch when no task can go on. A task that yields such a future stops, so the
  other tasks run before it goes on: this is how tests interleave tasks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asynq_core import DeferredFuture, scheduler

_IN_CI = os.environ.get("CI", "").lower() == "true"


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if _IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    _fail_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    _fail_skip(report)
    return report


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
def fresh_scheduler() -> Iterator[None]:
    """Each test starts and ends with a fresh scheduler, even after a failure."""
    scheduler.reset()
    yield
    scheduler.reset()
