"""The asyncio domain: the scheduler of every asynq task run under asyncio on
one event loop, and of the batches the loop's coroutines fill.

Each event loop has one (``domain()``). It runs the tasks of the calls of
``asynq_to_async`` (``f.asyncio(...)``, ``run_task``) and the loads native
code hands it (``await_future``), in loop callbacks. This module steps the
tasks, flushes the rounds and fails the calls that can never finish. Its
base classes own the rest: ``deadline_timers.DeadlineTimers`` the deadlines
armed on the loop, ``batch_clock.BatchClock`` when a pending group is taken
and native code's loads; ``native_calls`` runs native coroutines and hands
asynq outcomes to asyncio futures.

Invariants:
- The domain steps its tasks in loop callbacks, depth-first as the
  synchronous scheduler does; the tasks a round wakes resume in the
  depth-first order of the waiting tree under the awaited calls (as the
  synchronous scheduler's do); other tasks made ready from outside a step
  (a native coroutine done, a new call) run in the order they were made ready.
- The due groups taken together (see ``batch_clock``) are a round (see
  ``rounds``): hooks, tracing, one error. Each group flushes on its own, as
  DataLoader's loaders do: its I/O in a task of its own (``flush_async``) or
  in the loop's executor (``begin_flush``), a plain group on the spot;
  native code that loaded from it gets its values as soon as its flush ends,
  and the round ends with its last group. Rounds may overlap. An error of a
  round has no caller to reach: it goes to the loop's exception handler (a
  round cancelled because its loop closes is no error: a deadline may have
  left it in flight). While deadlines are armed, each flush runs within its
  budget (see ``deadline_timers``).
- Cancelling a call (its awaiting coroutine) cancels what only it waited on:
  its task, and the tasks and native calls below it that no other task or
  call waits on. Batch items are never cancelled: other calls may share them.
- Nothing can go on and a call still waits (no task ready, no group pending,
  no round or native call in flight): its task can never finish; the call
  fails with AsyncTaskError naming the wait, and every task still waiting in
  the domain is cancelled (none of them can finish either).
- Tasks run in the domain's context, not their callers': contextvars set by
  a caller are not seen inside asynq functions (the request of a call is
  passed on explicitly, see ``requests``). ``is_asyncio_mode()`` is true in
  the domain's tasks and in the native coroutines they start, where a
  synchronous asynq call (or ``.value()`` of an uncomputed task) is refused:
  it would block the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _debug
from . import scheduler as _scheduler
from .asyncio_mode import running_in_asyncio
from .batch_clock import set_asyncio_hold_turns
from .deadline_scopes import NOT_IN_FLUSH, budget_of, flush_budget, run_within
from .deadline_timers import DeadlineTimers
from .errors import AsyncTaskCancelledError, AsyncTaskError
from .futures import FutureBase
from .native_calls import CallWaiter, NativeCall, adopt_awaitables
from .requests import current_request, current_request_var, remember_request
from .rounds import Round
from .scheduler import TaskScheduler, cancel_task
from .task_states import NEW, QUEUED, WAITING
from .yielded import depth_first, describe_stall, futures_in

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .protocols import FlushGroup, Task, Waiter
    from .yielded import WaitedOn, Yielded

# The domain is a scheduler: it reads and writes the slots of its tasks and
# futures (the Task protocol's, asynq 1.x's names) as TaskScheduler does.
# pyright: reportPrivateUsage=false

__all__ = ["AsyncioDomain", "NativeCall", "domain", "set_asyncio_hold_turns"]

_thread_state = _scheduler._state


class _ThreadDomain(threading.local):
    loop: Any = None
    domain: Any = None


_thread_domain = _ThreadDomain()


class _NoDomain:
    _loop = None


#: The domain ``domain()`` returned last, in any thread: what a load checks
#: first (a module global reads much faster than a thread-local, and a loop
#: runs in one thread at a time), before asking ``domain()`` if its loop is
#: not the running one.
last_domain: Any = _NoDomain()


def domain() -> AsyncioDomain:
    """The domain of the running event loop (created on first use)."""
    global last_domain
    loop = asyncio.get_running_loop()
    state = _thread_domain
    if state.loop is loop:
        found = state.domain
    else:
        found = AsyncioDomain(loop)
        state.loop, state.domain = loop, found
    last_domain = found
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

    def append(self, task: Task) -> None:
        list.append(self, task)  # pyright: ignore[reportUnknownMemberType]  # list's own
        self._domain._schedule_drive()


class AsyncioDomain(DeadlineTimers):
    """The scheduler of the asynq tasks of one event loop; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        # One of asyncio's own loops: it makes plain asyncio.Future's (a load
        # makes its future without the call to create_future()), and its
        # ready queue tells when it is idle, so activity need not be counted
        # on each load (see await_deferred and BatchClock._loop_is_idle).
        self.plain_loop = (
            self._loop_ready is not None
            and type(loop).create_future is asyncio.BaseEventLoop.create_future
        )
        self._context = contextvars.copy_context()
        self._context.run(running_in_asyncio.set, True)
        self._context.run(current_request_var.set, None)
        self._idle_ready = _WakingStack(self)
        self._ready = self._idle_ready
        self._drive_handle: asyncio.Handle | None = None
        self._rounds: dict[Round, int] = {}  # in flight -> groups not flushed yet
        self._flushing_groups: dict[FlushGroup, None] = {}
        self._natives = 0  # native calls in flight
        self._calls: dict[FutureBase[Any], int] = {}  # awaited futures -> awaiting calls

    def __repr__(self) -> str:
        return (
            f"<AsyncioDomain ({len(self._ready)} ready, {len(self._pending_groups)} pending "
            f"groups, {len(self._rounds)} rounds and {self._natives} native calls in flight)>"
        )

    # -- calls -------------------------------------------------------------

    def start(self, awaited: FutureBase[Any]) -> tuple[asyncio.Future[Any], CallWaiter]:
        """Starts waiting on an asynq future (running it if it is a new task)
        and returns the asyncio future of its value, and its waiter."""
        future = self._loop.create_future()
        waiter = CallWaiter(future, awaited)
        if awaited._computed:
            waiter._dependency_done()
            return future, waiter
        awaited._add_waiter(waiter)
        self._calls[awaited] = self._calls.get(awaited, 0) + 1
        if awaited._state == NEW:
            # A task (its _state says so); checkers see a FutureBase.
            run = current_request_var.get()
            if run is not None:
                remember_request(awaited, run)
            awaited._depth = 0  # type: ignore[attr-defined]
            awaited._state = QUEUED  # type: ignore[misc]
            awaited._scheduler = self  # type: ignore[attr-defined]
            self._ready.append(awaited)  # type: ignore[arg-type]
        else:
            # A batch item, a lazy future, a native call: computed, flushed or run.
            awaited._schedule_computation(self)
            self.activity += 1
            self._after_progress()
        return future, waiter

    def _forget_call(self, awaited: FutureBase[Any]) -> None:
        count = self._calls.get(awaited, 0) - 1
        if count > 0:
            self._calls[awaited] = count
        else:
            self._calls.pop(awaited, None)

    def stop_waiting(self, awaited: FutureBase[Any], waiter: CallWaiter) -> None:
        """A call stopped waiting (it was cancelled): cancels what only it waited on."""
        awaited._remove_waiter(waiter)
        if not awaited._computed:
            self._cancel_unwaited(awaited, "the call waiting on it was cancelled")

    def _cancel_unwaited(self, start: FutureBase[Any], why: str) -> None:
        """Cancels ``start`` if nothing waits on it any more, and below it, every
        task and native call of this domain only it waited on."""
        to_check = [start]
        while to_check:
            future = to_check.pop()
            if future._computed or future._waiters is not None:
                continue
            if type(future) is NativeCall:
                future.cancel()
            # A task (its _state says so); checkers see a FutureBase.
            elif future._state is not None and future._scheduler is self:  # type: ignore[attr-defined]
                below = futures_in(future._yielded) if future._state == WAITING else []  # type: ignore[attr-defined]
                cancel_task(future, AsyncTaskCancelledError(f"{future!r} was cancelled: {why}"))  # type: ignore[arg-type]
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
        list.clear(idle)  # pyright: ignore[reportUnknownMemberType]  # list's own
        self._ready = ready
        outer = _thread_state.scheduler
        self._observe_like(outer)
        options = _debug.options
        self._max_depth = options.MAX_TASK_STACK_SIZE
        step = self._step_traced if options.tracing or self._tracers else self._step
        _thread_state.scheduler = self
        try:
            # A root that is never computed: _run reads nothing else of it
            # when it has no flush to hand it to.
            self._run(_NEVER_DONE, None, step, None, None)  # type: ignore[arg-type]
        finally:
            self.active_task = None
            _thread_state.scheduler = outer
            self._ready = idle
            if ready:  # left by an error out of a step: run later
                list.extend(idle, ready)  # pyright: ignore[reportUnknownMemberType]  # list's own
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
        """After anything happened: a call whose task can no longer finish fails."""
        if (
            self._calls
            and not self._pending_groups
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
            else:  # a task (its _state says so)
                stall = AsyncTaskError(describe_stall(awaited))  # type: ignore[arg-type]
            waiters: Waiter | list[Waiter] | None = awaited._waiters
            for waiter in waiters if type(waiters) is list else [waiters]:
                if type(waiter) is CallWaiter and not waiter.future.done():
                    waiter.future.set_exception(stall)
        # What they wait on, through each other, can never finish: cancelled,
        # so that no generator is left suspended for good.
        # The futures with a _state are tasks.
        to_cancel: list[Task] = [awaited for awaited in stalled if awaited._state is not None]  # type: ignore[misc]
        seen: set[int] = set()
        while to_cancel:
            task = to_cancel.pop()
            if id(task) in seen or task._computed or task._scheduler is not self:
                continue
            seen.add(id(task))
            # The futures with a _state are tasks.
            below: list[Task] = [dep for dep in futures_in(task._yielded) if dep._state is not None]  # type: ignore[misc]
            cancel_task(
                task,
                AsyncTaskCancelledError(f"{task!r} was cancelled: nothing can make it go on"),
            )
            to_cancel.extend(below)

    # -- flushes -------------------------------------------------------------

    def _start_round(self, groups: list[FlushGroup]) -> None:
        self._observe_like(_thread_state.scheduler)
        flushing = Round(self, groups, deferred_report=True)
        members = None
        loads: set[int] = set()
        if self._deadline_scopes:
            members, loads = self._round_starts()
        self._rounds[flushing] = len(groups)
        in_flight = self._flushing_groups
        for group in groups:
            in_flight[group] = None
        for group in groups:
            budget = NOT_IN_FLUSH if members is None else budget_of(group, members, loads)
            try:
                flush_async = getattr(group, "flush_async", None)
                if flush_async is not None:
                    work = flush_async()
                    if members is not None:
                        work = _awaited_within(work, budget)
                    # DataLoader's dispatch too calls the bulk function in a task
                    # of its own, one turn after taking the keys.
                    self._own_ready += 1
                    self._loop.create_task(self._flush_on_loop(flushing, group, work))
                    continue
                begin_flush = getattr(group, "begin_flush", None)
                if begin_flush is not None:
                    fetch = begin_flush()
                    if fetch is not None:
                        if budget is NOT_IN_FLUSH:
                            fetching = self._loop.run_in_executor(None, fetch)
                        else:
                            fetching = self._loop.run_in_executor(None, run_within, fetch, budget)
                        fetching.add_done_callback(
                            functools.partial(self._fetched, flushing, group),
                            context=self._context,
                        )
                        continue
                else:
                    token = flush_budget.set(budget)
                    try:
                        flushing.flush(group)
                    finally:
                        flush_budget.reset(token)
            except BaseException as error:
                flushing.note_error(error)
            self._flushed(flushing, group)

    async def _flush_on_loop(
        self, flushing: Round, group: FlushGroup, work: Awaitable[object]
    ) -> None:
        self._own_ready -= 1
        try:
            await work
        except BaseException as error:
            flushing.note_error(error)
        self._flushed(flushing, group)

    def _fetched(
        self, flushing: Round, group: FlushGroup, fetching: asyncio.Future[Callable[[], None]]
    ) -> None:
        try:
            fetching.result()()  # deliver()
        except BaseException as error:
            flushing.note_error(error)
        self._flushed(flushing, group)

    def _flushed(self, flushing: Round, group: FlushGroup) -> None:
        """``group`` of ``flushing`` is flushed: the native code that loaded from
        it gets its values now; the round ends with its last group."""
        del self._flushing_groups[group]
        self._hand_over(group)
        left = self._rounds[flushing] - 1
        if left:
            self._rounds[flushing] = left
        else:
            del self._rounds[flushing]
            self._end_round(flushing)

    def _end_round(self, flushing: Round) -> None:
        try:
            flushing.end()
        except asyncio.CancelledError:
            pass  # the loop closed while the round was in flight (asyncio.run's end)
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
            release = getattr(group, "release", None)
            if release is not None:
                try:
                    release()
                except Exception as error:
                    self._loop.call_exception_handler(
                        {"message": f"asynq: release() of {group!r} failed", "exception": error}
                    )
        idle = self._idle_ready
        self.activity += 1
        if not idle:  # the round woke no task (only native code loaded): no drive
            self._after_progress()
            return
        if len(idle) > 1:
            idle[:] = depth_first(list(idle), list(self._calls))
        self._drive()

    # -- the scheduler's hooks ---------------------------------------------

    def _adopt_awaitables(self, yielded: WaitedOn | Awaitable[Any]) -> Yielded:
        """``yielded`` with its native awaitables as native calls (see
        ``adopt_awaitables``)."""
        return adopt_awaitables(yielded)

    # -- native calls --------------------------------------------------------

    def run_native(self, call: NativeCall) -> asyncio.Task[None]:
        """Runs the coroutine of ``call`` as an asyncio task of the loop, in the
        domain's context (a task waits on it: ``NativeCall._schedule_computation``)."""
        context = self._context.copy()
        # The coroutine belongs to the request of the task that waits on it.
        if self.active_task is not None:
            run = current_request()
            if run is not None:
                context.run(current_request_var.set, run)
        self._natives += 1
        return context.run(self._loop.create_task, call.run(self))

    def native_done(self) -> None:
        """The coroutine of a native call ended (``NativeCall.run``)."""
        self._natives -= 1
        self.activity += 1
        self._after_progress()


async def _awaited_within(work: Any, budget: Any) -> None:
    """Awaits a group's ``flush_async()`` with ``budget`` as its flush budget."""
    token = flush_budget.set(budget)
    try:
        await work
    finally:
        flush_budget.reset(token)
