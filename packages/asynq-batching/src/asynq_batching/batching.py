"""Batches: many deferred items sent to a store in one request.

A ``BatchBase`` collects ``BatchItemBase`` futures; the scheduler flushes it
(through asynq-core's deferred-future seam: an item's ``flush_group()`` is its
batch) when no task can go on, and the batch computes every item at once.

Invariants:
- A batch is open, flushing, flushed or cancelled, in that order, and only an
  open batch accepts items (and a flushing one from its own ``_flush``, which
  may also cancel it, as asynq 1.x allows). ``flush()`` starts by making a fresh batch the
  active one (``_try_switch_active_batch``), so items created while a batch
  flushes join the next batch instead of one whose request is already made.
- After ``flush()`` or ``cancel()`` every item is computed: ``_flush``'s
  errors go to the items it left unset, an item it forgot gets an
  AssertionError. The caller of ``flush()`` (usually the scheduler) never
  sees those errors, so one failed request fails only the tasks that waited
  on its items.
- Debug batches are per thread, like schedulers: the active ``DebugBatch`` of
  a name in one thread is never flushed by another.

Beyond asynq 1.6 (the optional parts of core's FlushGroup protocol):
- ``begin_flush()`` lets a flush fetch off the scheduler's thread (under
  asyncio in the loop's executor, with ``concurrent = True`` in a thread pool
  next to other batches): ``_flush`` then runs in *capture mode*, where
  ``set_value``/``set_error`` on the batch's items only record the results,
  and the delivery applies them on the scheduler's thread. Nothing of the
  scheduler's state is touched from another thread.
- ``max_batch_size``: a batch that reaches it is split: its
  ``_try_switch_active_batch`` makes the next piece active, and the pieces
  stay linked (the new batch created during that call is the next piece).
  The pieces are one flush group (the first piece); flushing any piece
  flushes all of them at once, so no task runs between them, and with
  ``concurrent = True`` their fetches run together (at most
  ``max_concurrency`` at once, if set). Every piece of a split
  batch leaves the open state at the same time (flushed or cancelled
  together); the first piece is marked done last, once every piece is.
- A subclass may define ``async def _flush_async(self)`` for asyncio clients:
  ``flush_async`` (what the asyncio domain uses) exists only then.
- Record and replay (``asynq_core.tracing``): a subclass whose items each ask
  for a key says which (``_replay_key(item)``); the batch then reports what
  each key got (``captured_results``, one result per key, the first item's)
  and can be served recorded results instead of flushing (``serve_recorded``:
  its pieces close as a flush closes them, every item gets its key's result,
  and they end flushed). Without ``_replay_key`` a batch is neither recorded
  nor served: a replay flushes it as usual.
- ``.value()`` of an item outside a task flushes its batch through core's
  ``flush_now``: a round of its own for recordings and replays.
- ``_flush`` runs in the context of the flush (a copy of it in the pieces'
  worker threads), so that ``asynq_core.lowlevel.remaining_time()`` there
  is the time the flush is given under a deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from asynq_core import debug
from asynq_core.futures import DeferredFuture, FutureBase, FutureIsAlreadyComputed
from asynq_core.lowlevel import GroupRegistry, flush_now, options, provide_debug_sync

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

    Class attributes a subclass may set:
    - ``max_batch_size``: None (no limit) or the number of items after which
      the batch is split (see the module docstring). For the pieces to be
      linked, ``_try_switch_active_batch`` must create the next batch then,
      not lazily on the next request.
    - ``concurrent = True``: its fetch may run in a thread at the same time as
      other batches' (and its pieces' fetches run together).
    - ``max_concurrency``: None (no limit) or how many of its pieces may fetch
      at the same time (Stitch's maxConcurrency), when they run together.
    - ``fetch_in_thread = False``: ``_flush`` must run on the scheduler's
      thread (e.g. its client is a sqlite3 connection, or not safe to use
      from two threads): it then never fetches in a worker thread, and under
      asyncio blocks the loop while it runs.
    - ``async def _flush_async(self)``: the flush used under asyncio.
    - ``def _replay_key(self, item)``: the key ``item`` asks for, which makes
      the batch recorded by ``record(capture=True)`` and served by ``replay``
      (see the module docstring); ``_replay_result(item)`` and
      ``_replay_apply(item, value, error)`` say how an item's result is
      recorded and given back, if not as its value or error.
    - ``queue``: an object shared by the successive batches of one source
      (core's ``FlushGroup``; a loader's batches share it), None if none.
    """

    max_batch_size: int | None = None
    max_concurrency: int | None = None
    concurrent: bool = False
    fetch_in_thread: bool = True
    _flush_async: Callable[..., Awaitable[None]] | None = None
    _replay_key: Callable[..., Any] | None = None
    queue: Any = None
    _cancelled_in_flush = False  # cancel() was called by the batch's own _flush

    def __init__(self) -> None:
        super().__init__()
        self.items: list[BatchItemBase[Any]] = []
        self._status = _OPEN
        # The pieces of a split batch, shared by all of them (None: not split).
        self._pieces: list[BatchBase] | None = None
        # While a fetch runs off-thread: id(item) -> (item, value, error).
        self._captured: dict[int, tuple[Any, Any, BaseException | None]] | None = None
        full = _splitting.batch
        if full is not None:
            # Created by the _try_switch_active_batch of a full batch: its next piece.
            _splitting.batch = None
            pieces = full._pieces
            if pieces is None:
                pieces = full._pieces = [full]
            pieces.append(self)
            self._pieces = pieces

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

    def pieces(self) -> list[BatchBase]:
        """The pieces of this batch if it was split by ``max_batch_size``, else ``[self]``."""
        return [self] if self._pieces is None else list(self._pieces)

    # -- flushing ----------------------------------------------------------

    def flush(self) -> None:
        """Computes every item (once; later calls do nothing), and those of the
        other pieces if the batch was split.

        Errors of ``_flush`` go to the items it left unset, not to the caller;
        only an error that is not an ``Exception`` (KeyboardInterrupt,
        SystemExit) is also re-raised after the items got it, so that the
        program still stops.
        """
        if self._status != _OPEN:
            return
        pieces = self.pieces()
        if len(pieces) > 1 and self.concurrent and self.fetch_in_thread:
            fetch = self._begin_flush()
            if fetch is not None:
                fetch()()
            return
        errors = [piece._start_flush() for piece in pieces]
        _run_pieces(pieces, errors)
        _finish_pieces(pieces, errors)

    @property
    def begin_flush(self) -> Callable[[], Callable[[], Callable[[], None]] | None]:
        """Starts the flush on the scheduler's thread and returns ``fetch`` (see
        core's ``FlushGroup``), or None if the batch is not open.

        ``fetch()`` runs ``_flush`` of every piece in capture mode (the pieces
        together if the batch is ``concurrent``) and never raises; the
        ``deliver()`` it returns, called on the scheduler's thread, computes
        the items and raises what ``flush()`` would raise. Exists only if
        ``fetch_in_thread`` is true: the scheduler otherwise calls ``flush()``.
        """
        if not self.fetch_in_thread:
            raise AttributeError(
                f"{type(self).__name__} has no begin_flush: its fetch_in_thread is false"
            )
        return self._begin_flush

    def _begin_flush(self) -> Callable[[], Callable[[], None]] | None:
        if self._status != _OPEN:
            return None
        pieces = self.pieces()
        errors = [piece._start_flush() for piece in pieces]

        def deliver() -> None:
            _finish_pieces(pieces, errors)

        for piece, error in zip(pieces, errors, strict=True):
            if error is None and piece.items:
                piece._captured = {}
        together = self.concurrent and len(pieces) > 1

        def fetch() -> Callable[[], None]:
            if together:
                _run_pieces_together(pieces, errors)
            else:
                _run_pieces(pieces, errors)
            return deliver

        return fetch

    @property
    def flush_async(self) -> Callable[[], Coroutine[Any, Any, None]]:
        """The flush used under asyncio: calling it closes the batch (like the
        start of a synchronous flush) and returns the coroutine that flushes
        it. Exists only if the subclass defines ``async def
        _flush_async(self)`` (else asyncio runs the fetch of ``begin_flush``
        in the loop's executor)."""
        if type(self)._flush_async is None:
            raise AttributeError(
                f"{type(self).__name__} has no flush_async: it defines no async _flush_async()"
            )
        return self._flush_pieces_async

    def _flush_pieces_async(self) -> Coroutine[Any, Any, None]:
        # Closed now, not when the coroutine starts: a key requested meanwhile
        # goes to the next batch, as it would once a synchronous flush began.
        if self._status != _OPEN:
            return _nothing_to_flush()
        if self._pieces is None:
            return _flush_pieces_on_loop([self], [self._start_flush()], False)
        pieces = self.pieces()
        errors = [piece._start_flush() for piece in pieces]
        return _flush_pieces_on_loop(pieces, errors, self.concurrent)

    def _start_flush(self) -> BaseException | None:
        """On the scheduler's thread: closes the batch and makes a fresh one active.

        Returns the error of ``_try_switch_active_batch`` (it goes to the items).
        """
        self._status = _FLUSHING
        try:
            self._try_switch_active_batch()
        except BaseException as error:
            return error
        return None

    def _run_flush(self) -> BaseException | None:
        """Runs ``_flush`` (in any thread); returns its error."""
        if not self.items:
            return None
        running = _in_flush.batch
        _in_flush.batch = self
        try:
            self._flush()
        except BaseException as error:
            return error
        finally:
            _in_flush.batch = running
        return None

    def _finish_flush(
        self, flush_error: BaseException | None, mark_done: bool
    ) -> BaseException | None:
        """On the scheduler's thread: applies the captured results, gives every
        item still unset ``flush_error`` (or an AssertionError), and marks the
        batch flushed. Returns the error the caller must raise, if any."""
        captured = self._captured
        first_error: BaseException | None = None
        if captured is not None:
            self._captured = None
            for item, value, error in captured.values():
                try:
                    if error is None:
                        FutureBase.set_value(item, value)
                    else:
                        FutureBase.set_error(item, error)
                except Exception as subscriber_error:
                    if first_error is None:
                        first_error = subscriber_error
        self._status = _CANCELLED if self._cancelled_in_flush else _FLUSHED
        unset_error = self._settle_unset_items(flush_error)
        if first_error is None:
            first_error = unset_error
        if mark_done:
            done_error = self._mark_done()
            if first_error is None:
                first_error = done_error
        if flush_error is not None and not isinstance(flush_error, Exception):
            return flush_error
        return first_error

    def _capture(self, item: Any, value: Any, error: BaseException | None) -> None:
        captured = self._captured
        assert captured is not None
        if item._computed or id(item) in captured:
            raise FutureIsAlreadyComputed(item)
        captured[id(item)] = (item, value, error)

    def _settle_unset_items(self, error: BaseException | None) -> BaseException | None:
        """Gives every item still unset ``error`` (or an AssertionError).

        Every item is settled even if an ``on_computed`` subscriber of one of
        them raises; the first such error is returned for the caller to raise.
        """
        first_subscriber_error = None
        for item in self.items:
            if item._computed:
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

        Does nothing on a batch already flushed or cancelled. While the batch
        is flushing, only its own ``_flush`` may cancel it (as asynq 1.x
        allows, e.g. when its store is down): the items it has not set get
        ``error`` and the batch ends cancelled; from elsewhere it is refused
        (the request is already being made). Cancelling a piece of a split
        batch cancels every piece. An ``error`` that is not an exception
        (which asynq 1.x stores as it is) gives the items a TypeError saying so.
        """
        if error is not None and not isinstance(error, BaseException):
            error = TypeError(
                f"{type(self).__name__}.cancel() takes an exception or None, got {error!r}"
            )
        if self._status == _FLUSHING:
            if _in_flush.batch is not self:
                raise BatchingError(f"{self!r}.cancel(): the batch is flushing")
            self._cancel_in_flush(error)
            return
        if self._status != _OPEN:
            return
        if error is None:
            error = BatchCancelledError(f"{self!r} was cancelled")
        pieces = self.pieces()
        for piece in pieces:
            piece._status = _CANCELLED
        raised: list[BaseException | None] = []
        for piece in pieces:
            try:
                piece._try_switch_active_batch()
                piece._cancel()
            except BaseException as cancel_error:
                raised.append(cancel_error)
            raised.append(piece._settle_unset_items(error))
            if piece is not pieces[0]:
                raised.append(piece._mark_done())
        raised.append(pieces[0]._mark_done())
        first_error = next((error for error in raised if error is not None), None)
        if first_error is not None:
            raise first_error

    def _cancel_in_flush(self, error: BaseException | None) -> None:
        """``cancel()`` called by this batch's own ``_flush``: the items not set
        yet get ``error``; the flush goes on, and the batch ends cancelled."""
        if error is None:
            error = BatchCancelledError(f"{self!r} was cancelled while flushing")
        self._cancelled_in_flush = True
        self._cancel()
        for item in self.items:
            if not item.is_computed():
                item.set_error(error)

    def _mark_done(self) -> BaseException | None:
        """Computes the batch itself; returns the error of an ``on_computed``
        subscriber, if one raised (every subscriber still ran)."""
        if not self._computed:
            try:
                self.set_value(None)
            except Exception as subscriber_error:
                return subscriber_error
        return None

    # -- record and replay (core's FlushGroup) -------------------------------

    def captured_results(self) -> list[tuple[Any, Any, BaseException | None]] | None:
        """After the flush, ``(key, value, error)`` for each key of every piece,
        in the order of the items (the first item of a key speaks for it);
        None without ``_replay_key``."""
        replay_key = self._replay_key
        if replay_key is None:
            return None
        results: dict[Any, tuple[Any, BaseException | None]] = {}
        for piece in self.pieces():
            for item in piece.items:
                if item._computed:
                    key = replay_key(item)
                    if key not in results:
                        results[key] = piece._replay_result(item)
        return [(key, value, error) for key, (value, error) in results.items()]

    def serve_recorded(self, result_of: Callable[[Any], tuple[Any, BaseException | None]]) -> bool:
        """Computes every item of every piece from ``result_of(key)`` (asked once
        per key) instead of flushing; the batch ends flushed. False, touching
        nothing, without ``_replay_key``."""
        replay_key = self._replay_key
        if replay_key is None:
            return False
        if self._status != _OPEN:
            return True
        pieces = self.pieces()
        errors = [piece._start_flush() for piece in pieces]
        served: dict[Any, tuple[Any, BaseException | None]] = {}
        for index, piece in enumerate(pieces):
            if errors[index] is not None:
                continue
            try:
                for item in piece.items:
                    if item._computed:
                        continue
                    key = replay_key(item)
                    result = served.get(key)
                    if result is None:
                        result = served[key] = result_of(key)
                    piece._replay_apply(item, *result)
            except BaseException as error:
                errors[index] = error
        _finish_pieces(pieces, errors)
        return True

    def _replay_result(self, item: BatchItemBase[Any]) -> tuple[Any, BaseException | None]:
        """What ``item`` got, as recorded: its value and error."""
        return item._value, item._error

    def _replay_apply(self, item: BatchItemBase[Any], value: Any, error: Any) -> None:
        """Gives ``item`` a recorded result."""
        if error is None:
            item.set_value(value)
        else:
            item.set_error(error)

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
        flush_now(self if self._pieces is None else self._pieces[0])

    def _schedule_computation(self, scheduler: GroupRegistry) -> None:
        # A task that yields the batch itself waits for its flush (of all its pieces).
        if not self._computed:
            scheduler.add_pending_group(self if self._pieces is None else self._pieces[0])

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} at 0x{id(self):x} ({len(self.items)} items, {self._status})>"


_future_set_error = FutureBase.set_error


def _check_size(where: str, value: Any, *, optional: bool = False) -> None:
    """Raises ValueError unless ``value`` is an int >= 1 (not a bool), or None if
    ``optional``; ``where`` names the function and option in the message."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        none = "None or " if optional else ""
        raise ValueError(f"{where} must be {none}an int >= 1, got {value!r}")


