"""The per-thread task scheduler: runs task generators, flushes groups.

Invariants:
- One scheduler per thread (``get_scheduler``); nothing is shared between
  threads. ``_ready`` is a stack of tasks whose dependencies are all
  computed; popping from its top makes the order depth-first.
- A task is in exactly one state: NEW (created, not scheduled), QUEUED (on
  the ready stack; stale duplicate entries are skipped when popped), RUNNING,
  WAITING (registered as a waiter on ``_pending`` uncomputed futures) or DONE.
- When no task can go on, the pending flush group of highest priority is
  flushed; the tasks it wakes resume in the order their futures were set
  (for a batch, the order its items were added), as in asynq 1.x; if there
  is none and the awaited task is still not computed, the
  tasks wait on each other (a cycle) and a clear error says which.
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
"""

from __future__ import annotations

import concurrent.futures
import inspect
import threading
import time
from typing import Any

import qcore

from . import _debug, profiler
from .futures import FutureBase
from .utils import AsyncTaskResult

__all__ = [
    "TaskScheduler",
    "AsyncTaskError",
    "get_scheduler",
    "get_active_task",
    "reset",
]

# Task states (see the module docstring).
NEW, QUEUED, RUNNING, WAITING, DONE = range(5)


class AsyncTaskError(Exception):
    """Misuse of tasks detected by the scheduler (e.g. tasks waiting on each other)."""


