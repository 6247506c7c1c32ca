"""The asyncio bridge: run asynq functions as coroutines, batching included.

``f.asyncio(...)`` runs the task of ``f(...)`` in an *asyncio scope*: a
scheduler of its own, stepped by the coroutine between awaits with the same
rules as the synchronous one (depth-first, contexts paused and resumed per
step). When no task of the scope can go on, the coroutine awaits:
- native work of the scope in flight (functions with ``asyncio_fn=`` run as
  asyncio tasks): until it completes, since it may add items to the batches;
- otherwise the pending group of highest priority is flushed: with its
  ``flush_async()`` if it has one, else its ``begin_flush()`` fetch runs in
  the loop's executor (the loop is not blocked) and its delivery on the loop;
  plain groups are flushed on the loop. Groups with ``concurrent = True``
  that are pending together flush together.
So ``asyncio.run(f.asyncio(...))`` makes exactly the flushes ``f(...)`` makes.

Each root ``.asyncio()`` call owns its scope: concurrent requests batch
independently and none waits for another's flush. A ``.asyncio()`` awaited
from native code of a scope joins that scope. A task shared by several calls
(``deduplicate``, a cache) runs in the scope that started it; the others wait.

A scope is observed like the synchronous scheduler of its thread: it shares
that scheduler's flush hooks and recordings (``get_scheduler()``'s
``on_before_batch_flush``, ``tracing.record()``), runs the traced step when
a debug option is on or something records, and flushes with the same hook
and tracer calls. (Recordings assume nested loops: the rounds of concurrent
scopes of one thread interleave in them.)

A call that ends before its task is computed (cancelled, e.g. by a timeout
of ``asyncio.wait_for``, or failed) fails every unfinished task of its scope
with AsyncTaskCancelledError (generator closed, waiters woken), so a task
shared with another call is never left stuck: a call already waiting on it
gets that error; a later call that looks the task up again (``deduplicate``
forgets computed tasks) runs it afresh. The scope's pending batches are
forgotten, not cancelled: other scopes may share them.

While a scope runs, ``is_asyncio_mode()`` is true (a context variable, so per
coroutine) and a synchronous call of an asynq function, or ``.value()`` of an
uncomputed task, is refused: it would block the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from contextvars import ContextVar
from typing import Any

from . import _debug, profiler
from . import async_task as _async_task  # a module: async_task may import this one
from . import scheduler as _scheduler
from .futures import FutureBase
from .scheduler import (
    NEW,
    AsyncTaskError,
    TaskScheduler,
    _describe_stall,
    _first_woken_on_top,
    _futures_in,
)

__all__ = [
    "is_asyncio_mode",
    "run_task",
    "run_call",
    "resolve_awaitables",
    "check_sync_call",
    "refuse_sync_wait",
    "NativeCall",
]

_log = logging.getLogger("asynq")

_current_scope: ContextVar[AsyncioScope | None] = ContextVar("asynq_asyncio_scope", default=None)
# The native call whose coroutine (or a task it spawned) is running, if any.
_current_native: ContextVar[NativeCall | None] = ContextVar("asynq_native_call", default=None)

_thread_state = _scheduler._state


def is_asyncio_mode() -> bool:
    """True while an asynq function runs as a coroutine (through ``.asyncio()``)."""
    return _current_scope.get() is not None


def check_sync_call(fn: Any, allow_sync_call: bool) -> None:
    """Refuses (or, with ``allow_sync_call``, logs) a synchronous call in asyncio mode."""
    message = (
        f"synchronous call of {fn!r} inside an asyncio coroutine: it would block "
        "the event loop; yield fn.asynq(...) instead"
    )
    if not allow_sync_call:
        raise RuntimeError(message)
    _log.warning(message)


def refuse_sync_wait(task: Any) -> None:
    """Refuses ``task.value()`` of an uncomputed task in asyncio mode (called by
    ``AsyncTask._compute``): the synchronous wait would block the event loop."""
    if _current_scope.get() is not None:
        raise RuntimeError(
            f"{task!r}.value() inside an asyncio coroutine: waiting synchronously would "
            "block the event loop; yield the task in an asynq function, or await "
            "run_task(task) in native code"
        )


async def run_task(task: Any) -> Any:
    """Runs an AsyncTask (or computes any other asynq future) on the running
    event loop and returns its value."""
    if not isinstance(task, FutureBase):
        raise TypeError(f"run_task() takes an asynq future (an AsyncTask), got {task!r}")
    return await _run_in_scope(lambda: task)


async def run_call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Calls ``fn(*args, **kwargs)``, which returns an asynq future, inside an
    asyncio scope (the current one, or a new one), and returns its value: the
    asynq functions ``fn`` calls run there as they would in a task."""

    def call() -> Any:
        future = fn(*args, **kwargs)
        if not isinstance(future, FutureBase):
            raise TypeError(f"{fn!r} returned {future!r}, not an asynq future")
        return future

    return await _run_in_scope(call)


