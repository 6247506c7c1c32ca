"""Batches: many deferred items sent to a store in one request.

A ``BatchBase`` collects ``BatchItemBase`` futures; the scheduler flushes it
(through asynq-core's deferred-future seam: an item's ``flush_group()`` is its
batch) when no task can go on, and the batch computes every item at once.

Invariants:
- A batch is open, flushing, flushed or cancelled, in that order, and only an
  open batch accepts items. ``flush()`` starts by making a fresh batch the
  active one (``_try_switch_active_batch``), so items created while a batch
  flushes join the next batch instead of one whose request is already made.
- After ``flush()`` or ``cancel()`` every item is computed: ``_flush``'s
  errors go to the items it left unset, an item it forgot gets an
  AssertionError. The caller of ``flush()`` (usually the scheduler) never
  sees those errors, so one failed request fails only the tasks that waited
  on its items.
- Debug batches are per thread, like schedulers: the active ``DebugBatch`` of
  a name in one thread is never flushed by another.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from asynq_core import _debug
from asynq_core.futures import DeferredFuture, FutureBase
from asynq_core.scheduler import TaskScheduler

__all__ = [
    "BatchingError",
    "BatchCancelledError",
    "BatchBase",
    "BatchItemBase",
    "DebugBatch",
    "DebugBatchItem",
    "sync",
]

T_co = TypeVar("T_co", covariant=True)

_OPEN, _FLUSHING, _FLUSHED, _CANCELLED = "open", "flushing", "flushed", "cancelled"


class BatchingError(Exception):
    """Misuse of a batch (e.g. adding an item to a batch that was flushed)."""


class BatchCancelledError(BatchingError):
    """The error of the items of a batch cancelled without an error of its own."""


class BatchBase(FutureBase[None]):
    """A batch of items computed together by one ``flush()``.

    Subclasses implement ``_try_switch_active_batch()`` (make a new batch the
    active one, so that new items do not join this one) and ``_flush()``
    (compute every item with ``set_value``/``set_error``), and optionally
    ``_cancel()``. The batch itself is a future whose value is None once it
    is flushed or cancelled; yielding it waits for its flush.
    """

    def __init__(self) -> None:
        super().__init__()
        self.items: list[BatchItemBase[Any]] = []
        self._status = _OPEN

    # -- state -------------------------------------------------------------

    def is_flushed(self) -> bool:
        """True once the flush has started: the batch accepts no more items."""
        return self._status in (_FLUSHING, _FLUSHED)

    def is_cancelled(self) -> bool:
        return self._status == _CANCELLED

    def is_empty(self) -> bool:
        return not self.items

    def get_priority(self) -> Any:
        """Of the batches pending when no task can go on, the highest is flushed first."""
        return (0, len(self.items))

    # -- flushing ----------------------------------------------------------

    def flush(self) -> None:
        """Computes every item (once; later calls do nothing).

        Errors of ``_flush`` go to the items it left unset, not to the caller;
        only an error that is not an ``Exception`` (KeyboardInterrupt,
        SystemExit) is also re-raised after the items got it, so that the
        program still stops.
        """
        if self._status != _OPEN:
            return
        self._status = _FLUSHING
        fatal: BaseException | None = None
        flush_error: BaseException | None = None
        try:
            self._try_switch_active_batch()
            if self.items:
                self._flush()
        except BaseException as error:
            flush_error = error
            if not isinstance(error, Exception):
                fatal = error
        self._status = _FLUSHED
        subscriber_error = self._settle_unset_items(flush_error)
        self._mark_done()
        if fatal is not None:
            raise fatal
        if subscriber_error is not None:
            raise subscriber_error

    def _settle_unset_items(self, error: BaseException | None) -> BaseException | None:
        """Gives every item still unset ``error`` (or an AssertionError).

        Every item is settled even if an ``on_computed`` subscriber of one of
        them raises; the first such error is returned for the caller to raise.
        """
        first_subscriber_error = None
        for item in self.items:
            if item.is_computed():
                continue
            if error is None:
                item_error: BaseException = AssertionError(
                    f"{type(self).__name__}._flush() did not compute {item!r}"
                )
            else:
                item_error = error
            try:
                item.set_error(item_error)
            except Exception as subscriber_error:
                if first_subscriber_error is None:
                    first_subscriber_error = subscriber_error
        return first_subscriber_error

    def cancel(self, error: BaseException | None = None) -> None:
        """Fails every item with ``error`` (a BatchCancelledError by default).

        Does nothing on a batch already flushed or cancelled; refused while the
        batch is flushing (its request is already being made).
        """
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(
                f"{type(self).__name__}.cancel() takes an exception or None, got {error!r}"
            )
        if self._status == _FLUSHING:
            raise BatchingError(f"{self!r}.cancel(): the batch is flushing")
        if self._status != _OPEN:
            return
        self._status = _CANCELLED
        if error is None:
            error = BatchCancelledError(f"{self!r} was cancelled")
        try:
            self._try_switch_active_batch()
            self._cancel()
        finally:
            subscriber_error = self._settle_unset_items(error)
            self._mark_done()
        if subscriber_error is not None:
            raise subscriber_error

    def _mark_done(self) -> None:
        if not self._computed:
            self.set_value(None)

    # -- subclass hooks ----------------------------------------------------

    def _try_switch_active_batch(self) -> None:
        """Makes a new batch the active one if this batch is the active one."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement _try_switch_active_batch()"
        )

    def _flush(self) -> None:
        """Computes every item of ``self.items`` (called once, with items)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _flush()")

    def _cancel(self) -> None:
        """Called by ``cancel()`` before the items fail; nothing by default."""

    # -- the future side ---------------------------------------------------

    def _compute(self) -> None:
        self.flush()

    def _schedule_computation(self, scheduler: TaskScheduler) -> None:
        # A task that yields the batch itself waits for its flush.
        if not self._computed:
            scheduler.add_pending_group(self)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} at 0x{id(self):x} ({len(self.items)} items, {self._status})>"


class BatchItemBase(DeferredFuture[T_co], Generic[T_co]):
    """One request of a batch; it joins ``batch`` when created.

    ``batch`` is its batch and ``index`` its position in ``batch.items``.
    Asking its value flushes the batch.
    """

    def __init__(self, batch: BatchBase) -> None:
        if not isinstance(batch, BatchBase):
            raise TypeError(f"{type(self).__name__}() takes a BatchBase, got {batch!r}")
        if batch._status != _OPEN:
            raise BatchingError(
                f"{type(self).__name__}(): cannot add an item to {batch!r}, which is "
                f"{batch._status}; items must join the active batch "
                "(_try_switch_active_batch replaces it when a flush starts)"
            )
        super().__init__()
        self.batch = batch
        self.index = len(batch.items)
        batch.items.append(self)

    def flush_group(self) -> BatchBase:
        return self.batch

    def _compute(self) -> None:
        self.batch.flush()
        if not self._computed:
            raise BatchingError(
                f"the value of {self!r} was asked while its batch {self.batch!r} is "
                "flushing (from inside _flush?)"
            )


class DebugBatch(BatchBase):
    """A batch that needs no store: each item gets its ``result`` when flushed.

    ``name`` tells apart independent sequences of debug batches, ``index``
    counts the batches of a name in this thread.
    """

    def __init__(self, name: str = "default", index: int = 0) -> None:
        super().__init__()
        self.name = name
        self.index = index

    def _try_switch_active_batch(self) -> None:
        active = _debug_batches.active
        if active.get(self.name) is self:
            active[self.name] = DebugBatch(self.name, self.index + 1)

    def _flush(self) -> None:
        if _debug.options.DUMP_SYNC:
            from asynq_core import debug

            debug.write(f"asynq: sync flush of {self!r}")
        for item in self.items:
            if not item.is_computed():
                item.set_value(item.result)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<DebugBatch {self.name!r} #{self.index} ({len(self.items)} items, {self._status})>"


class _DebugBatches(threading.local):
    def __init__(self) -> None:
        self.active: dict[str, DebugBatch] = {}


_debug_batches = _DebugBatches()


def _active_debug_batch(name: str) -> DebugBatch:
    active = _debug_batches.active
    batch = active.get(name)
    if batch is None:
        batch = active[name] = DebugBatch(name)
    return batch


class DebugBatchItem(BatchItemBase[Any]):
    """An item of this thread's active debug batch named ``batch_name``; its value
    is ``result``."""

    def __init__(self, batch_name: str = "default", result: Any = None) -> None:
        super().__init__(_active_debug_batch(batch_name))
        self.result = result


def sync(tag: str = "default") -> DebugBatchItem:
    """A DebugBatchItem of the batch ``tag``: yielding it makes the task wait
    for the next flush of that batch, letting every other ready task run first."""
    return DebugBatchItem(tag)