class TaskScheduler:
    """Runs the tasks of one thread; see the module docstring for the rules."""

    def __init__(self) -> None:
        self.active_task: Any = None
        self._ready: list[Any] = []
        self._pending_groups: dict[Any, None] = {}
        self._max_depth = _debug.options.MAX_TASK_STACK_SIZE
        # This thread's active recordings (asynq_core.tracing), outermost first:
        # while there is one, wait_for picks the traced loop.
        self._tracers: list[Any] = []
        # Bound once: a synchronous call should not allocate two bound methods.
        self._lean_loop = (self._step, self._flush)
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

    def wait_for(self, task: Any) -> None:
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
            step, flush = self._step_traced, self._flush_traced
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

    def _wait(self, task: Any, state: int, active: Any, step: Any, flush: Any) -> None:
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

    def _adopt_awaitables(self, yielded: Any) -> Any:
        """What a task that yielded something other than futures waits on
        instead, or None (an error): only an asyncio scope takes awaitables."""
        return None

    def add_pending_group(self, group: Any) -> None:
        """Remembers a flush group some task waits on (the deferred-future seam)."""
        self._pending_groups[group] = None

    def pending_groups(self) -> list[Any]:
        """The groups that will be flushed when no task can go on."""
        return list(self._pending_groups)

    def reset(self) -> None:
        """Forgets every queued task and pending group (after a fatal error)."""
        self.active_task = None
        self._ready.clear()
        self._pending_groups.clear()

    def dump(self, indent: int = 0) -> None:
        from .debug import write

        write(repr(self), indent)
        for task in reversed(self._ready):
            write(f"ready: {task!r}", indent + 1)
        for group in self._pending_groups:
            write(f"pending: {group!r}", indent + 1)

    # -- the loop --------------------------------------------------------

    def _run(self, root: Any, outer: Any, step: Any, flush: Any, task: Any) -> None:
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
                    return  # an asyncio scope: the coroutine awaits, then goes on
                elif pending_groups:
                    self.active_task = outer
                    flush(self._next_group())
                    continue
                else:
                    raise AsyncTaskError(_describe_stall(root))
            # The step hands back the task to run next when it is the one that
            # would be on top of the stack anyway (a new child, a woken waiter).
            task = step(task)

    def _next_group(self) -> Any:
        groups = self._pending_groups
        if len(groups) == 1:
            group = next(iter(groups))
        else:
            group = max(groups, key=_priority_of)
        del groups[group]
        return group

    def _flush(self, group: Any) -> None:
        self._flushing += 1
        try:
            peers = self._take_concurrent_peers(group)
            if peers:
                self._flush_concurrently([group, *peers])
                return
            # The group is flushed even if a before-hook fails, so no waiter is
            # stranded; the hook's error then reaches the synchronous caller.
            # (qcore's compiled EventHook does not expose its handler list, so the
            # hooks are called unconditionally: once per flush, not per step.)
            try:
                self.on_before_batch_flush(group)
            finally:
                woken_from = len(self._ready)
                group.flush()
                _first_woken_on_top(self._ready, woken_from)
            self.on_after_batch_flush(group)
        finally:
            self._flushing -= 1

    def _take_concurrent_peers(self, group: Any) -> list[Any]:
        """Takes out of the pending groups, and returns, those that flush in one
        round with ``group``: if it is ``concurrent``, every pending one that is."""
        if not getattr(group, "concurrent", False):
            return []
        pending = self._pending_groups
        peers = [peer for peer in pending if getattr(peer, "concurrent", False)]
        for peer in peers:
            del pending[peer]
        return peers

    def _abandon_run(self, error: BaseException) -> None:
        """``error`` ended the outermost synchronous call before its task was done.

        The pending groups are forgotten, after those that can be cancelled
        (``cancel(error)``, as batches) were, which fails their futures. Then
        every task the run left queued is cancelled: its generator closed, it
        fails with AsyncTaskCancelledError, which wakes its waiters, cancelled
        in turn. So nothing of the abandoned run resumes inside the next one
        (a task waiting on a future that nothing computes stays waiting).
        """
        from .async_task import AsyncTaskCancelledError  # a cycle at import time

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
                cancelled = AsyncTaskCancelledError(
                    f"{task!r} was abandoned: {error!r} ended the run"
                )
                # Errors of the closed generator or of on_computed subscribers
                # are dropped: ``error`` is what the caller must see.
                try:
                    task._generator.close()
                except BaseException:
                    pass
                try:
                    task._finish(None, cancelled)
                except BaseException:
                    pass

    def _flush_concurrently(self, groups: list[Any]) -> None:
        """Flushes groups that opted in (``concurrent = True``) in one round: their
        fetches (``begin_flush()``'s callables) run together in worker threads,
        their deliveries back on this thread, in priority order."""
        first_error = self._before_flush(groups)
        woken_from = len(self._ready)
        fetches = []
        for group in groups:
            begin_flush = getattr(group, "begin_flush", None)
            if begin_flush is None:
                group.flush()
                continue
            fetch = begin_flush()
            if fetch is not None:
                fetches.append(_flush_pool().submit(fetch))
        for fetched in fetches:
            try:
                deliver = fetched.result()
                deliver()
            except BaseException as error:  # the other groups are still delivered
                first_error = first_error or error
        _first_woken_on_top(self._ready, woken_from)
        self._after_flush(groups, first_error)

    def _before_flush(self, groups: list[Any]) -> BaseException | None:
        """Calls the before-hooks of a round of several groups; returns the first
        error (the groups are flushed all the same)."""
        first_error = None
        for group in groups:
            try:
                self.on_before_batch_flush(group)
            except BaseException as error:
                first_error = first_error or error
        return first_error

    def _after_flush(self, groups: list[Any], first_error: BaseException | None) -> None:
        """Calls the after-hooks of a round of several groups, then raises the first
        error of the round (``first_error``, else one of these hooks')."""
        for group in groups:
            try:
                self.on_after_batch_flush(group)
            except BaseException as error:
                first_error = first_error or error
        if first_error is not None:
            raise first_error

    def _step(self, task: Any) -> Any:
        """Runs ``task`` until it waits on an uncomputed future or finishes.

        Returns the task to run next if it is known without the stack: the
        child the task started waiting on, or the waiter it woke by finishing.
        """
        task._state = RUNNING
        self.active_task = task
        gen = task._generator
        yielded = task._yielded
        if yielded is None:
            send_value = send_error = None
        else:
            task._yielded = None
            if isinstance(yielded, FutureBase):
                send_value = yielded._value
                send_error = yielded._error
            else:
                send_value, send_error = _result_of(yielded)
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
                next_task = None
                if yielded is None:
                    send_value = send_error = None
                    continue
                if isinstance(yielded, FutureBase):
                    if yielded._computed:
                        send_value = yielded._value
                        send_error = yielded._error
                        continue
                    if yielded is task:
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
                        yielded._state = QUEUED
                        yielded._scheduler = self  # type: ignore[attr-defined]
                        next_task = yielded
                    else:
                        yielded._schedule_computation(self)
                else:
                    uncomputed = None
                    if type(yielded) is list:
                        try:
                            uncomputed = [item for item in yielded if not item._computed]
                        except AttributeError:  # None or nested: the general route
                            pass
                        else:
                            if task in uncomputed:
                                uncomputed = None  # the general route names the error
                    if uncomputed is None:
                        try:
                            uncomputed = _uncomputed_in(yielded, task, [])
                        except (TypeError, AsyncTaskError) as bad_yield:
                            # Under asyncio, native awaitables are waited on
                            # as futures: the structure is rebuilt with them.
                            adopted = self._adopt_awaitables(yielded)
                            if adopted is None:
                                send_value = None
                                send_error = bad_yield
                                continue
                            yielded = adopted
                            uncomputed = _uncomputed_in(yielded, task, [])
                    if not uncomputed:
                        send_value, send_error = _result_of(yielded)
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
                            future._depth = depth
                            future._state = QUEUED
                            future._scheduler = self
                            ready.append(future)
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
                        task._yielded = _ContextFailure(task._yielded, pause_error)
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

    # -- the traced variants (debug options on, or something records) -----
    #
    # The objects in ``self._tracers`` (recordings of asynq_core.tracing) get
    # ``_step_started()`` / ``_step_ended(task, start, end)`` around every step
    # and ``_flush_started(group)`` / ``_flush_ended(group, start, end, error)``
    # around every flush, timed once for all of them. Each event goes to the
    # recordings active when it began, so a recording that starts or stops
    # inside a step sees both ends of a step or neither.

    def _step_traced(self, task: Any) -> Any:
        options = _debug.options
        tracers = tuple(self._tracers)
        if options.DUMP_CONTINUE_TASK:
            from . import debug

            debug.write(f"asynq: continue {debug.repr(task)}")
        for tracer in tracers:
            tracer._step_started()
        start = time.perf_counter()
        next_task = None
        try:
            next_task = self._step(task)
        finally:
            end = time.perf_counter()
            for tracer in tracers:
                tracer._step_ended(task, start, end)
            if options.tracing:
                self._debug_step(task, (end - start) * 1e6)
        return next_task

    def _debug_step(self, task: Any, elapsed_us: float) -> None:
        # Each option is tested before any work for it: with only OTEL_SPANS
        # on, a step costs a few attribute reads here.
        options = _debug.options
        collect = options.COLLECT_PERF_STATS
        if not task._computed:
            dump = options.DUMP_DEPENDENCIES
            if collect or dump:
                deps = _futures_in(task._yielded)
                if collect:
                    profiler.task_stepped(task, elapsed_us, deps)
                if dump:
                    from . import debug

                    debug.write(f"asynq: {debug.repr(task)} waits for {deps!r}", 1)
            return
        if collect:
            profiler.task_stepped(task, elapsed_us, [])
        if options.DUMP_COMPUTED:
            from . import debug

            debug.write(f"asynq: computed {debug.repr(task)}")
        if options.DUMP_EXCEPTIONS and task._error is not None:
            from . import debug

            debug.dump_error(task._error)

    def _flush_traced(self, group: Any) -> None:
        options = _debug.options
        tracers = tuple(self._tracers)
        if options.DUMP_FLUSH_BATCH:
            from . import debug

            debug.write(f"asynq: flush {debug.repr(group)}")
        for tracer in tracers:
            tracer._flush_started(group)
        error = None
        start = time.perf_counter()
        try:
            if options.OTEL_SPANS:
                from . import tracing

                tracing._flush_in_span(self, group)
            else:
                self._flush(group)
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


