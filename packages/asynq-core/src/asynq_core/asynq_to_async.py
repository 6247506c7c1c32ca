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
from native code of a scope joins that scope.

While a scope runs, ``is_asyncio_mode()`` is true (a context variable, so per
coroutine) and a synchronous call of an asynq function is refused: it would
block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar
from typing import Any

from . import scheduler as _scheduler
from .async_task import AsyncTask
from .futures import FutureBase
from .scheduler import NEW, AsyncTaskError, TaskScheduler, _describe_stall

__all__ = ["is_asyncio_mode", "run_task", "resolve_awaitables", "check_sync_call", "NativeCall"]

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


async def run_task(task: Any) -> Any:
    """Runs an AsyncTask on the running event loop and returns its value."""
    scope = _current_scope.get()
    if scope is not None and not scope.finished:
        return await scope.await_future(task)
    scope = AsyncioScope(asyncio.get_running_loop())
    token = _current_scope.set(scope)
    try:
        return await scope.run(task)
    finally:
        _current_scope.reset(token)


async def resolve_awaitables(yielded: Any) -> Any:
    """Computes a future (or a yielded structure of them) on the running loop."""

    def await_all() -> Any:
        return (yield yielded)

    return await run_task(AsyncTask(await_all(), resolve_awaitables, (), {}))


class NativeCall(FutureBase[Any]):
    """The future of an ``asyncio_fn=`` coroutine, created by ``.asynq()`` in asyncio mode.

    It starts as an asyncio task when a task of the scope waits on it; the
    scope counts it as busy until it finishes, except while it awaits asynq
    work of the same scope.
    """

    __slots__ = ("_coroutine_fn", "_args", "_kwargs", "_started", "_parked", "fn")

    def __init__(self, coroutine_fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.fn = coroutine_fn
        self._coroutine_fn = coroutine_fn
        self._args = args
        self._kwargs = kwargs
        self._started = False
        self._parked = 0

    def _schedule_computation(self, scheduler: Any) -> None:
        if self._started:
            return
        if not isinstance(scheduler, AsyncioScope):
            self._compute()
            return
        self._started = True
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
        self._ready = _WakingStack(self)
        self._loop = loop
        self._busy = 0
        self._wakeup: asyncio.Future[None] | None = None
        self.finished = False

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
                elif not self._ready:
                    raise AsyncTaskError(_describe_stall(root))
        finally:
            self.finished = True
        return root.value()

    def _step_until_stuck(self, root: Any) -> None:
        outer = _thread_state.scheduler
        _thread_state.scheduler = self
        try:
            self._run(root, None, self._step, None, None)
        finally:
            self.active_task = None
            _thread_state.scheduler = outer

    async def _sleep(self) -> None:
        self._wakeup = self._loop.create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    async def _flush_round(self) -> None:
        group = self._next_group()
        groups = [group]
        if getattr(group, "concurrent", False):
            for other in list(self._pending_groups):
                if getattr(other, "concurrent", False):
                    del self._pending_groups[other]
                    groups.append(other)
        for group in groups:
            self.on_before_batch_flush(group)
        try:
            await asyncio.gather(*(self._flush_group(group) for group in groups))
        finally:
            for group in groups:
                self.on_after_batch_flush(group)

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
        if native is not None:
            native._parked += 1
            if native._parked == 1:
                self._busy -= 1
        future._schedule_computation(self)
        self._wake()
        await waiter_future
        return future.value()


async def _await_from_outside(future: Any) -> Any:
    """Awaits a future some other scheduler computes (polling its on_computed hook)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_computed(_: Any) -> None:
        if not done.done():
            done.set_result(None)

    future.on_computed.subscribe(on_computed)
    await done
    return future.value()