class _Splitting(threading.local):
    """The batch whose ``_try_switch_active_batch`` runs because it is full."""

    batch: BatchBase | None = None


_splitting = _Splitting()


class _InFlush(threading.local):
    """The batch whose ``_flush`` runs in this thread (it may cancel itself
    and add items to itself, as asynq 1.x allows)."""

    batch: BatchBase | None = None


_in_flush = _InFlush()


def _run_pieces(pieces: list[BatchBase], errors: list[BaseException | None]) -> None:
    """Runs ``_flush`` of each started piece, in order, recording its error.

    After an error that must stop the program (not an Exception) the later
    pieces do not run: they get that error.
    """
    fatal: BaseException | None = None
    for index, piece in enumerate(pieces):
        if errors[index] is not None:
            continue
        if fatal is not None:
            errors[index] = fatal
            continue
        error = errors[index] = piece._run_flush()
        if error is not None and not isinstance(error, Exception):
            fatal = error


def _run_pieces_together(pieces: list[BatchBase], errors: list[BaseException | None]) -> None:
    """Runs ``_flush`` of the started pieces at the same time (at most the
    batch's ``max_concurrency`` at once), in this thread and the pieces' pool."""
    started = [index for index, error in enumerate(errors) if error is None]
    limit = pieces[0].max_concurrency
    try:
        _check_size(f"{type(pieces[0]).__name__}.max_concurrency", limit, optional=True)
    except ValueError as bad_limit:  # the items get it: a fetch never raises
        for index in started:
            errors[index] = bad_limit
        return
    outcomes = _run_together([pieces[index]._run_flush for index in started], limit)
    for index, outcome in zip(started, outcomes, strict=True):
        errors[index] = outcome


