"""Shared fixtures of the asynq-batching tests.

Every test gets a fresh scheduler for its thread. ``Table`` is the smallest
real use of BatchBase: a dict read through batches, one batch active at a
time, each flush logged as ``(table name, keys)``, a missing key failing its
item with KeyError, so that tests can count flushes and see what each held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import asynq_core
from asynq_batching import BatchBase, BatchItemBase
from asynq_core import _debug

FlushLog = list[tuple[str, list[Any]]]


class Lookup(BatchItemBase[Any]):
    """One key to read from a Table."""

    def __init__(self, batch: TableBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class TableBatch(BatchBase):
    def __init__(self, table: Table) -> None:
        super().__init__()
        self.table = table

    def _try_switch_active_batch(self) -> None:
        if self.table.active is self:
            self.table.active = TableBatch(self.table)

    def _flush(self) -> None:
        table = self.table
        table.log.append((table.name, [item.key for item in self.items]))  # type: ignore[attr-defined]
        if table.fail_with is not None:
            raise table.fail_with
        for item in self.items:
            key = item.key  # type: ignore[attr-defined]
            if key in table.rows:
                item.set_value(table.rows[key])
            else:
                item.set_error(KeyError(key))


class Table:
    """A dict read through batches; ``lookup(key)`` joins the active batch."""

    def __init__(self, name: str, rows: dict[Any, Any], log: FlushLog) -> None:
        self.name = name
        self.rows = rows
        self.log = log
        self.fail_with: BaseException | None = None
        self.active = TableBatch(self)

    def lookup(self, key: Any) -> Lookup:
        return Lookup(self.active, key)


@pytest.fixture(autouse=True)
def fresh_scheduler() -> Iterator[None]:
    saved_options = dict(vars(_debug.options))
    asynq_core.scheduler.reset()
    yield
    asynq_core.scheduler.reset()
    for name in list(vars(_debug.options)):
        if name not in saved_options:
            delattr(_debug.options, name)
    for name, value in saved_options.items():
        setattr(_debug.options, name, value)


@pytest.fixture(scope="session")
def table_cls() -> type[Table]:
    """The Table class, for tests that make their own logs (e.g. per hypothesis example)."""
    return Table


@pytest.fixture
def flush_log() -> FlushLog:
    """(table name, keys) of every flush, in order."""
    return []


@pytest.fixture
def make_table(flush_log: FlushLog) -> Any:
    """``make_table(name, rows)`` -> a Table logging to ``flush_log``."""

    def make(name: str, rows: dict[Any, Any]) -> Table:
        return Table(name, rows, flush_log)

    return make


@pytest.fixture
def scheduler_flushes() -> list[Any]:
    """Every batch the scheduler flushes (via on_before_batch_flush), in order."""
    flushed: list[Any] = []
    asynq_core.get_scheduler().on_before_batch_flush.subscribe(flushed.append)
    return flushed
