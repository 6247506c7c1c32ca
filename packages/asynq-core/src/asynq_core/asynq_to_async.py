"""The asyncio bridge: asynq functions as coroutines, batched across a whole loop.

Each event loop has one *domain* (``AsyncioDomain``): the scheduler of every
asynq task run under asyncio on that loop. ``f.asyncio(...)`` hands the task
of ``f(...)`` to the domain of the running loop and awaits it; a loader's
``.asyncio(key)`` called from native code adds its key to the pending batch
and hands back an asyncio future of it (no task at all). So the thousands of
small coroutines of a GraphQL request or a web handler (each awaiting one
load) fill the same batches, DataLoader's way.

Invariants:
- The domain steps its tasks in loop callbacks, depth-first as the
  synchronous scheduler does; the tasks a round wakes resume in the
  depth-first order of the waiting tree under the awaited calls (as the
  synchronous scheduler's do); other tasks made ready from outside a step
  (a native coroutine done, a new call) run in the order they were made ready.
- A round is dispatched only when no coroutine of the domain can still add
  items in this turn of the loop: the dispatch callback is queued at the end
  of the turn, and queued again while anything happened in the domain since
  (a task stepped, a key was loaded, a native coroutine the domain started
  was resumed), at most ``MAX_DEFERRALS`` times. A coroutine awaiting real
  I/O does nothing, so it never holds a round back.
  Hence a round is never earlier than DataLoader's end-of-tick dispatch.
- A round flushes every pending group (see ``rounds``): their I/O runs on
  the loop (``flush_async``) or in its executor (``begin_flush``), plain
  groups flush on the loop; a round may start while others are in flight.
  So priorities order a round's flushes but hold none back, and a program
  makes at most the flushes DataLoader would make (the synchronous
  scheduler, which cannot overlap I/O, flushes one group at a time instead).
  An error of a round has no caller to reach: it goes to the loop's
  exception handler.
- Cancelling a call (its awaiting coroutine) cancels what only it waited on:
  its task, and the tasks and native calls below it that no other task or
  call waits on. Batch items are never cancelled: other calls may share them.
- Nothing can go on and a call still waits (no task ready, no group pending,
  no round or native call in flight): its task can never finish; the call
  fails with AsyncTaskError naming the wait, and every task still waiting in
  the domain is cancelled (none of them can finish either).
- Tasks run in the domain's context, not their callers': contextvars set by
  a caller are not seen inside asynq functions (the request, below, is
  passed explicitly). ``is_asyncio_mode()`` is true in the domain's tasks and
  in the native coroutines they start, where a synchronous asynq call (or
  ``.value()`` of an uncomputed task) is refused: it would block the loop.

Requests: ``with request():`` (or ``async with``) opens a request; every call
made inside it (by the coroutines it starts too, which inherit it through
contextvars) belongs to it. The cache of a ``cache=True`` loader lives for one
*run*: the open request, else the outermost call (a root task).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import _debug
from . import async_task as _async_task  # a module: async_task imports this one
from . import scheduler as _scheduler
from .futures import DeferredFuture, FutureBase
from .rounds import Round, take_round
from .scheduler import (
    NEW,
    QUEUED,
    WAITING,
    AsyncTaskError,
    TaskScheduler,
    _depth_first,
    _describe_stall,
    _futures_in,
    cancel_task,
)

__all__ = [
    "AsyncioDomain",
    "MAX_DEFERRALS",
    "NativeCall",
    "Request",
    "check_sync_call",
    "current_run",
    "domain",
    "is_asyncio_mode",
    "refuse_sync_wait",
    "request",
    "resolve_awaitables",
    "run_call",
    "run_task",
]

_log = logging.getLogger("asynq")

#: How many loop turns in a row a round may wait for the domain to be still.
MAX_DEFERRALS = 100

_asyncio_mode: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "asynq_asyncio_mode", default=False
)
_current_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "asynq_request", default=None
)

_thread_state = _scheduler._state


def is_asyncio_mode() -> bool:
    """True while an asynq function runs under asyncio (see the module docstring)."""
    return _asyncio_mode.get()


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
    if _asyncio_mode.get():
        raise RuntimeError(
            f"{task!r}.value() inside an asyncio coroutine: waiting synchronously would "
            "block the event loop; yield the task in an asynq function, or await "
            "run_task(task) in native code"
        )


# -- requests ------------------------------------------------------------------


class Request:
    """A unit of work (a web request, a GraphQL operation) whose calls share
    the caches of ``cache=True`` loaders. Open one with ``request()``."""

    __slots__ = ("__weakref__", "closed")

    def __init__(self) -> None:
        self.closed = False

    def __repr__(self) -> str:
        return f"<asynq request at 0x{id(self):x}{' (closed)' if self.closed else ''}>"


class _RequestScope:
    """What ``request()`` returns: a context manager, synchronous or async."""

    __slots__ = ("_token", "request")

    def __init__(self) -> None:
        self.request = Request()
        self._token: contextvars.Token[Request | None] | None = None

    def __enter__(self) -> Request:
        if self._token is not None:
            raise RuntimeError(f"{self.request!r} is already open: a request is entered once")
        self._token = _current_request.set(self.request)
        return self.request

    def __exit__(self, *exc_info: Any) -> None:
        if self._token is None:
            raise RuntimeError(f"{self.request!r} exited without being entered")
        _current_request.reset(self._token)
        self.request.closed = True

    async def __aenter__(self) -> Request:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)


def request() -> _RequestScope:
    """Opens a request: ``with request():`` or ``async with request():``.

    The calls made inside it (and by the coroutines and threads' contexts it
    starts) share the caches of ``cache=True`` loaders; a later request starts
    empty, and concurrent requests never see each other's values. Batches are
    shared by every call of a loop whatever its request (that is their point).
    """
    return _RequestScope()


def current_run() -> Any:
    """What a ``cache=True`` loader's cache belongs to for the caller, or None:
    the open request, else the root task of the active task (the outermost
    call), or the request that root task was started in under asyncio."""
    found = _current_request.get()
    if found is not None:
        return found
    task = _thread_state.scheduler.active_task
    if task is None:
        return None
    creator = task.creator
    while creator is not None:
        task = creator
        creator = task.creator
    scheduler = _thread_state.scheduler
    if isinstance(scheduler, AsyncioDomain):
        return scheduler._requests.get(task, task)
    return task


# -- the domain of a loop ------------------------------------------------------


class _ThreadDomain(threading.local):
    loop: Any = None
    domain: Any = None


_thread_domain = _ThreadDomain()


def domain() -> AsyncioDomain:
    """The domain of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    state = _thread_domain
    if state.loop is loop:
        return state.domain
    found = AsyncioDomain(loop)
    state.loop, state.domain = loop, found
    return found