_Outcome = TypeVar("_Outcome")


def _run_together(
    jobs: Sequence[Callable[[], _Outcome]], limit: int | None
) -> list[_Outcome | None]:
    """Runs ``jobs`` (which do not raise) at the same time, at most ``limit`` at
    once (None: all), in this thread and the pieces' pool, each worker in a
    copy of this thread's context; returns their results, in order.

    This thread works too, so the jobs finish even when the pool is busy.
    """
    count = len(jobs)
    results: list[_Outcome | None] = [None] * count
    workers = count if limit is None else min(limit, count)
    claimed = [0]
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = claimed[0]
                claimed[0] = index + 1
            if index >= count:
                return
            results[index] = jobs[index]()

    running = []
    for _ in range(workers - 1):
        try:
            running.append(_piece_pool().submit(contextvars.copy_context().run, work))
        except RuntimeError:  # the interpreter is shutting down: this thread does it
            break
    work()
    for future in running:
        future.result()
    return results


async def _nothing_to_flush() -> None:
    pass


async def _flush_pieces_on_loop(
    pieces: list[BatchBase], errors: list[BaseException | None], concurrent: bool
) -> None:
    """Awaits ``_flush_async`` of each started piece (all at once if
    ``concurrent``), then settles the pieces."""
    if len(pieces) == 1:
        # A batch not split (the common case) is awaited here: no coroutine per piece.
        piece = pieces[0]
        if errors[0] is None and piece.items:
            try:
                await piece._flush_async()  # type: ignore[misc]
            except BaseException as error:
                errors[0] = error
        _finish_pieces(pieces, errors)
        return

    async def run(index: int) -> None:
        piece = pieces[index]
        if errors[index] is None and piece.items:
            try:
                await piece._flush_async()  # type: ignore[misc]
            except BaseException as error:
                errors[index] = error

    if concurrent:
        await asyncio.gather(*(run(index) for index in range(len(pieces))))
    else:
        for index in range(len(pieces)):
            await run(index)
    _finish_pieces(pieces, errors)