class _ContextFailure:
    """What a task waits on when pausing one of its contexts failed: the error
    is thrown at the yield once the dependencies (still all run) are done."""

    __slots__ = ("yielded", "error")

    def __init__(self, yielded: Any, error: BaseException) -> None:
        self.yielded = yielded
        self.error = error


def _task_error(task: Any, exc: BaseException) -> BaseException:
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


def _priority_of(group: Any) -> Any:
    return group.get_priority()


def _first_woken_on_top(ready: list[Any], start: int) -> None:
    """Reverses the tasks a flush pushed on the ready stack (from ``start``),
    so that they resume in the order they were woken, first woken first."""
    if len(ready) - start > 1:
        woken = ready[start:]
        woken.reverse()
        ready[start:] = woken


def _result_of(yielded: Any) -> tuple[Any, BaseException | None]:
    """The value sent back for a yielded structure whose futures are all computed,
    and the first error in structure order (None if none failed)."""
    if isinstance(yielded, FutureBase):
        return yielded._value, yielded._error
    kind = type(yielded)
    if kind is list:
        try:
            values = [item._value for item in yielded]
        except AttributeError:  # None or nested: the general route below
            pass
        else:
            for item in yielded:
                if item._error is not None:
                    return values, item._error
            return values, None
    if kind is list or kind is tuple:
        values = []
        first_error = None
        for item in yielded:
            if item is None:
                values.append(None)
                continue
            value, error = _result_of(item)
            if error is not None and first_error is None:
                first_error = error
            values.append(value)
        return (values if kind is list else tuple(values)), first_error
    if kind is dict:
        result = {}
        first_error = None
        for key, item in yielded.items():
            value, error = (None, None) if item is None else _result_of(item)
            if error is not None and first_error is None:
                first_error = error
            result[key] = value
        return result, first_error
    if kind is _ContextFailure:
        value, error = _result_of(yielded.yielded)
        return value, yielded.error
    if yielded is None:
        return None, None
    # Subclasses of list/tuple/dict take the generic route.
    if isinstance(yielded, dict):
        return _result_of(dict(yielded))
    if isinstance(yielded, (list, tuple)):
        value, error = _result_of(list(yielded))
        return (value if isinstance(yielded, list) else tuple(value)), error
    raise AssertionError(f"unexpected yielded value {yielded!r}")


