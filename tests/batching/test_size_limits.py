"""max_batch_size: a full batch is split, and all its pieces flush in the same round.

``Shelf`` is a dict read through batches of at most ``limit`` keys; every
``_flush`` and every task resuming is logged in one event list, so that the
tests can see that no task ran between the pieces of a round.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import asynq_core
from asynq_batching import BatchBase, BatchingError, BatchItemBase
from asynq_core import asynq


class ShelfItem(BatchItemBase[Any]):
    def __init__(self, batch: ShelfBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class ShelfBatch(BatchBase):
    def __init__(self, shelf: Shelf) -> None:
        super().__init__()
        self.shelf = shelf
        self.max_batch_size = shelf.limit
        self.concurrent = shelf.concurrent

    def _try_switch_active_batch(self) -> None:
        if self.shelf.active is self:
            self.shelf.active = ShelfBatch(self.shelf)

    def _flush(self) -> None:
        shelf = self.shelf
        keys = [item.key for item in self.items]  # type: ignore[attr-defined]
        shelf.events.append(f"flush {keys}")
        if shelf.barrier is not None:
            shelf.barrier.wait()
        if any(key in shelf.poison for key in keys):
            raise ConnectionError(f"cannot read {keys}")
        for item in self.items:
            item.set_value(shelf.rows[item.key])  # type: ignore[attr-defined]


class Shelf:
    def __init__(self, limit: int | None, *, concurrent: bool = False) -> None:
        self.limit = limit
        self.concurrent = concurrent
        self.rows = {key: key * 10 for key in range(100)}
        self.events: list[str] = []
        self.poison: set[int] = set()
        self.barrier: threading.Barrier | None = None
        self.active = ShelfBatch(self)

    def get(self, key: int) -> ShelfItem:
        return ShelfItem(self.active, key)


def reader(shelf: Shelf) -> Any:
    @asynq()
    def read(key: int) -> Any:
        value = yield shelf.get(key)
        shelf.events.append(f"resume {key}")
        return value

    @asynq()
    def read_all(keys: list[int]) -> Any:
        return (yield [read.asynq(key) for key in keys])

    return read_all


def flushes(events: list[str]) -> list[str]:
    return [event for event in events if event.startswith("flush")]


def test_a_full_batch_is_split_and_all_pieces_flush_before_any_task_resumes() -> None:
    shelf = Shelf(limit=3)
    flushed_groups: list[Any] = []
    asynq_core.get_scheduler().on_before_batch_flush.subscribe(flushed_groups.append)
    assert reader(shelf)([1, 2, 3, 4, 5, 6, 7]) == [10, 20, 30, 40, 50, 60, 70]
    assert shelf.events[:3] == ["flush [1, 2, 3]", "flush [4, 5, 6]", "flush [7]"]
    assert all(event.startswith("resume") for event in shelf.events[3:])
    # The scheduler saw one group: the first piece, standing for all of them.
    assert len(flushed_groups) == 1
    assert [len(piece.items) for piece in flushed_groups[0].pieces()] == [3, 3, 1]


def test_a_batch_under_the_limit_is_not_split() -> None:
    shelf = Shelf(limit=3)
    first = shelf.active
    assert reader(shelf)([1, 2]) == [10, 20]
    assert first.pieces() == [first]
    assert flushes(shelf.events) == ["flush [1, 2]"]


def test_the_next_round_starts_a_batch_of_its_own() -> None:
    shelf = Shelf(limit=2)

    @asynq()
    def two_rounds() -> Any:
        first = yield [shelf.get(1), shelf.get(2), shelf.get(3)]
        second = yield [shelf.get(4), shelf.get(5)]
        return first + second

    assert two_rounds() == [10, 20, 30, 40, 50]
    assert flushes(shelf.events) == ["flush [1, 2]", "flush [3]", "flush [4, 5]"]


def test_asking_the_value_of_an_item_of_any_piece_flushes_every_piece() -> None:
    shelf = Shelf(limit=2)
    items = [shelf.get(key) for key in range(5)]
    assert items[3].value() == 30
    assert all(item.is_computed() for item in items)
    assert flushes(shelf.events) == ["flush [0, 1]", "flush [2, 3]", "flush [4]"]
    assert all(piece.is_flushed() for piece in items[0].batch.pieces())


def test_a_failing_piece_fails_only_its_own_items() -> None:
    shelf = Shelf(limit=2)
    shelf.poison = {3}
    items = [shelf.get(key) for key in range(5)]
    items[0].value()
    assert [item.error() is None for item in items] == [True, True, False, False, True]
    assert isinstance(items[2].error(), ConnectionError)
    assert items[4].value() == 40


def test_cancelling_one_piece_cancels_every_piece() -> None:
    shelf = Shelf(limit=2)
    items = [shelf.get(key) for key in range(5)]
    items[4].batch.cancel(RuntimeError("shutting down"))
    assert all(isinstance(item.error(), RuntimeError) for item in items)
    assert all(piece.is_cancelled() for piece in items[0].batch.pieces())
    assert shelf.events == []


def test_an_item_joining_a_full_batch_is_a_clear_error() -> None:
    class Stuck(ShelfBatch):
        def _try_switch_active_batch(self) -> None:
            """Never makes a new batch active: a bug the limit reveals."""

    shelf = Shelf(limit=2)
    stuck = Stuck(shelf)
    ShelfItem(stuck, 1)
    ShelfItem(stuck, 2)
    with pytest.raises(BatchingError, match=r"is full \(max_batch_size=2\)"):
        ShelfItem(stuck, 3)


@pytest.mark.parametrize("limit", [0, -1, 2.5, "3", True])
def test_a_bad_max_batch_size_is_a_clear_error(limit: Any) -> None:
    shelf = Shelf(limit=None)
    shelf.active.max_batch_size = limit
    with pytest.raises(ValueError, match=r"ShelfBatch\.max_batch_size must be None or an int"):
        shelf.get(1)


@pytest.mark.parametrize("under_asyncio", [False, True])
def test_the_pieces_of_a_concurrent_batch_fetch_together(under_asyncio: bool) -> None:
    shelf = Shelf(limit=2, concurrent=True)
    # Each piece's fetch waits until all three are fetching: only possible together.
    shelf.barrier = threading.Barrier(3, timeout=5)
    read_all = reader(shelf)
    keys = [1, 2, 3, 4, 5]
    if under_asyncio:
        assert asyncio.run(read_all.asyncio(keys)) == [10, 20, 30, 40, 50]
    else:
        assert read_all(keys) == [10, 20, 30, 40, 50]
    assert sorted(flushes(shelf.events)) == ["flush [1, 2]", "flush [3, 4]", "flush [5]"]
    assert all(event.startswith("resume") for event in shelf.events[3:])


def test_under_asyncio_the_pieces_flush_in_one_round_too() -> None:
    shelf = Shelf(limit=3)
    keys = [1, 2, 3, 4, 5, 6, 7]
    assert asyncio.run(reader(shelf).asyncio(keys)) == [key * 10 for key in keys]
    assert shelf.events[:3] == ["flush [1, 2, 3]", "flush [4, 5, 6]", "flush [7]"]
    assert all(event.startswith("resume") for event in shelf.events[3:])
