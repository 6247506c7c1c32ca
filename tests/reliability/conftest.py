"""Shared fixtures of the reliability tests (cross-cutting: any part may be imported).

- Every test starts and ends with a fresh scheduler for its thread (the root
  conftest), empty profiler entries, no active debug batches and the debug
  options it found.
- ``Table`` is a dict read through a real ``BatchBase`` subclass: one active
  batch per table, each flush logged as ``(table name, keys)``; a missing
  key fails its item with KeyError, ``fail_with`` makes ``_flush`` raise and
  ``leave_unset`` makes it forget some keys, so tests can count flushes and
  break them on purpose. Tests get the classes through session fixtures
  (test modules cannot import this file under ``--import-mode=importlib``).
- ``run_with_timeout`` runs a callable in a daemon thread and fails the test
  if it does not return in time: a hang becomes a failure, not a stuck CI job.
- The hypothesis profile ``reliability`` (smaller under ``CI=true``) keeps the
  whole directory well under two minutes on two cores; it is applied per test
  with ``@settings(parent=...)`` so other directories keep their own settings.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from asynq_batching import BatchBase, BatchItemBase, batching
from asynq_core import _debug, profiler

FlushLog = list[tuple[str, list[Any]]]

_IN_CI = os.environ.get("CI", "").lower() == "true"

settings.register_profile(
    "reliability",
    max_examples=60 if _IN_CI else 120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scale: a large workload (a million tasks, a deep chain); runs in CI"
    )


class Lookup(BatchItemBase[Any]):
    """One key to read from a Table."""

    def __init__(self, batch: TableBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key

    def __repr__(self) -> str:
        return f"<Lookup {self.batch.table.name}[{self.key!r}]>"  # type: ignore[attr-defined]


class TableBatch(BatchBase):
    """The batch of a Table; flushing it answers every lookup at once."""

    def __init__(self, table: Table) -> None:
        super().__init__()
        self.table = table

    def _try_switch_active_batch(self) -> None:
        if self.table.active is self:
            self.table.active = TableBatch(self.table)

    def _flush(self) -> None:
        table = self.table
        keys = [item.key for item in self.items]  # type: ignore[attr-defined]
        table.log.append((table.name, keys))
        if table.fail_with is not None:
            raise table.fail_with
        for item in self.items:
            key = item.key  # type: ignore[attr-defined]
            if key in table.leave_unset:
                continue
            if key in table.rows:
                item.set_value(table.rows[key])
            else:
                item.set_error(KeyError(key))

    def __repr__(self) -> str:
        return f"<TableBatch {self.table.name} ({len(self.items)} items, {self._status})>"


class Table:
    """A dict read through batches; ``lookup(key)`` joins the active batch."""

    def __init__(self, name: str, rows: dict[Any, Any], log: FlushLog | None = None) -> None:
        self.name = name
        self.rows = rows
        self.log: FlushLog = [] if log is None else log
        self.fail_with: BaseException | None = None
        self.leave_unset: frozenset[Any] = frozenset()
        self.active = TableBatch(self)

    def lookup(self, key: Any) -> Lookup:
        return Lookup(self.active, key)

    def flush_count(self) -> int:
        return len(self.log)


def _restore_options(saved: dict[str, Any]) -> None:
    options = _debug.options
    for name in list(vars(options)):
        if name not in saved:
            delattr(options, name)
    for name, value in saved.items():
        setattr(options, name, value)


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    saved_options = dict(vars(_debug.options))  # the root conftest resets the scheduler
    profiler.reset()
    batching._debug_batches.active.clear()
    yield
    profiler.reset()
    batching._debug_batches.active.clear()
    _restore_options(saved_options)


@pytest.fixture(scope="session")
def table_cls() -> type[Table]:
    """The Table class, for tests that make tables per hypothesis example or per thread."""
    return Table


@pytest.fixture
def make_table() -> Callable[..., Table]:
    """``make_table(name, rows, log=None)`` -> a Table (logging to ``log`` if given)."""
    return Table


def _run_with_timeout(fn: Callable[[], Any], timeout: float = 10.0) -> tuple[str, Any]:
    """Runs ``fn()`` in a daemon thread; ("ok", value) or ("error", exception).

    Fails the calling test if ``fn`` has not returned after ``timeout`` seconds.
    """
    outcome: list[tuple[str, Any]] = []

    def target() -> None:
        try:
            outcome.append(("ok", fn()))
        except BaseException as error:
            outcome.append(("error", error))

    thread = threading.Thread(target=target, name="reliability-timeout", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{fn!r} did not return within {timeout} s: the scheduler hangs")
    return outcome[0]


@pytest.fixture(scope="session")
def run_with_timeout() -> Callable[..., tuple[str, Any]]:
    """``run_with_timeout(fn, timeout=10.0)`` -> ("ok", value) or ("error", exception)."""
    return _run_with_timeout