def _uncomputed_in(yielded: Any, task: Any, out: list[Any]) -> list[Any]:
    """Appends to ``out`` every uncomputed future in a yielded structure, in order.

    Raises TypeError for anything that is not a future, None, list, tuple or dict.
    """
    if isinstance(yielded, FutureBase):
        if not yielded._computed:
            if yielded is task:
                raise AsyncTaskError(f"{task!r} yielded itself")
            out.append(yielded)
    elif isinstance(yielded, (list, tuple)):
        for item in yielded:
            if item is not None:
                _uncomputed_in(item, task, out)
    elif isinstance(yielded, dict):
        for item in yielded.values():
            if item is not None:
                _uncomputed_in(item, task, out)
    elif yielded is not None:
        raise TypeError(_bad_yield_message(yielded, task))
    return out


def _bad_yield_message(value: Any, task: Any) -> str:
    name = _name_of(task)
    hint = ""
    if inspect.isgenerator(value):
        hint = (
            " It is a generator: call the function through .asynq() and decorate it with @asynq()."
        )
    elif inspect.isawaitable(value):
        hint = " It is an awaitable: asynq tasks yield futures, not coroutines."
    return (
        f"{name} yielded {value!r} of type {type(value).__name__}: a task may yield "
        f"only futures, None, or lists, tuples and dicts of them.{hint}"
    )


def _futures_in(yielded: Any) -> list[Any]:
    if yielded is None:
        return []
    if type(yielded) is _ContextFailure:
        yielded = yielded.yielded
    try:
        return _uncomputed_in(yielded, None, [])
    except (TypeError, AsyncTaskError):
        return []


def _name_of(obj: Any) -> str:
    fn = getattr(obj, "fn", None)
    if fn is not None:
        module = getattr(fn, "__module__", None) or "?"
        return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"
    return type(obj).__name__


def _resume_contexts(contexts: dict[int, Any]) -> BaseException | None:
    """Resumes every context in entry order; returns the first error."""
    first_error = None
    for context in list(contexts.values()):
        try:
            context.resume()
        except BaseException as error:
            if first_error is None:
                first_error = error
    return first_error


def _pause_contexts(contexts: dict[int, Any]) -> BaseException | None:
    """Pauses every context in reverse entry order; returns the first error."""
    first_error = None
    for context in reversed(list(contexts.values())):
        try:
            context.pause()
        except BaseException as error:
            if first_error is None:
                first_error = error
    return first_error


def _describe_stall(root: Any) -> str:
    """Says which tasks wait on each other when nothing can go on."""
    chain = [root]
    seen = {id(root)}
    current = root
    while True:
        deps = [dep for dep in _futures_in(current._yielded) if dep._state is not None]
        if not deps:
            break
        current = deps[0]
        chain.append(current)
        if id(current) in seen:
            names = " -> ".join(repr(task) for task in chain)
            return f"dependency cycle: {names}"
        seen.add(id(current))
    names = " -> ".join(repr(task) for task in chain)
    if len(chain) > 1 and current._state == RUNNING:
        return f"dependency cycle: {names}, which asked synchronously for the value of {root!r}"
    never_set = [dep for dep in _futures_in(current._yielded) if dep._state is None]
    culprits = ", ".join(repr(dep) for dep in never_set[:3]) or "a future it waits on"
    return (
        f"{root!r} can never be computed: nothing is ready to run and no batch is "
        f"pending (waiting chain: {names}); {culprits} is never set"
    )


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