async def _run_in_scope(make_future: Any) -> Any:
    scope = _current_scope.get()
    if scope is not None and not scope.finished:
        return await scope.await_future(make_future())
    scope = AsyncioScope(asyncio.get_running_loop())
    token = _current_scope.set(scope)
    try:
        future = make_future()
        if future._state is None:  # not a task (a batch item, a Future, ...): await it in one
            future = _async_task.AsyncTask(_wait_on(future), resolve_awaitables, (), {})
        return await scope.run(future)
    finally:
        _current_scope.reset(token)


def _wait_on(yielded: Any) -> Any:
    return (yield yielded)


async def resolve_awaitables(yielded: Any) -> Any:
    """Computes asynq futures on the running loop and returns what yielding them
    in a task gives.

    ``yielded`` is anything a task may yield: a future, None, or lists, tuples
    and dicts of them, nested; under asyncio, native awaitables (coroutines,
    asyncio futures) too, as in asynq 1.x.
    """

    return await run_task(_async_task.AsyncTask(_wait_on(yielded), resolve_awaitables, (), {}))


class NativeCall(FutureBase[Any]):
    """The future of an ``asyncio_fn=`` coroutine, created by ``.asynq()`` in asyncio mode.

    It starts as an asyncio task when a task of the scope waits on it; the
    scope counts it as busy until it finishes, except while it awaits asynq
    work of the same scope.
    """

    __slots__ = ("_coroutine_fn", "_args", "_kwargs", "_scope", "_parked", "fn")

    def __init__(self, coroutine_fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.fn = coroutine_fn
        self._coroutine_fn = coroutine_fn
        self._args = args
        self._kwargs = kwargs
        self._scope: AsyncioScope | None = None  # the scope that started it
        self._parked = 0

    def _schedule_computation(self, scheduler: Any) -> None:
        if self._scope is not None:
            return
        if not isinstance(scheduler, AsyncioScope):
            self._compute()
            return
        self._scope = scheduler
        scheduler._busy += 1
        # Created inside the waiting task's step: the coroutine sees the
        # context variables (and contexts) of that task.
        scheduler._loop.create_task(self._run(scheduler))

    async def _run(self, scope: AsyncioScope) -> None:
        _current_native.set(self)
        try:
            value = await self._coroutine_fn(*self._args, **self._kwargs)
        except BaseException as error:
            self.set_error(error)
        else:
            self.set_value(value)
        finally:
            if not self._parked:
                scope._busy -= 1
            scope._wake()

    def _compute(self) -> None:
        self.set_error(
            RuntimeError(
                f"{self.fn!r} was called through .asynq() in asyncio mode: its "
                "asyncio_fn coroutine can only run on the event loop of that scope"
            )
        )


class _CoroutineWaiter:
    """Wakes a coroutine awaiting a future of a scope (the waiter protocol of tasks)."""

    __slots__ = ("_pending", "_scheduler", "_future", "_native", "_scope")

    def __init__(self, future: asyncio.Future[None], scope: AsyncioScope, native: Any) -> None:
        self._pending = 1
        self._scheduler = None
        self._future = future
        self._scope = scope
        self._native = native

    def _dependency_done(self) -> None:
        self._pending -= 1
        if self._pending:
            return
        # Count the native call busy again now, not when its coroutine resumes
        # a few loop ticks later: the scope must not flush in between.
        native = self._native
        if native is not None:
            native._parked -= 1
            if native._parked == 0 and not native._computed:
                self._scope._busy += 1
        if not self._future.done():
            self._future.set_result(None)


class _WakingStack(list[Any]):
    """The ready stack of a scope: a task made ready from outside the scope's
    own steps (a flush of another scope, a native call's end) wakes the
    coroutine if it sleeps."""

    def __init__(self, scope: AsyncioScope) -> None:
        super().__init__()
        self._scope = scope

    def append(self, task: Any) -> None:
        super().append(task)
        self._scope._wake()


class AsyncioScope(TaskScheduler):
    """The scheduler of one root ``.asyncio()`` call; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        # Observed like the thread's scheduler: its hooks and recordings are shared.
        thread_scheduler = _thread_state.scheduler
        self.on_before_batch_flush = thread_scheduler.on_before_batch_flush
        self.on_after_batch_flush = thread_scheduler.on_after_batch_flush
        self._tracers = thread_scheduler._tracers
        self._ready = _WakingStack(self)
        self._loop = loop
        self._busy = 0
        self._wakeup: asyncio.Future[None] | None = None
        # Uncomputed futures native code of the scope awaits (await_future).
        self._awaited: list[Any] = []
        self.finished = False

    def _adopt_awaitables(self, yielded: Any) -> Any:
        """``yielded`` with each native awaitable (coroutine, asyncio future, ...)
        replaced by a future that awaits it on the loop, as asynq 1.x's asyncio
        mode allows; None if it holds something else that a task may not yield."""
        if isinstance(yielded, FutureBase) or yielded is None:
            return yielded
        if inspect.isawaitable(yielded):
            return NativeCall(_await, (yielded,), {})
        if isinstance(yielded, (list, tuple)):
            items = [self._adopt_awaitables(item) for item in yielded]
            pairs = zip(items, yielded, strict=True)
            if any(adopted is None and item is not None for adopted, item in pairs):
                return None
            return items if isinstance(yielded, list) else tuple(items)
        if isinstance(yielded, dict):
            adopted = {key: self._adopt_awaitables(item) for key, item in yielded.items()}
            if any(adopted[key] is None and item is not None for key, item in yielded.items()):
                return None
            return adopted
        return None

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def run(self, root: Any) -> Any:
        if root._state == NEW:
            root._schedule_computation(self)
        elif not root._computed:
            # Started elsewhere (e.g. a synchronous scheduler): wait like any waiter.
            self.finished = True
            return await _await_from_outside(root)
        try:
            while True:
                self._step_until_stuck(root)
                if root._computed:
                    break
                if self._busy > 0:
                    await self._sleep()
                elif self._pending_groups:
                    await self._flush_round()
                elif self._ready:
                    continue
                elif self._waits_on_other_scope(root):
                    await self._sleep()  # its end wakes the waiting task of this scope
                else:
                    raise AsyncTaskError(_describe_stall(root))
        except BaseException as error:
            if not root._computed:
                self._abandon(root, error)
            raise
        finally:
            self.finished = True
        return root.value()

    def _step_until_stuck(self, root: Any) -> None:
        step = self._step_traced if _debug.options.tracing or self._tracers else self._step
        outer = _thread_state.scheduler
        _thread_state.scheduler = self
        try:
            self._run(root, None, step, None, None)
        finally:
            self.active_task = None
            _thread_state.scheduler = outer

    def _waits_on_other_scope(self, root: Any) -> bool:
        """True if ``root`` (or native code of this scope) waits, through tasks, on
        a task or native call of another running scope, and on no cycle of tasks:
        that scope's progress then wakes this one; else nothing would."""
        elsewhere = False
        on_path: set[int] = set()
        visited: set[int] = set()
        for start in (root, *self._awaited):
            if start._computed or id(start) in visited or start._state is None:
                continue
            visited.add(id(start))
            on_path.add(id(start))
            path = [(start, iter(_futures_in(start._yielded)))]
            while path:
                task, waits_on = path[-1]
                for future in waits_on:
                    if id(future) in on_path:
                        return False  # a cycle: nothing will break it
                    if id(future) in visited:
                        continue
                    visited.add(id(future))
                    scope = _runner_of(future)
                    if scope is not self and isinstance(scope, AsyncioScope):
                        elsewhere = elsewhere or not scope.finished
                    if future._state is not None:  # a task, of any scheduler: its waits too
                        on_path.add(id(future))
                        path.append((future, iter(_futures_in(future._yielded))))
                        break
                else:
                    path.pop()
                    on_path.discard(id(task))
        return elsewhere

    def _abandon(self, root: Any, error: BaseException) -> None:
        """``error`` ended the call before ``root`` was computed: fails every
        unfinished task of the scope (see the module docstring)."""
        self._pending_groups.clear()
        tasks = self._unfinished_tasks(root)
        # Each is first taken off the futures it waits on, so that failing one
        # wakes no other (nor does a later flush).
        for task in tasks:
            for future in _futures_in(task._yielded):
                _drop_waiter(future, task)
        self._ready.clear()
        for task in tasks:
            cancelled = _async_task.AsyncTaskCancelledError(
                f"{task!r} was abandoned: {error!r} ended the asyncio call of {root!r}"
            )
            # Errors of the closed generator or of on_computed subscribers are
            # dropped: ``error`` is what the caller must see.
            try:
                if task._generator is not None:
                    task._generator.close()
            except BaseException:
                pass
            try:
                task._finish(None, cancelled)
            except BaseException:
                pass

    def _unfinished_tasks(self, root: Any) -> list[Any]:
        """The uncomputed tasks of this scope: queued ones, and those ``root``, the
        queued ones or native code wait on (directly or through each other)."""
        found: dict[int, Any] = {}
        to_visit = [root, *self._ready, *self._awaited]
        while to_visit:
            task = to_visit.pop()
            if task._computed or id(task) in found or getattr(task, "_scheduler", None) is not self:
                continue
            found[id(task)] = task
            to_visit.extend(_futures_in(task._yielded))
        return list(found.values())

    async def _sleep(self) -> None:
        self._wakeup = self._loop.create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    async def _flush_round(self) -> None:
        """Flushes the next group (with its concurrent peers) as ``_flush_traced``
        and ``_flush`` do: the same debug output, tracer calls and profile entry."""
        group = self._next_group()
        groups = [group, *self._take_concurrent_peers(group)]
        options = _debug.options
        if not (options.tracing or self._tracers):
            await self._flush_groups(groups)
            return
        tracers = tuple(self._tracers)
        if options.DUMP_FLUSH_BATCH:
            from . import debug

            debug.write(f"asynq: flush {debug.repr(group)}")
        for tracer in tracers:
            tracer._flush_started(group)
        error = None
        start = time.perf_counter()
        try:
            await self._flush_groups(groups)
        except BaseException as flush_error:
            error = flush_error
            raise
        finally:
            end = time.perf_counter()
            for tracer in tracers:
                tracer._flush_ended(group, start, end, error)
            if options.COLLECT_PERF_STATS:
                profiler.group_flushed(group, (end - start) * 1e6)
            del error  # the frame would otherwise keep the traceback alive

    async def _flush_groups(self, groups: list[Any]) -> None:
        """One round, with the hooks of a synchronous round of concurrent groups:
        every group is flushed even if a before-hook fails, and the first error
        is raised after the after-hooks."""
        first_error = self._before_flush(groups)
        woken_from = len(self._ready)
        # Even one group is flushed in a task of its own: it starts a loop tick
        # later, so items that other scopes add meanwhile join its batch.
        outcomes = await asyncio.gather(
            *(self._flush_group(group) for group in groups), return_exceptions=True
        )
        _first_woken_on_top(self._ready, woken_from)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                first_error = first_error or outcome
        self._after_flush(groups, first_error)

    async def _flush_group(self, group: Any) -> None:
        flush_async = getattr(group, "flush_async", None)
        work = None
        if flush_async is not None:
            work = flush_async()
        else:
            begin_flush = getattr(group, "begin_flush", None)
            if begin_flush is None:
                group.flush()
            else:
                fetch = begin_flush()
                if fetch is not None:
                    work = self._fetch_and_deliver(fetch)
        if work is not None:
            # Shielded: a group may hold items of other scopes too (batches are
            # per thread), so cancelling this scope must not abort their flush.
            await asyncio.shield(work)
        if isinstance(group, FutureBase) and not group._computed:
            # A group that is a future (a BatchBase) is computed once its flush is
            # complete; still uncomputed, it is being flushed elsewhere (by another
            # scope): wait for that delivery instead of stalling.
            await _await_from_outside(group)

    async def _fetch_and_deliver(self, fetch: Any) -> None:
        deliver = await self._loop.run_in_executor(None, fetch)
        deliver()

    async def await_future(self, future: Any) -> Any:
        """Awaits a future of this scope from native code running in it."""
        if future._computed:
            return future.value()
        waiter_future: asyncio.Future[None] = self._loop.create_future()
        native = _current_native.get()
        waiter = _CoroutineWaiter(waiter_future, self, native)
        future._add_waiter(waiter)
        self._awaited.append(future)
        if native is not None:
            native._parked += 1
            if native._parked == 1:
                self._busy -= 1
        future._schedule_computation(self)
        self._wake()
        await waiter_future
        return future.value()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _runner_of(future: Any) -> Any:
    """The scheduler that runs a started task, the scope that started a native
    call, else None."""
    if future._state is not None:
        return getattr(future, "_scheduler", None)
    return future._scope if type(future) is NativeCall else None


def _drop_waiter(future: Any, waiter: Any) -> None:
    """Takes ``waiter`` (every time it is there) off the waiters of ``future``."""
    waiters = future._waiters
    if waiters is waiter:
        future._waiters = None
    elif type(waiters) is list:
        future._waiters = [each for each in waiters if each is not waiter] or None


async def _await_from_outside(future: Any) -> Any:
    """Awaits a future some other scheduler computes (polling its on_computed hook)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_computed(_: Any) -> None:
        if not done.done():
            done.set_result(None)

    future.on_computed.subscribe(on_computed)
    await done
    return future.value()