class _NeverDone:
    """The root ``_run`` is given by a drive: it runs until nothing is ready."""

    _computed = False


_NEVER_DONE = _NeverDone()


class _WakingStack(list[Any]):
    """The ready stack of an idle domain: a task made ready wakes the domain."""

    __slots__ = ("_domain",)

    def __init__(self, domain: AsyncioDomain) -> None:
        super().__init__()
        self._domain = domain

    def append(self, task: Any) -> None:
        list.append(self, task)
        self._domain._schedule_drive()


class _CallWaiter:
    """Completes the asyncio future of a call when its asynq future is computed
    (the waiter protocol of tasks: ``_dependency_done``)."""

    __slots__ = ("future", "awaited")

    _scheduler = None  # never the scheduler of a task: notified, not queued

    def __init__(self, future: asyncio.Future[Any], awaited: Any) -> None:
        self.future = future
        self.awaited = awaited

    def _dependency_done(self) -> None:
        future = self.future
        if future.done():  # its awaiting coroutine was cancelled
            return
        awaited = self.awaited
        error = awaited._error
        if error is None:
            future.set_result(awaited._value)
        elif isinstance(error, asyncio.CancelledError):
            future.cancel()  # asyncio futures take no CancelledError as an error
        else:
            future.set_exception(error)


