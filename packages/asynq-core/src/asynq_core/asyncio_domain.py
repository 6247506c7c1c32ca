"""The asyncio domain: the scheduler of every asynq task run under asyncio on
one event loop, and of the batches the loop's coroutines fill.

Each event loop has one (``domain()``). It runs the tasks of the calls of
``asynq_to_async`` (``f.asyncio(...)``, ``run_task``) and the loads native
code hands it (``await_future``), in loop callbacks.

Invariants:
- The domain steps its tasks in loop callbacks, depth-first as the
  synchronous scheduler does; the tasks a round wakes resume in the
  depth-first order of the waiting tree under the awaited calls (as the
  synchronous scheduler's do); other tasks made ready from outside a step
  (a native coroutine done, a new call) run in the order they were made ready.
- A pending group keeps DataLoader's clock: it is *due* two loop turns after
  it opened (a callback that queues itself, from the position of the load
  that opened the group, as DataLoader's dispatch does), when DataLoader
  would take its keys. A due group is taken when the loop is idle (nothing
  but the domain's own callbacks ready: every coroutine waits on a load, a
  timer or I/O), else held back one more turn, at most 100
  turns in a row (``set_asyncio_hold_turns``), so that coroutines still running (after an
  ``asyncio.sleep(0)``, say) add their keys. A coroutine awaiting real I/O
  does nothing, so it never holds a group back; a round is never earlier
  than DataLoader's dispatch, and with nothing held back a program makes
  exactly DataLoader's flushes.
- A hold makes the coroutines waiting on the held groups fall behind
  DataLoader's timeline. So that the others stay in step with them, a hold
  stops the clock of every pending group, and a group opened ``k`` turns
  into a hold is due ``k`` turns after it, as it would have been. A load
  from a held group is *late*: DataLoader would have put its key in the
  next batch of the loader. Its key joins the held group's fetch all the
  same, but its value is handed over as that next batch's would be: the
  late loads are a pending group of their own (never flushed), which takes
  with it the groups of their loader's queue (``group.queue``) opened before
  it was due. Programs remain where holds make more flushes than
  DataLoader (see tests/batching/test_differential_aiodataloader.py).
- The due groups taken together are a round (see ``rounds``): hooks, tracing,
  one error. Each group flushes on its own, as DataLoader's loaders do: its
  I/O in a task of its own (``flush_async``) or in the loop's executor
  (``begin_flush``), a plain group on the spot; native code that loaded from
  it gets its values as soon as its flush ends, and the round ends with its
  last group. Rounds may overlap. An error of a round has no caller to
  reach: it goes to the loop's exception handler (a round cancelled because
  its loop closes is no error: a deadline may have left it in flight).
- Cancelling a call (its awaiting coroutine) cancels what only it waited on:
  its task, and the tasks and native calls below it that no other task or
  call waits on. Batch items are never cancelled: other calls may share them.
- Nothing can go on and a call still waits (no task ready, no group pending,
  no round or native call in flight): its task can never finish; the call
  fails with AsyncTaskError naming the wait, and every task still waiting in
  the domain is cancelled (none of them can finish either).
- Deadlines: a scope is *armed* on the domain (a timer on the loop at its
  time) once its coroutine entered it or one of its ``.asyncio()`` calls
  started here. When it passes, its tasks waiting on batches resume with
  DeadlineExceededError, as the synchronous scheduler's do (see
  ``deadline_scopes``); what only they waited on (native calls, tasks) is
  cancelled, batches never. If none of its calls was still going, its
  coroutine was awaiting something else (native loads, native I/O): the
  coroutine is cancelled, as ``asyncio.timeout`` does, and the scope's exit
  turns the cancellation into DeadlineExceededError. While scopes are armed,
  each round gives its flushes their budgets. Nothing of it runs while none is.
- Tasks run in the domain's context, not their callers': contextvars set by
  a caller are not seen inside asynq functions (the request of a call is
  passed on explicitly, see ``requests``). ``is_asyncio_mode()`` is true in the domain's tasks and
  in the native coroutines they start, where a synchronous asynq call (or
  ``.value()`` of an uncomputed task) is refused: it would block the loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _debug
from . import scheduler as _scheduler
from .asyncio_mode import running_in_asyncio
from .deadline_scopes import (
    NOT_IN_FLUSH,
    Members,
    Scope,
    budget_of,
    drop_unwaited,
    expired_waits,
    flush_budget,
    run_within,
)
from .errors import AsyncTaskCancelledError, AsyncTaskError, DeadlineExceededError
from .futures import FutureBase
from .groups import batch_name, group_of
from .native_calls import CallWaiter, Load, NativeCall, adopt_awaitables, settle
from .requests import current_request, current_request_var, remember_request
from .rounds import Round, take_round
from .scheduler import TaskScheduler, cancel_task, interrupt_task
from .task_states import NEW, QUEUED, WAITING
from .yielded import depth_first, describe_stall, futures_in

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator

    from .futures import DeferredFuture
    from .protocols import FlushGroup, Task, Waiter
    from .yielded import WaitedOn, Yielded

# The domain is a scheduler: it reads and writes the slots of its tasks and
# futures (the Task protocol's, asynq 1.x's names) as TaskScheduler does.
# pyright: reportPrivateUsage=false

__all__ = ["AsyncioDomain", "NativeCall", "domain", "set_asyncio_hold_turns"]

_thread_state = _scheduler._state


# How many loop turns in a row due groups may be held back while the loop is
# busy (``set_asyncio_hold_turns``); 0: never, so exactly DataLoader's flushes.
_max_hold_turns = 100


def set_asyncio_hold_turns(turns: int) -> int:
    """Sets how many loop turns in a row the asyncio domain may hold a due
    batch back while coroutines of the loop are still running (100 by
    default), for every loop of the process; returns the previous setting.

    0 takes every batch exactly when aiodataloader's DataLoader would (two
    loop turns after its first key): then a program makes exactly
    DataLoader's flushes. Held back, keys of coroutines still running join
    the batch, which saves flushes on most programs that pause between
    loads, at the price of one more flush on a rare few (see the README)."""
    global _max_hold_turns
    if isinstance(turns, bool) or not isinstance(turns, int):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"set_asyncio_hold_turns: turns must be an int, not {turns!r}")
    if turns < 0:
        raise ValueError(f"set_asyncio_hold_turns: turns must be >= 0, not {turns!r}")
    previous, _max_hold_turns = _max_hold_turns, turns
    return previous


#: DataLoader takes the keys of its queue two loop turns after the first one.
_TURNS_TO_DUE = 2


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

    def append(self, task: Task) -> None:
        list.append(self, task)  # pyright: ignore[reportUnknownMemberType]  # list's own
        self._domain._schedule_drive()


class AsyncioDomain(TaskScheduler):
    """The scheduler of the asynq tasks of one event loop; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._context = contextvars.copy_context()
        self._context.run(running_in_asyncio.set, True)
        self._context.run(current_request_var.set, None)
        self._idle_ready = _WakingStack(self)
        self._ready = self._idle_ready
        self._drive_handle: asyncio.Handle | None = None
        # The loop's queue of ready callbacks, if it shows it (see _loop_is_idle),
        # and how many of them are the domain's own (_hop, _watch, a flush task
        # not started yet, ...).
        ready = getattr(loop, "_ready", None)  # CPython's loops: a deque
        self._loop_ready: collections.deque[object] | None = (
            ready if isinstance(ready, collections.deque) else None  # pyright: ignore[reportUnknownVariableType]
        )
        self._own_ready = 0
        # Everything that happens in the domain counts (see _loop_is_idle).
        self.activity = 0
        self._activity_seen = 0
        # The clock of the pending groups (_pending_groups) and of late loads:
        # the turns each one counting still has to count, those due, and how
        # long they have been held back.
        self._left: dict[FlushGroup | _LateLoads, int] = {}
        self._due: dict[FlushGroup | _LateLoads, None] = {}
        self._held = 0  # turns into the current hold
        self._watch_queued = False
        self._deferrals = 0  # turns in a row due groups were held back
        # Late loads (see _late_load): of each due group, all those not
        # handed their values yet, and those waiting for a group's flush.
        self._late: dict[FlushGroup, _LateLoads] = {}
        self._late_batches: dict[_LateLoads, None] = {}
        self._late_after: dict[FlushGroup, list[_LateLoads]] = {}
        self._rounds: dict[Round, int] = {}  # in flight -> groups not flushed yet
        self._flushing_groups: dict[FlushGroup, None] = {}
        self._natives = 0  # native calls in flight
        self._calls: dict[FutureBase[Any], int] = {}  # awaited futures -> awaiting calls
        # group -> (deferred future, asyncio future) of native code's loads
        # from it (await_future), until it is flushed
        self._loads: dict[FlushGroup, list[Load]] = {}
        # The deadlines armed on this loop (see the module docstring).
        self._deadline_scopes: list[Scope] = []

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

    # -- deadlines -----------------------------------------------------------

    def bound_call(self, scope: Scope, awaited: Any, waiter: CallWaiter) -> None:
        """An ``.asyncio()`` call started inside ``scope`` (the innermost open
        one around it bounds it: the earliest, nested in the others)."""
        while scope.exited:  # a task started in the scope outlived its block
            if scope.parent is None:
                return
            scope = scope.parent
        scope.add_call(awaited, self, waiter)
        self.arm(scope)

    def arm(self, scope: Scope) -> None:
        """Sets the timer of ``scope`` on this loop (once)."""
        if self in scope.timers:
            return
        handle = None
        if scope.until != math.inf:
            when = self._loop.time() + (scope.until - time.monotonic())
            handle = self._loop.call_at(when, self._deadline_passed, scope, context=self._context)
        scope.timers[self] = handle
        self._deadline_scopes.append(scope)

    def disarm(self, scope: Scope) -> None:
        """``scope`` exited: its timer is cancelled and it bounds nothing here."""
        handle = scope.timers.pop(self, None)
        if handle is not None:
            handle.cancel()
        scopes = self._deadline_scopes
        for index in range(len(scopes) - 1, -1, -1):
            if scopes[index] is scope:
                del scopes[index]
                break

    def _deadline_passed(self, scope: Scope) -> None:
        """The timer of ``scope`` (a loop callback); see the module docstring."""
        going = any(not call._computed for call in scope.calls.values())
        self._end_passed_deadlines(time.monotonic())
        task = scope.task
        if going or scope.exited or task is None or task.done():
            return
        awaited = [(future, done) for future, done in self._native_loads() if not done.done()]
        scope.cancelled = True
        task.cancel()
        # What the coroutine awaited: the loads its cancellation cancelled.
        stopped = [future for future, done in awaited if done.cancelled()]
        batch = what = None
        for future in stopped:
            group = group_of(future)
            if group is not None:
                batch = batch_name(group)
                state = "not flushed yet" if group in self._pending_groups else "flushing"
                what = f"{batch} ({state})"
                break
        scope.cancel_error = DeadlineExceededError(
            f"{scope.name()} passed in round {scope.rounds} while its coroutine awaited "
            f"{what or 'native code'}",
            batch=batch,
            round=scope.rounds,
            seconds=scope.seconds,
        )

    def _end_passed_deadlines(self, now: float) -> None:
        """The waits of the armed deadlines that have passed end (see
        ``deadline_scopes``): their tasks resume with the error, their calls
        of other futures fail, and what only they waited on is cancelled."""
        scopes = self._deadline_scopes
        if all(scope.until > now for scope in scopes):
            return
        pending = self._pending_groups
        ended = expired_waits(scopes, pending.__contains__, now, self)
        for waiting, error in ended:
            if waiting._state is None:
                self._fail_calls_of(waiting, error)
                continue
            below = futures_in(waiting._yielded)
            interrupt_task(waiting, error)
            for future in below:
                self._cancel_unwaited(future, f"{error}")
        if ended:
            drop_unwaited(pending, {id(future) for future, _ in self._native_loads()})
            # Forgotten, they stop counting (the next wait opens them again).
            for clocked in (self._left, self._due):
                for group in [group for group in clocked if group not in pending]:
                    if type(group) is not _LateLoads:
                        del clocked[group]

    def _native_loads(self) -> Iterator[Load]:
        """The loads of native code not handed their values yet."""
        for loads in self._loads.values():
            yield from loads
        for late in self._late_batches:
            yield from late.loads

    def _fail_calls_of(self, awaited: Any, error: BaseException) -> None:
        for scope in self._deadline_scopes:
            for domain, waiter in scope.waiters.get(id(awaited), ()):
                if domain is self and not waiter.future.done():
                    awaited._remove_waiter(waiter)
                    waiter.future.set_exception(error)

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

    # -- rounds ------------------------------------------------------------

    def add_pending_group(self, group: FlushGroup) -> None:
        """Remembers a group some task or call waits on: it opens now (see
        ``_open``), unless it is open or flushing already."""
        if group not in self._pending_groups and group not in self._flushing_groups:
            self._pending_groups[group] = None
            self._open(group)

    def _open(self, group: FlushGroup | _LateLoads) -> None:
        """Starts the clock of a new pending group: a callback that queues
        itself once per turn from the position of the load that opened the
        group, as DataLoader's dispatch does. Opened ``k`` turns into a hold,
        it is due ``k`` turns later still (see ``_consider``)."""
        self._left[group] = _TURNS_TO_DUE + self._held
        self._own_ready += 1
        self._loop.call_soon(self._hop, group, context=self._context)

    def _hop(self, group: FlushGroup | _LateLoads) -> None:
        left = self._left.get(group)
        if left is None:  # taken already (with late loads of its queue) or forgotten
            self._own_ready -= 1
        elif self._due:  # a hold stops the clock
            self._loop.call_soon(self._hop, group, context=self._context)
        elif left > 1:
            self._left[group] = left - 1
            self._loop.call_soon(self._hop, group, context=self._context)
        else:
            del self._left[group]
            self._own_ready -= 1
            self._due[group] = None
            self._consider()

    def _watch(self) -> None:
        """Runs once per turn while due groups are held back."""
        self._own_ready -= 1
        self._watch_queued = False
        self._deferrals += 1
        self._held += 1
        self._consider()

    def _consider(self) -> None:
        """Takes the due groups if the loop is idle (or has been busy for
        as many turns as ``set_asyncio_hold_turns`` allows), else holds them back one more turn.

        Held back, they wait for the coroutines still running to add their
        keys. The coroutines that wait on them then fall behind DataLoader's
        timeline: the hold stops the clock of every pending group (``_hop``),
        so that the others fall behind alike and stay in step with them."""
        if self._deferrals < _max_hold_turns and not self._loop_is_idle():
            if not self._watch_queued:
                self._watch_queued = True
                self._own_ready += 1
                self._loop.call_soon(self._watch, context=self._context)
            return
        self._deferrals = self._held = 0
        pending, late_of = self._pending_groups, self._late
        groups: list[FlushGroup] = []
        late_batches: list[_LateLoads] = []
        for group in self._due:
            if isinstance(group, _LateLoads):
                late_batches.append(group)
            else:
                pending.pop(group, None)
                late_of.pop(group, None)
                groups.append(group)
        self._due.clear()
        for late in late_batches:
            groups += self._take_same_queue(late)
        if groups:
            self._start_round(take_round(dict.fromkeys(groups), every_group=True))
        for late in late_batches:
            self._release(late)

    def _loop_is_idle(self) -> bool:
        """True if nothing but the domain's own callbacks is ready to run: no
        coroutine can load anything before the loop waits for I/O or timers.
        On a loop that does not show its ready queue, true if nothing happened
        in the domain since the last look."""
        ready = self._loop_ready
        if ready is not None:
            return len(ready) <= self._own_ready
        still = self.activity == self._activity_seen
        self._activity_seen = self.activity
        return still

    # -- late loads ----------------------------------------------------------

    def _late_load(
        self, group: FlushGroup, future: DeferredFuture[Any], done: asyncio.Future[Any]
    ) -> None:
        """A load from a group held back: DataLoader would have taken the group
        already and put the key in the next batch of its queue. The key joins
        the group's fetch all the same (if the group is still open), but its
        value is handed over as that next batch's would be, so that the
        coroutine waiting on it keeps its pace relative to the others: the
        group's late loads are a pending group of their own (never flushed)."""
        late = self._late.get(group)
        if late is None:
            late = self._late[group] = _LateLoads(group)
            self._late_batches[late] = None
            self._open(late)
        late.loads.append((future, done))

    def _take_same_queue(self, late: _LateLoads) -> list[FlushGroup]:
        """Takes out of the pending groups those DataLoader would have filled
        together with ``late``: of its queue (the loader's next batches), and
        opened before it was due (less than the full count left)."""
        queue = late.queue
        if queue is None:
            return []
        pending, left = self._pending_groups, self._left
        found = [
            group
            for group in pending
            if left.get(group, _TURNS_TO_DUE) < _TURNS_TO_DUE
            and getattr(group, "queue", None) is queue
        ]
        for group in found:
            del pending[group], left[group]
        late.after = found
        return found

    def _release(self, late: _LateLoads) -> None:
        """Hands late loads their values once the group they joined and the
        groups taken with them are flushed; at the earliest next turn, when
        DataLoader's bulk function would have been called."""
        flushing = self._flushing_groups
        after = [group for group in late.after if group in flushing]
        if late.group in flushing:
            after.append(late.group)
        if not after:
            self._own_ready += 1
            self._loop.call_soon(self._settle_late, late, context=self._context)
            return
        late.left = len(after)
        for group in after:
            self._late_after.setdefault(group, []).append(late)

    def _settle_late(self, late: _LateLoads) -> None:
        self._own_ready -= 1
        del self._late_batches[late]
        settle(late.loads)

    # -- flushes -------------------------------------------------------------

    def _start_round(self, groups: list[FlushGroup]) -> None:
        self._observe_like(_thread_state.scheduler)
        flushing = Round(self, groups, deferred_report=True)
        members = None
        loads: set[int] = set()
        if self._deadline_scopes:
            for scope in self._deadline_scopes:
                scope.rounds += 1
            self._end_passed_deadlines(time.monotonic())
            members = Members(self._deadline_scopes)
            loads = {id(future) for future, _ in self._native_loads()}
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
        loads = self._loads.pop(group, None)
        if loads is not None:
            settle(loads)
        waiting = self._late_after.pop(group, None)
        if waiting is not None:
            for late in waiting:
                late.left -= 1
                if not late.left:
                    del self._late_batches[late]
                    settle(late.loads)
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
        idle = self._idle_ready
        if len(idle) > 1:
            idle[:] = depth_first(list(idle), list(self._calls))
        self.activity += 1
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


class _LateLoads:
    """The loads of a group made after it was due, handed their values like a
    batch of their own (see ``AsyncioDomain._late_load``): a group of the
    domain's clock, never flushed."""

    __slots__ = ("group", "queue", "loads", "after", "left")

    def __init__(self, group: FlushGroup) -> None:
        self.group = group
        self.queue: object = getattr(group, "queue", None)
        self.loads: list[Load] = []
        self.after: list[FlushGroup] = []  # the groups of its queue taken with it
        self.left = 0  # of those and ``group``, how many are not flushed yet

    def __repr__(self) -> str:
        return f"<{len(self.loads)} late loads of {self.group!r}>"


async def _awaited_within(work: Any, budget: Any) -> None:
    """Awaits a group's ``flush_async()`` with ``budget`` as its flush budget."""
    token = flush_budget.set(budget)
    try:
        await work
    finally:
        flush_budget.reset(token)