def _finish_pieces(pieces: list[BatchBase], errors: list[BaseException | None]) -> None:
    """Settles every piece (the first one marked done last, so that whoever
    waits on the group sees all of them done) and raises the first error that
    must reach the caller."""
    if len(pieces) == 1:  # a batch not split: its own error is the one to raise
        error = pieces[0]._finish_flush(errors[0], mark_done=True)
        if error is not None:
            raise error
        return
    to_raise = [
        piece._finish_flush(error, mark_done=index > 0)
        for index, (piece, error) in enumerate(zip(pieces, errors, strict=True))
    ]
    to_raise.append(pieces[0]._mark_done())
    first = None
    for error in to_raise:
        if error is None:
            continue
        if not isinstance(error, Exception):
            raise error  # the first one that must stop the program goes first
        if first is None:
            first = error
    if first is not None:
        raise first


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _piece_pool() -> concurrent.futures.ThreadPoolExecutor:
    """Worker threads for the pieces of concurrent split batches. Separate from
    core's flush pool, whose workers wait on these: they never wait on each other."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asynq-piece")
    return _pool


class BatchItemBase(DeferredFuture[T_co], Generic[T_co]):
    """One request of a batch; it joins ``batch`` when created.

    ``batch`` is its batch and ``index`` its position in ``batch.items``.
    Asking its value flushes the batch. Its flush group is its batch, or the
    first piece if the batch was split.
    """

    # Slots, not a dict per item: a batch holds one item per key, and a
    # subclass without __slots__ still gets a dict for its own attributes.
    __slots__ = ("batch", "index")

    def __init__(self, batch: BatchBase) -> None:
        if not isinstance(batch, BatchBase):
            raise TypeError(f"{type(self).__name__}() takes a BatchBase, got {batch!r}")
        limit = batch.max_batch_size
        if batch._status != _OPEN:
            # Only its own _flush may add to a flushing batch (as asynq 1.x
            # allows): the item gets what _flush sets, and is never split off.
            if batch._status != _FLUSHING or _in_flush.batch is not batch:
                raise BatchingError(
                    f"{type(self).__name__}(): cannot add an item to {batch!r}, which is "
                    f"{batch._status}; items must join the active batch "
                    "(_try_switch_active_batch replaces it when a flush starts)"
                )
            limit = None
        if limit is not None:
            if not batch.items:  # checked once per batch, by its first item
                _check_size(f"{type(batch).__name__}.max_batch_size", limit, optional=True)
            if len(batch.items) >= limit:
                raise BatchingError(
                    f"{type(self).__name__}(): {batch!r} is full (max_batch_size={limit}); "
                    "its _try_switch_active_batch must make a new batch the active one"
                )
        # FutureBase.__init__, inlined: this runs once per lookup.
        self._computed = False
        self._value = None
        self._error = None
        self._waiters = None
        self._on_computed = None
        self.batch = batch
        self.index = len(batch.items)
        batch.items.append(self)
        if limit is not None and self.index + 1 >= limit:
            _splitting.batch = batch
            try:
                batch._try_switch_active_batch()
            finally:
                _splitting.batch = None

    def flush_group(self) -> BatchBase:
        batch = self.batch
        return batch if batch._pieces is None else batch._pieces[0]

    def _schedule_computation(self, scheduler: GroupRegistry) -> None:
        # DeferredFuture's, with flush_group() inlined: this runs once per lookup.
        batch = self.batch
        scheduler.add_pending_group(batch if batch._pieces is None else batch._pieces[0])

    # While the batch fetches off-thread (begin_flush), results are captured
    # and delivered later on the scheduler's thread; otherwise this is the hot
    # path of every flush, hence FutureBase's code inlined or called directly.
    def set_value(self, value: Any) -> None:
        if self.batch._captured is not None:
            self.batch._capture(self, value, None)
            return
        if self._computed:
            raise FutureIsAlreadyComputed(self)
        # FutureBase.set_value, inlined: this runs once per lookup.
        self._value = value
        self._computed = True
        if self._waiters is not None or self._on_computed is not None:
            self._notify()

    def set_error(self, error: BaseException) -> None:
        batch = self.batch
        if batch._captured is None:
            _future_set_error(self, error)
        elif not isinstance(error, BaseException):
            raise TypeError(f"{type(self).__name__}.set_error() takes an exception, got {error!r}")
        else:
            batch._capture(self, None, error)

    def is_computed(self) -> bool:
        """True once computed, or (while its batch fetches off-thread) once its
        result is recorded."""
        if self._computed:
            return True
        captured = self.batch._captured
        return captured is not None and id(self) in captured

    def _compute(self) -> None:
        if _in_flush.batch is self.batch:
            flush_now(self.flush_group())  # a no-op: it is flushing (the error below says so)
        else:
            # Flushes the batch (all its pieces) through flush_now, or under a
            # deadline has the scheduler do it, or waits for a flush a round
            # left in flight.
            DeferredFuture._compute(self)
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

    # No I/O: flushing in place costs less than a hop to a worker thread.
    fetch_in_thread = False

    def __init__(self, name: str = "default", index: int = 0) -> None:
        super().__init__()
        self.name = name
        self.index = index

    def _try_switch_active_batch(self) -> None:
        active = _debug_batches.active
        if active.get(self.name) is self:
            active[self.name] = DebugBatch(self.name, self.index + 1)

    def _flush(self) -> None:
        if options.DUMP_SYNC:
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
    try:
        batch = active.get(name)
    except TypeError:
        raise TypeError(
            f"DebugBatchItem(): the batch name must be hashable (a str), got {name!r}"
        ) from None
    if batch is None:
        batch = active[name] = DebugBatch(name)
    elif batch._status != _OPEN:  # flushed by another thread, which could not replace it
        batch = active[name] = DebugBatch(name, batch.index + 1)
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


# asynq 1.x's debug.sync() is this function (core cannot make batch items).
provide_debug_sync(sync)