class AsyncioDomain(TaskScheduler):
    """The scheduler of the asynq tasks of one event loop; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._context = contextvars.copy_context()
        self._context.run(_asyncio_mode.set, True)
        self._context.run(_current_request.set, None)
        self._idle_ready = _WakingStack(self)
        self._ready = self._idle_ready
        self._drive_handle: asyncio.Handle | None = None
        self._dispatch_handle: asyncio.Handle | None = None
        # Everything that happens in the domain counts (see _dispatch).
        self.activity = 0
        self._dispatch_seen = 0
        self._deferrals = 0
        self._rounds: dict[Round, None] = {}  # in flight
        self._natives = 0  # native calls in flight
        self._calls: dict[Any, int] = {}  # awaited futures -> awaiting calls
        # (deferred future, asyncio future) of native code's loads (await_future)
        self._loads: list[tuple[Any, asyncio.Future[Any]]] = []
        self._requests: weakref.WeakKeyDictionary[Any, Request] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return (
            f"<AsyncioDomain ({len(self._ready)} ready, {len(self._pending_groups)} pending "
            f"groups, {len(self._rounds)} rounds and {self._natives} native calls in flight)>"
        )

    # -- calls -------------------------------------------------------------

    def start(self, awaited: Any) -> tuple[asyncio.Future[Any], _CallWaiter]:
        """Starts waiting on an asynq future (running it if it is a new task)
        and returns the asyncio future of its value, and its waiter."""
        future = self._loop.create_future()
        waiter = _CallWaiter(future, awaited)
        if awaited._computed:
            waiter._dependency_done()
            return future, waiter
        awaited._add_waiter(waiter)
        self._calls[awaited] = self._calls.get(awaited, 0) + 1
        if awaited._state == NEW:
            run = _current_request.get()
            if run is not None:
                self._requests[awaited] = run
            awaited._depth = 0
            awaited._state = QUEUED
            awaited._scheduler = self
            self._ready.append(awaited)
        else:
            # A batch item, a lazy future, a native call: computed, flushed or run.
            awaited._schedule_computation(self)
            self.activity += 1
            self._after_progress()
        return future, waiter

    def _forget_call(self, awaited: Any) -> None:
        count = self._calls.get(awaited, 0) - 1
        if count > 0:
            self._calls[awaited] = count
        else:
            self._calls.pop(awaited, None)

    def stop_waiting(self, awaited: Any, waiter: _CallWaiter) -> None:
        """A call stopped waiting (it was cancelled): cancels what only it waited on."""
        awaited._remove_waiter(waiter)
        if not awaited._computed:
            self._cancel_unwaited(awaited, "the call waiting on it was cancelled")

    def _cancel_unwaited(self, start: Any, why: str) -> None:
        """Cancels ``start`` if nothing waits on it any more, and below it, every
        task and native call of this domain only it waited on."""
        to_check = [start]
        while to_check:
            future = to_check.pop()
            if future._computed or future._waiters is not None:
                continue
            if type(future) is NativeCall:
                future.cancel()
            elif future._state is not None and future._scheduler is self:
                below = _futures_in(future._yielded) if future._state == WAITING else []
                cancel_task(
                    future, _async_task.AsyncTaskCancelledError(f"{future!r} was cancelled: {why}")
                )
                to_check.extend(below)

    # -- stepping ----------------------------------------------------------

    def _schedule_drive(self) -> None:
        if self._drive_handle is None:
            self._drive_handle = self._loop.call_soon(self._drive, context=self._context)

    def _drive(self) -> None:
        """Runs every ready task until none is (a loop callback)."""
        handle = self._drive_handle
        if handle is not None:
            handle.cancel()
            self._drive_handle = None
        idle = self._idle_ready
        # Made ready from outside: they run in the order they were made ready.
        ready = idle[::-1]
        list.clear(idle)
        self._ready = ready
        outer = _thread_state.scheduler
        self._observe_like(outer)
        options = _debug.options
        self._max_depth = options.MAX_TASK_STACK_SIZE
        step = self._step_traced if options.tracing or self._tracers else self._step
        _thread_state.scheduler = self
        try:
            self._run(_NEVER_DONE, None, step, None, None)
        finally:
            self.active_task = None
            _thread_state.scheduler = outer
            self._ready = idle
            if ready:  # left by an error out of a step: run later
                list.extend(idle, ready)
                self._schedule_drive()
            self.activity += 1
        self._after_progress()

    def _observe_like(self, thread_scheduler: TaskScheduler) -> None:
        """Takes the flush hooks and recordings of the thread's scheduler, so that
        the domain is observed like it (read again at each drive and round: a
        recording may start at any time)."""
        if thread_scheduler is not self:
            self.on_before_batch_flush = thread_scheduler.on_before_batch_flush
            self.on_after_batch_flush = thread_scheduler.on_after_batch_flush
            self._tracers = thread_scheduler._tracers

    def _after_progress(self) -> None:
        """After anything happened: a round is due if groups are pending; a call
        whose task can no longer finish fails."""
        if self._pending_groups:
            if self._dispatch_handle is None:
                self._dispatch_seen = self.activity
                self._deferrals = 0
                self._dispatch_handle = self._loop.call_soon(self._dispatch, context=self._context)
        elif (
            self._calls
            and not self._rounds
            and not self._natives
            and self._drive_handle is None
            and not self._idle_ready
        ):
            self._fail_stalled_calls()

    def _fail_stalled_calls(self) -> None:
        stalled = [awaited for awaited in self._calls if not awaited._computed]
        for awaited in stalled:
            if awaited._state is None:
                stall = AsyncTaskError(f"{awaited!r} is awaited but nothing computes it")
            else:
                stall = AsyncTaskError(_describe_stall(awaited))
            waiters = awaited._waiters
            for waiter in waiters if type(waiters) is list else [waiters]:
                if type(waiter) is _CallWaiter and not waiter.future.done():
                    waiter.future.set_exception(stall)
        # What they wait on, through each other, can never finish: cancelled,
        # so that no generator is left suspended for good.
        to_cancel = [awaited for awaited in stalled if awaited._state is not None]
        seen: set[int] = set()
        while to_cancel:
            task = to_cancel.pop()
            if id(task) in seen or task._computed or task._scheduler is not self:
                continue
            seen.add(id(task))
            below = [future for future in _futures_in(task._yielded) if future._state is not None]
            cancel_task(
                task,
                _async_task.AsyncTaskCancelledError(
                    f"{task!r} was cancelled: nothing can make it go on"
                ),
            )
            to_cancel.extend(below)

    # -- rounds ------------------------------------------------------------

    def _dispatch(self) -> None:
        """The end-of-turn callback: a round once the domain is still."""
        self._dispatch_handle = None
        if not self._pending_groups:
            return
        busy = self._drive_handle is not None or self.activity != self._dispatch_seen
        if busy and self._deferrals < MAX_DEFERRALS:
            self._deferrals += 1
            self._dispatch_seen = self.activity
            self._dispatch_handle = self._loop.call_soon(self._dispatch, context=self._context)
            return
        self._start_round(take_round(self._pending_groups, every_group=True))

    def _start_round(self, groups: list[Any]) -> None:
        self._observe_like(_thread_state.scheduler)
        flushing = Round(self, groups, deferred_report=True)
        works = []
        for group in groups:
            try:
                flush_async = getattr(group, "flush_async", None)
                if flush_async is not None:
                    works.append(flush_async())
                    continue
                begin_flush = getattr(group, "begin_flush", None)
                if begin_flush is None:
                    flushing.flush(group)
                    continue
                fetch = begin_flush()
                if fetch is not None:
                    works.append(self._fetch_and_deliver(fetch))
            except BaseException as error:
                flushing.note_error(error)
        if not works:
            self._end_round(flushing)
            return
        self._rounds[flushing] = None
        # Called back by the loop in the domain's context, which the task copies.
        self._loop.create_task(self._await_round(flushing, works))

    async def _await_round(self, flushing: Round, works: list[Any]) -> None:
        if len(works) == 1:  # the common case: no gather, no task of its own
            try:
                await works[0]
            except BaseException as error:
                flushing.note_error(error)
        else:
            outcomes = await asyncio.gather(*works, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    flushing.note_error(outcome)
        del self._rounds[flushing]
        self._end_round(flushing)

    async def _fetch_and_deliver(self, fetch: Callable[[], Callable[[], None]]) -> None:
        deliver = await self._loop.run_in_executor(None, fetch)
        deliver()

    def _end_round(self, flushing: Round) -> None:
        try:
            flushing.end()
        except BaseException as error:
            self._loop.call_exception_handler(
                {
                    "message": f"asynq: a flush round of {flushing.groups!r} failed",
                    "exception": error,
                }
            )
        for group in flushing.groups:
            # A group that broke the protocol (its flush raised) is failed, so
            # that nothing waits on it forever.
            if isinstance(group, FutureBase) and not group._computed:
                cancel = getattr(group, "cancel", None)
                if cancel is not None:
                    try:
                        cancel(AsyncTaskError(f"the flush of {group!r} failed"))
                    except Exception:
                        pass
        self._settle_loads()
        idle = self._idle_ready
        if len(idle) > 1:
            idle[:] = _depth_first(list(idle), list(self._calls))
        self.activity += 1
        self._drive()

    def _settle_loads(self) -> None:
        """Hands native code the values of its loads that are computed now."""
        waiting = []
        for future, done in self._loads:
            if not future._computed:
                waiting.append((future, done))
            elif not done.done():
                error = future._error
                if error is None:
                    done.set_result(future._value)
                elif isinstance(error, asyncio.CancelledError):
                    done.cancel()
                else:
                    done.set_exception(error)
        self._loads = waiting

    # -- the scheduler's hooks ---------------------------------------------

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


# -- what callers await --------------------------------------------------------


async def _await_call(awaited: Any) -> Any:
    """Awaits an asynq future in the domain of the running loop (see ``start``)."""
    running = domain()
    future, waiter = running.start(awaited)
    try:
        return await future
    except asyncio.CancelledError:
        if future.cancelled():  # this call was cancelled, not what it awaited
            running.stop_waiting(awaited, waiter)
        raise
    finally:
        running._forget_call(awaited)


async def run_task(task: Any) -> Any:
    """Runs an AsyncTask (or computes any other asynq future) in the domain of
    the running loop and returns its value."""
    if not isinstance(task, FutureBase):
        raise TypeError(f"run_task() takes an asynq future (an AsyncTask), got {task!r}")
    return await _await_call(task)


async def run_call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Calls ``fn(*args, **kwargs)``, which returns an asynq future, in asyncio
    mode (the asynq functions it calls run their ``asyncio_fn`` there, as they
    would in a task), and awaits that future in the domain."""
    token = _asyncio_mode.set(True)
    try:
        future = fn(*args, **kwargs)
    finally:
        _asyncio_mode.reset(token)
    if not isinstance(future, FutureBase):
        raise TypeError(f"{fn!r} returned {future!r}, not an asynq future")
    return await _await_call(future)


