"""The per-thread task scheduler: runs task generators, flushes groups.

Invariants:
- One scheduler per thread (``get_scheduler``); nothing is shared between
  threads. ``_ready`` is a stack of tasks whose dependencies are all
  computed; popping from its top makes the order depth-first.
- A task is in exactly one state: NEW (created, not scheduled), QUEUED (on
  the ready stack; stale duplicate entries are skipped when popped), RUNNING,
  WAITING (registered as a waiter on ``_pending`` uncomputed futures) or DONE.
- A task waiting on several futures runs them in asynq 1.x's order: the
  items of lists and tuples first to last, the values of dicts last to
  first (nested structures alike).
- When no task can go on, the pending flush group of highest priority is
  flushed; the tasks it wakes resume in the depth-first order of the tree
  of waiting tasks under the awaited one, as asynq 1.x's scheduler, which
  walks that tree again after each flush, resumes them. If no group is
  pending and the awaited task is still not computed, the tasks wait on
  each other (a cycle) and a clear error says which.
- A synchronous call inside a task (``wait_for``) nests a loop on the same
  stack: every ready task may run in it, batches pending from outer levels
  may be flushed by it. The scheduler keeps its own stack, so a deep chain of
  tasks never deepens Python's.
- An error escaping the outermost synchronous call (a hook, KeyboardInterrupt
  out of a batch, ...) abandons its run: its queued tasks and pending batches
  are cancelled, so the next run finds the scheduler empty.
- The untraced loop has no debug checks; ``wait_for`` picks the traced step
  once per loop when a debug option is on (see ``_debug.options.tracing``)
  or a recording of ``asynq_core.tracing`` is active in this thread.
- Deadlines cost nothing until one is open: ``wait_for`` picks the round
  function once per loop (``_round``), the bounded one only while deadlines
  are open in this thread or rounds are in flight. A bounded round checks
  the open deadlines first (see ``deadline_scopes``: the tasks of a passed
  one stop waiting on batches and resume with DeadlineExceededError), gives
  each flush its budget, fetches what can fetch off-thread in the pool, and
  waits for the fetches only until the earliest open deadline. A round it
  stops waiting on stays *in flight*: its deliveries run here later (at the
  next round, or when nothing else can go on), for whoever still waits.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from typing import TYPE_CHECKING, Any

import qcore

from . import _debug
from .deadline_scopes import (
    Members,
    Scope,
    budget_of,
    drop_unwaited,
    expired_waits,
    flush_budget,
    open_scopes,
    run_within,
)
from .errors import AsyncTaskCancelledError, AsyncTaskError, AsyncTaskResult
from .futures import ErrorFuture, FutureBase
from .instrumentation import traced_step
from .rounds import Round, take_round
from .task_states import DONE, NEW, QUEUED, RUNNING, WAITING
from .yielded import (
    BadYield,
    ContextFailure,
    depth_first,
    describe_stall,
    futures_in,
    in_one_fan_out,
    result_of,
    uncomputed_in,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from .protocols import FlushGroup, Task, TaskContext, Tracer
    from .yielded import WaitedOn, Yielded

# The scheduler reads and writes the slots of its tasks and futures (the Task
# protocol's, asynq 1.x's names) and the rounds and tracers read its own.
# pyright: reportPrivateUsage=false

__all__ = [
    "TaskScheduler",
    "cancel_task",
    "flush_now",
    "AsyncTaskError",
    "get_scheduler",
    "get_active_task",
    "interrupt_task",
    "reset",
]


class TaskScheduler:
    """Runs the tasks of one thread; see the module docstring for the rules."""

    def __init__(self) -> None:
        self.active_task: Task | None = None
        self._ready: list[Task] = []
        self._pending_groups: dict[FlushGroup, None] = {}
        self._max_depth = _debug.options.MAX_TASK_STACK_SIZE
        # This thread's active recordings (asynq_core.tracing), outermost first:
        # while there is one, wait_for picks the traced loop.
        self._tracers: list[Tracer] = []
        # The round function (_flush_round, or _flush_round_bounded while
        # deadlines are open or rounds in flight), and the untraced loop's
        # (step, round), bound once: a synchronous call should not allocate
        # two bound methods.
        self._round = self._flush_round
        self._lean_loop = (self._step, self._round)
        # The deadlines open in this thread (their order is the contexts':
        # see open_scopes), and the rounds a deadline stopped waiting on (see
        # the module docstring).
        self._open_scopes: list[Scope] = []
        self._in_flight: list[_InFlight] = []
        self.on_before_batch_flush = qcore.EventHook()
        self.on_after_batch_flush = qcore.EventHook()
        # Flushes in progress: a synchronous call made while one runs (from a
        # batch or a hook) is nested in a run even though no task is active.
        self._flushing = 0

    def __repr__(self) -> str:
        return (
            f"<TaskScheduler ({len(self._ready)} ready, "
            f"{len(self._pending_groups)} pending groups, active: {self.active_task!r})>"
        )

    # -- public API ------------------------------------------------------

    def wait_for(self, task: Task) -> None:
        """Runs the scheduler until ``task`` is computed (a synchronous call)."""
        if task._computed:
            return
        state = task._state
        active = self.active_task
        if state == RUNNING:
            raise AsyncTaskError(
                f"{task!r} waits for itself: it is running and asked for its own value"
                + ("" if active is task else f" (through {active!r})")
            )
        options = _debug.options
        self._max_depth = options.MAX_TASK_STACK_SIZE
        if options.tracing or self._tracers:
            step, flush = self._step_traced, self._round
        else:
            step, flush = self._lean_loop
        contexts = None if active is None else active._contexts
        if not contexts:
            try:
                if state == NEW and active is None:
                    # The common top-level call, inlined: its first step runs at
                    # once, not through the stack, and most calls end there.
                    task._depth = 0
                    task._state = QUEUED
                    task._scheduler = self
                    next_task = step(task)
                    if next_task is not None or not task._computed:
                        self._run(task, None, step, flush, next_task)
                else:
                    self._wait(task, state, active, step, flush)
            except BaseException as error:
                if active is None and not self._flushing:
                    self._abandon_run(error)
                raise
            finally:
                self.active_task = active
            return
        # The active task stops running while the nested loop runs others:
        # its contexts are paused meanwhile. Their errors reach the caller
        # once the awaited task is computed.
        context_error = _pause_contexts(contexts)
        try:
            self._wait(task, state, active, step, flush)
        finally:
            self.active_task = active
            context_error = _resume_contexts(contexts) or context_error
        if context_error is not None:
            raise context_error

    def _wait(
        self,
        task: Task,
        state: int | None,
        active: Task | None,
        step: Callable[[Task], Task | None],
        flush: Callable[[Task], None],
    ) -> None:
        if state == NEW:
            depth = 0 if active is None else active._depth + 1
            if depth > self._max_depth:
                task._schedule_computation(self)  # fails it: too deep
                return
            # Run it at once rather than through the stack: most
            # synchronous calls finish in this first step.
            task._depth = depth
            task._state = QUEUED
            task._scheduler = self
            next_task = step(task)
            if task._computed and next_task is None:
                return
            self._run(task, active, step, flush, next_task)
            return
        if state == QUEUED:
            self._ready.append(task)  # run it first; the older entry goes stale
        self._run(task, active, step, flush, None)

    def _adopt_awaitables(self, yielded: WaitedOn) -> Yielded:
        """What a task that yielded something other than futures waits on
        instead, or None (an error): only an asyncio scope takes awaitables."""
        return None

    def add_pending_group(self, group: FlushGroup) -> None:
        """Remembers a flush group some task waits on (the deferred-future seam)."""
        self._pending_groups[group] = None

    def pending_groups(self) -> list[FlushGroup]:
        """The groups that will be flushed when no task can go on."""
        return list(self._pending_groups)

    def reset(self) -> None:
        """Forgets every queued task, pending group and round in flight (after a
        fatal error)."""
        self.active_task = None
        self._ready.clear()
        self._pending_groups.clear()
        self._in_flight.clear()
        self._switch_round()

    def dump(self, indent: int = 0) -> None:
        """Writes the scheduler's ready tasks and pending groups to the debug output."""
        write = _debug.output.write
        write(repr(self), indent)
        for task in reversed(self._ready):
            write(f"ready: {task!r}", indent + 1)
        for group in self._pending_groups:
            write(f"pending: {group!r}", indent + 1)

    # -- the loop --------------------------------------------------------

    def _run(
        self,
        root: Task,
        outer: Task | None,
        step: Callable[[Task], Task | None],
        flush: Callable[[Task], None] | None,
        task: Task | None,
    ) -> None:
        ready = self._ready
        pending_groups = self._pending_groups
        while True:
            if root._computed:
                if task is not None:
                    ready.append(task)
                return
            if task is None:
                if ready:
                    task = ready.pop()
                    if task._state != QUEUED:
                        task = None
                        continue
                elif flush is None:
                    return  # the asyncio domain: its loop decides when to flush
                elif pending_groups:
                    self.active_task = outer
                    flush(root)
                    continue
                elif self._in_flight:  # read only when nothing else can go on
                    self.active_task = outer
                    self._flush_round_bounded(root)
                    continue
                else:
                    raise AsyncTaskError(describe_stall(root))
            # The step hands back the task to run next when it is the one that
            # would be on top of the stack anyway (a new child, a woken waiter).
            task = step(task)

    def _flush_round(self, root: Task) -> None:
        """Flushes the next round (see ``rounds``): a single group here, several
        opted-in ones with their fetches in worker threads, deliveries on this
        thread. The tasks it wakes resume in the depth-first order of the
        waiting tree under ``root`` (see the module docstring)."""
        groups = take_round(self._pending_groups, every_group=False)
        self._flushing += 1
        try:
            flushing = Round(self, groups)
            woken_from = len(self._ready)
            if len(groups) == 1:
                flushing.flush(groups[0])
            else:
                self._flush_concurrently(flushing)
            ready = self._ready
            if len(ready) - woken_from > 1:
                woken = ready[woken_from:]
                if not in_one_fan_out(woken):
                    woken = depth_first(woken, (root,))
                woken.reverse()  # the first to run on top
                ready[woken_from:] = woken
            flushing.end()
        finally:
            self._flushing -= 1

    def _flush_concurrently(self, flushing: Round) -> None:
        """The groups of ``flushing`` that can (``begin_flush()``) fetch together in
        worker threads; their deliveries run here, in priority order."""
        fetches: list[concurrent.futures.Future[Callable[[], object]]] = []
        for group in flushing.groups:
            begin_flush = getattr(group, "begin_flush", None)
            if begin_flush is None:
                flushing.flush(group)
                continue
            try:
                fetch = begin_flush()
            except BaseException as error:
                flushing.note_error(error)
                continue
            if fetch is not None:
                fetches.append(_flush_pool().submit(fetch))
        for fetched in fetches:
            try:
                deliver = fetched.result()
                deliver()
            except BaseException as error:  # the other groups are still delivered
                flushing.note_error(error)

    # -- deadlines (see deadline_scopes) -------------------------------------

    def _open_scope(self, scope: Scope) -> None:
        """A deadline opens in this thread."""
        self._open_scopes.append(scope)
        self._switch_round()

    def _close_scope(self, scope: Scope) -> None:
        scopes = self._open_scopes
        for index in range(len(scopes) - 1, -1, -1):
            if scopes[index] is scope:
                del scopes[index]
                break
        self._switch_round()

    def _switch_round(self) -> None:
        """Picks the round function of the loops started from now on."""
        bounded = bool(self._open_scopes or self._in_flight)
        self._round = self._flush_round_bounded if bounded else self._flush_round
        self._lean_loop = (self._step, self._round)

    def _flush_round_bounded(self, root: Any) -> None:
        """The round while deadlines are open or rounds are in flight (see the
        module docstring); called with nothing pending when only rounds in
        flight can make the tasks go on. Mirrors ``_flush_round``."""
        ready = self._ready
        woken_from = len(ready)
        scopes = open_scopes()
        if not scopes and self._pending_groups and not self._in_flight:
            self._flush_round(root)  # what was in flight was delivered meanwhile
            return
        self._flushing += 1
        try:
            if scopes:  # the innermost: the earliest, and nested in the others
                scopes[-1].add_call(root)
            if self._in_flight:
                self._deliver_in_flight(scopes, wait=False)
                for entry in self._in_flight:  # waited on again: their delivery computes them
                    for fetch in entry.fetches:
                        if fetch is not None:
                            self._pending_groups.pop(fetch[0], None)
            if scopes:
                self._end_expired_waits(scopes)
            if len(ready) > woken_from:
                return  # tasks can go on: the round waits for them
            if self._pending_groups:
                self._bounded_round(scopes)
            else:
                self._deliver_in_flight(scopes, wait=True)
            if scopes:
                self._end_expired_waits(scopes)
        finally:
            self._flushing -= 1
            if len(ready) - woken_from > 1:
                woken = ready[woken_from:]
                if not in_one_fan_out(woken):
                    woken = depth_first(woken, (root,))
                woken.reverse()
                ready[woken_from:] = woken

    def _bounded_round(self, scopes: list[Scope]) -> None:
        """Flushes the next round with each group's budget: what can fetch
        off-thread fetches in the pool, waited on until the earliest of
        ``scopes`` (the open deadlines, outermost first); a round not done by
        then stays in flight."""
        groups = take_round(self._pending_groups, every_group=False)
        for scope in scopes:
            scope.rounds += 1
        members = Members(scopes)
        begins = [getattr(group, "begin_flush", None) for group in groups]
        flushing = Round(self, groups, deferred_report=any(begins))
        fetches: list[tuple[Any, concurrent.futures.Future[Any]]] = []
        for group, begin_flush in zip(groups, begins, strict=True):
            budget = budget_of(group, members)
            if begin_flush is None:
                token = flush_budget.set(budget)
                try:
                    flushing.flush(group)
                finally:
                    flush_budget.reset(token)
                continue
            try:
                fetch = begin_flush()
            except BaseException as error:
                flushing.note_error(error)
                continue
            if fetch is not None:
                fetches.append((group, _flush_pool().submit(run_within, fetch, budget)))
        if not fetches:
            flushing.end()
            return
        concurrent.futures.wait([fetched for _, fetched in fetches], _time_left(scopes))
        self._in_flight.append(_InFlight(flushing, fetches))
        self._switch_round()
        self._deliver_in_flight(scopes, wait=False)

    def _deliver_in_flight(self, scopes: list[Scope], wait: bool) -> None:
        """Delivers the fetches of the rounds in flight that are done, in order
        (with ``wait``, first waits until one is, or the earliest of ``scopes``
        passes); a round whose fetches are all delivered ends (its after-hooks
        and report; its first error is raised once every round was handled)."""
        in_flight = self._in_flight
        if wait:
            concurrent.futures.wait(
                [fetch[1] for entry in in_flight for fetch in entry.fetches if fetch is not None],
                _time_left(scopes),
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
        first_error = None
        for entry in list(in_flight):
            fetches = entry.fetches
            for index, fetch in enumerate(fetches):
                if fetch is None or not fetch[1].done():
                    continue
                fetches[index] = None
                try:
                    fetch[1].result()()
                except BaseException as error:  # the other groups are still delivered
                    entry.flushing.note_error(error)
            if any(fetch is not None for fetch in fetches):
                continue
            in_flight.remove(entry)
            try:
                entry.flushing.end()
            except BaseException as error:
                if first_error is None:
                    first_error = error
        self._switch_round()
        if first_error is not None:
            raise first_error

    def _finish_flush(self, group: Any) -> None:
        """Waits for the fetch of ``group`` if a round left it in flight, and
        delivers the rounds in flight that are done then (``value()`` of a
        deferred future whose group is in flight)."""
        for entry in self._in_flight:
            for fetch in entry.fetches:
                if fetch is not None and fetch[0] is group:
                    concurrent.futures.wait([fetch[1]])
                    self._deliver_in_flight([], wait=False)
                    return

    def _end_expired_waits(self, scopes: list[Scope]) -> None:
        """The tasks of those of ``scopes`` that have passed stop waiting on what
        is not theirs (see ``deadline_scopes``); the groups nothing waits on
        any more are no longer pending."""
        now = time.monotonic()
        if all(scope.until > now for scope in scopes):
            return
        pending = self._pending_groups
        ended = expired_waits(scopes, pending.__contains__, now, self)
        for task, error in ended:
            interrupt_task(task, error)
        if ended:
            drop_unwaited(pending)

    def _abandon_run(self, error: BaseException) -> None:
        """``error`` ended the outermost synchronous call before its task was done.

        The pending groups are forgotten, after those that can be cancelled
        (``cancel(error)``, as batches) were, which fails their futures. Then
        every task the run left queued is cancelled: its generator closed, it
        fails with AsyncTaskCancelledError, which wakes its waiters, cancelled
        in turn. So nothing of the abandoned run resumes inside the next one
        (a task waiting on a future that nothing computes stays waiting).
        """
        groups = list(self._pending_groups)
        self._pending_groups.clear()
        for group in groups:
            cancel = getattr(group, "cancel", None)
            if cancel is not None:
                try:
                    cancel(AsyncTaskCancelledError(f"{group!r} was abandoned: {error!r}"))
                except Exception:  # a group that cannot be cancelled is dropped
                    pass
        # No task runs while generators are closed: a context exited by the
        # close must not be paused twice (the scheduler paused it already).
        self.active_task = None
        # The stack is taken away before any generator is closed, so that a
        # synchronous call made by a ``finally`` block runs none of its tasks;
        # waiters woken by a cancellation land on the new stack, handled next.
        while self._ready:
            queued = self._ready[:]
            self._ready.clear()
            for task in reversed(queued):
                if task._state != QUEUED:
                    continue
                abandoned = f"{task!r} was abandoned: {error!r} ended the run"
                cancel_task(task, AsyncTaskCancelledError(abandoned))

    def _step(self, task: Task) -> Task | None:
        """Runs ``task`` until it waits on an uncomputed future or finishes.

        Returns the task to run next if it is known without the stack: the
        child the task started waiting on, or the waiter it woke by finishing.
        """
        task._state = RUNNING
        self.active_task = task
        # Only a task done has no generator, and only one not done runs.
        gen: Generator[Any, Any, Any] = task._generator  # type: ignore[assignment]
        yielded: WaitedOn = task._yielded
        if yielded is None:
            send_value = send_error = None
        else:
            task._yielded = None
            if isinstance(yielded, FutureBase):
                send_value = yielded._value
                send_error = yielded._error
            else:
                send_value, send_error = result_of(yielded)
        contexts = task._contexts
        if contexts:
            resume_error = _resume_contexts(contexts)
            if resume_error is not None:
                send_error = resume_error
        while True:
            task.iteration_index += 1
            try:
                if send_error is None:
                    yielded = gen.send(send_value)
                else:
                    yielded = gen.throw(send_error)
            except StopIteration as stop:
                value = stop.value
                error = None
            except AsyncTaskResult as legacy_return:
                value = legacy_return.result
                error = None
            except BaseException as exc:
                value = None
                error = _task_error(task, exc)
            else:
                next_task: Task | None = None
                if yielded is None:
                    send_value = send_error = None
                    continue
                if isinstance(yielded, FutureBase):
                    if yielded._computed:
                        send_value = yielded._value
                        send_error = yielded._error
                        continue
                    if yielded is task:  # type: ignore[comparison-overlap]  # tasks are futures
                        send_value = None
                        send_error = AsyncTaskError(f"{task!r} yielded itself")
                        continue
                    task._yielded = yielded
                    task._pending = 1
                    task._state = WAITING
                    if yielded._waiters is None:
                        yielded._waiters = task
                    else:
                        yielded._add_waiter(task)
                    if yielded._state == NEW and task._depth < self._max_depth:
                        # A task (its _state says so); checkers see a FutureBase.
                        yielded._depth = task._depth + 1  # type: ignore[attr-defined]
                        yielded._state = QUEUED  # type: ignore[misc]
                        yielded._scheduler = self  # type: ignore[attr-defined]
                        next_task = yielded  # type: ignore[assignment]
                    else:
                        yielded._schedule_computation(self)
                else:
                    uncomputed: list[FutureBase[Any]] | None = None
                    if type(yielded) is list:
                        try:
                            uncomputed = [item for item in yielded if not item._computed]
                        except AttributeError:  # None or nested: the general route
                            pass
                        else:
                            if task in uncomputed:  # type: ignore[comparison-overlap]  # tasks are futures
                                uncomputed = None  # the general route names the error
                    if uncomputed is None:
                        try:
                            uncomputed = uncomputed_in(yielded, task, [])
                        except (TypeError, AsyncTaskError) as bad_yield:
                            # Under asyncio, native awaitables are waited on
                            # as futures: the structure is rebuilt with them.
                            adopted = self._adopt_awaitables(yielded)
                            if adopted is not None:
                                yielded = adopted
                                uncomputed = uncomputed_in(yielded, task, [])
                            elif type(bad_yield) is TypeError and isinstance(
                                yielded, (list, tuple, dict)
                            ):
                                uncomputed = uncomputed_in(yielded, task, [], tolerant=True)
                                yielded = BadYield(yielded, bad_yield)
                            else:
                                send_value = None
                                send_error = bad_yield
                                continue
                    if not uncomputed:
                        send_value, send_error = result_of(yielded)
                        continue
                    task._yielded = yielded
                    task._pending = len(uncomputed)
                    task._state = WAITING
                    for future in uncomputed:
                        if future._waiters is None:
                            future._waiters = task
                        else:
                            future._add_waiter(task)
                    ready = self._ready
                    start = len(ready)
                    depth = task._depth + 1
                    for future in uncomputed:
                        if future._state == NEW and depth <= self._max_depth:
                            # A task (its _state says so); checkers see a FutureBase.
                            future._depth = depth  # type: ignore[attr-defined]
                            future._state = QUEUED  # type: ignore[misc]
                            future._scheduler = self  # type: ignore[attr-defined]
                            ready.append(future)  # type: ignore[arg-type]
                        else:
                            future._schedule_computation(self)
                    if len(ready) - start > 1:
                        # Reversed, so that the first dependency is on top and runs first.
                        started = ready[start:]
                        started.reverse()
                        ready[start:] = started
                # Re-read: the task may have entered its first context during this step.
                contexts = task._contexts
                if contexts:
                    pause_error = _pause_contexts(contexts)
                    if pause_error is not None:
                        task._yielded = ContextFailure(task._yielded, pause_error)
                return next_task
            # The task is done.
            contexts = task._contexts
            if contexts:
                pause_error = _pause_contexts(contexts)
                if pause_error is not None and error is None:
                    error = pause_error
            task._generator = None
            task._state = DONE
            if error is None:
                task._value = value
            else:
                task._error = error
            task._computed = True
            waiter = task._waiters
            if waiter is None and task._on_computed is None:
                return None
            if (
                waiter is None
                or type(waiter) is list
                or task._on_computed is not None
                or waiter._scheduler is not self
            ):
                task._notify()
                return None
            # The common case, inlined: a single waiter, run by this scheduler.
            task._waiters = None
            pending = waiter._pending - 1
            waiter._pending = pending
            if pending:
                return None
            waiter._state = QUEUED
            return waiter

    # The step run while a debug option is on or something records (see
    # instrumentation); the loop picks it once per call.
    _step_traced = traced_step


def _task_error(task: Task, exc: BaseException) -> BaseException:
    """The error a task fails with when resuming it raised ``exc``.

    The scheduler's own frame is dropped, so the traceback runs task to task.
    An error raised by the scheduler's frame itself (nothing below it) means
    the task has no generator to resume: AsyncTask was given something else.
    """
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is TaskScheduler._step.__code__:
        if tb.tb_next is None and isinstance(exc, AttributeError):
            return TypeError(
                f"{task!r} was created with {task._generator!r}, not a generator: "
                "AsyncTask(generator, fn, args, kwargs) takes the generator of the call"
            )
        exc.__traceback__ = tb.tb_next
    return exc


def cancel_task(task: Task, error: BaseException) -> None:
    """Ends an unfinished task with ``error`` (an AsyncTaskCancelledError): it
    stops waiting on what it waited on, its generator is closed (its
    ``finally`` blocks run), and it fails, which wakes its waiters. Errors of
    the closing generator or of on_computed subscribers are dropped: the
    cancellation is what the task's waiters must see."""
    if task._state == WAITING:
        for future in futures_in(task._yielded):
            future._remove_waiter(task)
        task._yielded = None
    try:
        if task._generator is not None:
            task._generator.close()
    except BaseException:
        pass
    try:
        task._finish(None, error)
    except BaseException:
        pass


def flush_now(group: FlushGroup) -> None:
    """Flushes ``group`` at once, not in a round of the scheduler (what
    ``.value()`` of an uncomputed batch item outside a task does). While
    something traces this thread, it is a round of its own, without the flush
    hooks: recordings see it and a replay may serve it; else it is just
    ``group.flush()``."""
    scheduler = _state.scheduler
    if not scheduler._tracers:
        group.flush()
        return
    flushing = Round(scheduler, [group], direct=True)
    flushing.flush(group)
    flushing.end()


def _time_left(scopes: list[Scope]) -> float | None:
    """Seconds until the earliest of ``scopes`` not passed yet, or None."""
    limit = math.inf
    for scope in scopes:
        if not scope.expired and scope.until < limit:
            limit = scope.until
    return None if limit == math.inf else max(0.0, limit - time.monotonic())


def interrupt_task(task: Any, error: BaseException) -> None:
    """Ends the wait of a waiting task: it stops waiting on what it waited on
    (which goes on for its other waiters), and resumes on its scheduler with
    ``error`` thrown at its yield."""
    for future in futures_in(task._yielded):
        future._remove_waiter(task)
    task._yielded = ErrorFuture(error)
    task._pending = 0
    task._state = QUEUED
    task._scheduler._ready.append(task)


class _InFlight:
    """A round whose fetches a deadline stopped waiting on: ``fetches`` (group
    and the pool's future of its ``fetch()``, in priority order; None once
    delivered) and its ``Round``."""

    __slots__ = ("flushing", "fetches")

    def __init__(
        self, flushing: Round, fetches: list[tuple[Any, concurrent.futures.Future[Any]]]
    ) -> None:
        self.flushing = flushing
        self.fetches: list[tuple[Any, concurrent.futures.Future[Any]] | None] = list(fetches)


def _resume_contexts(contexts: dict[int, TaskContext]) -> BaseException | None:
    """Resumes every context in entry order; returns the first error."""
    first_error = None
    for context in list(contexts.values()):
        try:
            context.resume()
        except BaseException as error:
            if first_error is None:
                first_error = error
    return first_error


def _pause_contexts(contexts: dict[int, TaskContext]) -> BaseException | None:
    """Pauses every context in reverse entry order; returns the first error."""
    first_error = None
    for context in reversed(list(contexts.values())):
        try:
            context.pause()
        except BaseException as error:
            if first_error is None:
                first_error = error
    return first_error


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _flush_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The worker threads of concurrent flushes, shared by every scheduler."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asynq-flush")
    return _pool


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.scheduler = TaskScheduler()


_state = _ThreadState()


def get_scheduler() -> TaskScheduler:
    """Returns this thread's scheduler."""
    return _state.scheduler


def get_active_task() -> Any:
    """Returns the task running in this thread, or None."""
    return _state.scheduler.active_task


def reset() -> None:
    """Replaces this thread's scheduler with a fresh one."""
    _state.scheduler = TaskScheduler()