async def resolve_awaitables(yielded: Any) -> Any:
    """Computes asynq futures on the running loop and returns what yielding them
    in a task gives.

    ``yielded`` is anything a task may yield: a future, None, or lists, tuples
    and dicts of them, nested; under asyncio, native awaitables (coroutines,
    asyncio futures) too, as in asynq 1.x.
    """
    return await _await_call(_async_task.AsyncTask(_wait_on(yielded), resolve_awaitables, (), {}))


def _wait_on(yielded: Any) -> Any:
    return (yield yielded)


def await_future(future: Any, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[Any]:
    """An asyncio future of an asynq future (a batch item, typically), for native
    code on ``loop`` (the running one): no task, no coroutine. A deferred
    future (a batch item) joins the next round; another is computed now."""
    if loop is None:
        loop = asyncio.get_running_loop()
    state = _thread_domain
    running = state.domain if state.loop is loop else domain()
    waiting = loop.create_future()
    if future._computed:
        _CallWaiter(waiting, future)._dependency_done()
        return waiting
    if isinstance(future, DeferredFuture):
        # The common case (a loader's key), kept cheap: no waiter object; the
        # round that computes it sets ``waiting`` (see _settle_loads).
        running._loads.append((future, waiting))
        running._pending_groups[future.flush_group()] = None
        running.activity += 1
        if running._dispatch_handle is None:
            running._after_progress()
        return waiting
    future._add_waiter(_CallWaiter(waiting, future))
    future._schedule_computation(running)
    running.activity += 1
    running._after_progress()
    return waiting


# -- native coroutines ---------------------------------------------------------


class NativeCall(FutureBase[Any]):
    """The future of a native coroutine in the domain: the ``asyncio_fn`` of an
    asynq function called through ``.asynq()`` in asyncio mode, or an awaitable
    a task yielded. It runs as an asyncio task once a task waits on it."""

    __slots__ = ("_coroutine_fn", "_args", "_kwargs", "_runner", "fn")

    def __init__(self, coroutine_fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.fn = coroutine_fn
        self._coroutine_fn = coroutine_fn
        self._args = args
        self._kwargs = kwargs
        self._runner: asyncio.Task[None] | None = None

    def _schedule_computation(self, scheduler: Any) -> None:
        if self._runner is not None or self._computed:
            return
        if not isinstance(scheduler, AsyncioDomain):
            self._compute()
            return
        context = scheduler._context.copy()
        # The coroutine belongs to the request of the task that waits on it.
        active = scheduler.active_task
        if active is not None:
            run = current_run()
            if isinstance(run, Request):
                context.run(_current_request.set, run)
        scheduler._natives += 1
        self._runner = context.run(scheduler._loop.create_task, self._run(scheduler))

    async def _run(self, domain: AsyncioDomain) -> None:
        try:
            value = await _Resumptions(self._coroutine_fn(*self._args, **self._kwargs), domain)
        except BaseException as error:
            if not self._computed:
                self.set_error(error)
        else:
            if not self._computed:
                self.set_value(value)
        finally:
            domain._natives -= 1
            domain.activity += 1
            domain._after_progress()

    def cancel(self) -> None:
        """Cancels the coroutine (nothing waits on it any more)."""
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
        elif runner is None and not self._computed:
            close = getattr(self._args[0] if self._args else None, "close", None)
            if self._coroutine_fn is _await and close is not None:
                close()  # an adopted coroutine never started: no warning

    def _compute(self) -> None:
        self.set_error(
            RuntimeError(
                f"{self.fn!r} was called through .asynq() in asyncio mode: its "
                "asyncio_fn coroutine can only run on the event loop of that call"
            )
        )


async def _await(awaitable: Any) -> Any:
    return await awaitable


class _Resumptions:
    """Awaits a coroutine, counting each time it is resumed as activity of the
    domain: a native coroutine still busy (not awaiting real I/O) holds the
    round back, as a task stepping does."""

    __slots__ = ("_coroutine", "_domain")

    def __init__(self, coroutine: Any, domain: AsyncioDomain) -> None:
        self._coroutine = coroutine
        self._domain = domain

    def __await__(self) -> Any:
        coroutine, domain = self._coroutine, self._domain
        send_value: Any = None
        send_error: BaseException | None = None
        while True:
            domain.activity += 1
            try:
                if send_error is None:
                    yielded = coroutine.send(send_value)
                else:
                    yielded = coroutine.throw(send_error)
            except StopIteration as stop:
                return stop.value
            try:
                send_value, send_error = (yield yielded), None
            except BaseException as error:  # a cancellation, thrown into the coroutine
                send_value, send_error = None, error
