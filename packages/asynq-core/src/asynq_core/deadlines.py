"""Deadlines: ``with deadline(seconds):`` bounds the waits on batches of the
calls made inside it, synchronous calls and ``.asyncio()`` calls alike.

When the deadline passes, the tasks of those calls that wait on a batch not
done yet stop waiting and resume with ``DeadlineExceededError`` (a
TimeoutError) thrown at their yield, naming the batch and the round; a task
may catch it, else it fails and so does its call. Everything else goes on:
tasks of other calls keep running and keep their values, and a batch shared
with them is still flushed for them. The store clients are given the time
left as their socket or statement timeout (``lowlevel.remaining_time()``).
``run(future, deadline=...)`` and ``run_async(awaitable, deadline=...)``
are one root call with a deadline; the keyword is theirs, never the called
function's, so it cannot clash with the function's own arguments.

Invariants:
- A deadline's clock starts when it is entered; a ``Deadline`` is entered
  once. Nested deadlines: the earliest wins.
- Its tasks are the tasks of the calls made inside the block and the tasks
  they create (see ``deadline_scopes``). It acts at rounds: a task running
  is never interrupted, nor a flush made on the scheduler's thread (its
  client is given the time left); the scheduler waits on fetches made in
  worker threads only until the deadline.
- Inside an asynq task it must not span a yield (it bounds the synchronous
  calls of the block): a yield inside it fails the task with
  AsynqMisuseError. Inside a task under asyncio, where synchronous calls are
  refused, entering one is refused.
- ``value()`` of a deferred future (a batch item: ``loader(key)``,
  ``store.get(key)``) flushes its group at once (``flush_now``); under a deadline
  the scheduler computes it instead, so that the deadline bounds it too.
- Under asyncio, a coroutine awaiting no asynq call when the deadline passes
  (native loads, native I/O) is cancelled, as ``asyncio.timeout`` does, and
  the block raises DeadlineExceededError instead of the cancellation.
"""

from __future__ import annotations

# Deadlines work on the scheduler's and the tasks' slots (asynq 1.x's names),
# as the scheduler does.
# pyright: reportPrivateUsage=false
import asyncio
import inspect
import math
import numbers
import time
from collections.abc import Awaitable, Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar

from . import futures as _futures
from .async_task import AsyncTask
from .asyncio_domain import AsyncioDomain, domain
from .asyncio_mode import running_in_asyncio
from .asynq_to_async import run_task
from .deadline_scopes import NOT_IN_FLUSH, Members, Scope, current_scope, flush_budget, open_scopes
from .errors import AsynqMisuseError, DeadlineExceededError
from .futures import DeferredFuture, FutureBase
from .scheduler import TaskScheduler, flush_now, get_scheduler
from .task_states import RUNNING
from .text import short_repr

__all__ = [
    "Deadline",
    "DeadlineExceededError",
    "deadline",
    "deadline_exceeded",
    "remaining_time",
    "run",
    "run_async",
]

T = TypeVar("T")


class Deadline:
    """What ``deadline(seconds)`` returns: a context manager (``with``, or
    ``async with``) bounding the calls made inside it; see the module docstring."""

    __slots__ = ("seconds", "_owner", "_scope", "_token", "_scheduler", "_guard", "_cancelling")

    def __init__(self, seconds: float, owner: str = "deadline()") -> None:
        self.seconds = _check_seconds(owner, seconds)
        self._owner = owner
        self._scope: Scope | None = None
        self._token: Any = None
        self._scheduler: TaskScheduler | None = None
        self._guard: _YieldGuard | None = None
        self._cancelling = 0

    def __enter__(self) -> Deadline:
        if self._scope is not None:
            raise RuntimeError(f"{self!r} was entered already: a deadline is entered once")
        scheduler = get_scheduler()
        active = scheduler.active_task
        if active is not None and running_in_asyncio.get():
            raise AsynqMisuseError(
                f"{self._owner} inside {active!r}, an asynq task run under asyncio: it "
                "bounds synchronous calls, which asyncio refuses; enter it in the coroutine "
                "that awaits the .asyncio() call"
            )
        scope = self._scope = Scope(self.seconds, current_scope.get())
        self._token = current_scope.set(scope)
        self._scheduler = scheduler
        scheduler._open_scope(scope)
        if active is not None:
            self._guard = _YieldGuard(self, active)
            active._enter_context(self._guard)  # type: ignore[attr-defined]  # an AsyncTask
            return self
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self
        scope.task = asyncio.current_task(loop)
        cancelling = getattr(scope.task, "cancelling", None)  # Python 3.11+
        if cancelling is not None:
            self._cancelling = cancelling()
        domain().arm(scope)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        scope = self._scope
        if scope is None:
            raise RuntimeError(f"{self!r} exited without being entered")
        if not scope.exited:
            self._close()
        if self._guard is not None:
            task = self._guard.task
            if task._contexts and id(self._guard) in task._contexts:
                task._leave_context(self._guard)
        if not scope.cancelled:
            return
        uncancel = getattr(scope.task, "uncancel", None)
        # Python 3.10 cannot tell another cancellation from ours: it is ours.
        ours = uncancel is None or uncancel() <= self._cancelling
        if ours and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            raise scope.cancel_error from exc  # type: ignore[misc]

    async def __aenter__(self) -> Deadline:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def _close(self) -> None:
        """The block ends (or the task yielded in it): the deadline bounds nothing more."""
        scope = self._scope
        assert scope is not None
        scope.exited = True
        try:
            current_scope.reset(self._token)
        except ValueError:  # exited in another context than it was entered in
            pass
        if self._scheduler is not None:
            self._scheduler._close_scope(scope)
        for armed in list(scope.timers):
            armed.disarm(scope)

    def remaining(self) -> float:
        """Seconds left until it passes (0.0 once it has); ``seconds`` before it is entered."""
        scope = self._scope
        if scope is None:
            return self.seconds
        return max(0.0, scope.until - time.monotonic())

    def __repr__(self) -> str:
        return f"deadline({self.seconds:g})"


class _YieldGuard:
    """In the task whose body entered a deadline: the deadline bounds the
    synchronous calls of its block, so the task must not yield inside it
    (it is paused for a nested call too, while it runs: that is allowed)."""

    __slots__ = ("deadline", "task")

    def __init__(self, deadline: Deadline, task: Any) -> None:
        self.deadline = deadline
        self.task = task

    def resume(self) -> None:
        pass

    def pause(self) -> None:
        task = self.task
        # Tasks created in the block carry a copy of it: only the entering one counts.
        if task._state == RUNNING or get_scheduler().active_task is not task:
            return
        self.deadline._close()
        raise AsynqMisuseError(
            f"{self.deadline!r} spans a yield in {task!r}: a deadline bounds the synchronous "
            "calls made inside it; yield outside the with block, or call inside it "
            "synchronously (run(future, deadline=...))"
        )


def deadline(seconds: float) -> Deadline:
    """A deadline of ``seconds`` (>= 0; ``math.inf``: none) from when it is entered:
    ``with deadline(0.5): f(x)``, or around ``await f.asyncio(x)`` in a coroutine.
    See the module docstring."""
    return Deadline(seconds)


def run(future: FutureBase[T], *, deadline: float | None = None) -> T:
    """The value of ``future`` computed synchronously (``run(f.asynq(x))`` is
    ``f(x)``); with ``deadline=seconds``, as inside ``with deadline(seconds):``."""
    if not isinstance(future, FutureBase):  # pyright: ignore[reportUnnecessaryIsInstance]  # checked although typed
        raise TypeError(f"run() takes an asynq future (e.g. f.asynq(x)), got {short_repr(future)}")
    if deadline is None:
        return future.value()
    with Deadline(deadline, "run(deadline=...)"):
        return future.value()


def run_async(
    awaitable: Awaitable[T] | FutureBase[T], *, deadline: float | None = None
) -> Coroutine[Any, Any, T]:
    """A coroutine awaiting ``awaitable`` (``f.asyncio(x)``, or an asynq future
    run in the loop's domain); with ``deadline=seconds``, as inside ``with
    deadline(seconds):`` in the coroutine."""
    bounded = None
    try:
        if deadline is not None:
            bounded = Deadline(deadline, "run_async(deadline=...)")
        if isinstance(awaitable, FutureBase):
            awaitable = run_task(awaitable)
        elif not inspect.isawaitable(awaitable):
            raise TypeError(
                "run_async() takes an awaitable (e.g. f.asyncio(x)) or an asynq future, "
                f"got {short_repr(awaitable)}"
            )
    except BaseException:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never awaited: no warning
        raise
    return _await_within(awaitable, bounded)


async def _await_within(awaitable: Awaitable[T], bounded: Deadline | None) -> T:
    if bounded is None:
        return await awaitable
    with bounded:
        return await awaitable


def remaining_time() -> float | None:
    """Seconds left to the caller before its deadline passes (0.0 once it has),
    or None if no deadline applies. In a flush: the time its batch is still
    needed, None if a task without a deadline waits on it too. In a task run
    under asyncio: its call's deadline. Elsewhere: the innermost deadline open
    around the running code."""
    budget = flush_budget.get()
    if budget is NOT_IN_FLUSH:
        scope = _caller_scope()
        until = None if scope is None else scope.until
    else:
        until = None if budget is None else budget.until
    if until is None or until == math.inf:
        return None
    return max(0.0, until - time.monotonic())


def deadline_exceeded(what: str, batch: str | None = None) -> DeadlineExceededError | None:
    """The error for ``what`` (a request, say), of ``batch``, cut short by the
    caller's deadline: a DeadlineExceededError naming the deadline and its
    round, if a deadline applies (see ``remaining_time``) and has passed;
    else None."""
    budget = flush_budget.get()
    if budget is NOT_IN_FLUSH:
        scope = _caller_scope()
        until = None if scope is None else scope.until
    elif budget is None:
        return None
    else:
        scope, until = budget.scope, budget.until
    if scope is None or until is None or until > time.monotonic():
        return None
    return DeadlineExceededError(
        f"{scope.name()} passed in round {scope.rounds} during {what}",
        batch=batch,
        round=scope.rounds,
        seconds=scope.seconds,
    )


def _caller_scope() -> Scope | None:
    scheduler = get_scheduler()
    task = scheduler.active_task
    if task is not None and isinstance(scheduler, AsyncioDomain):
        armed = scheduler._deadline_scopes
        return Members(armed).scope_of(task) if armed else None
    scopes = open_scopes()
    return scopes[-1] if scopes else None


def _compute_deferred(future: DeferredFuture[Any]) -> None:
    """``value()`` of a deferred future no task waits on (see the module docstring)."""
    group = future.flush_group()
    if current_scope.get() is None:
        flush_now(group)
        if not future._computed:  # its flush was under way: a round left it in flight
            get_scheduler()._finish_flush(group)
        return
    waiting = AsyncTask(_wait_on(future), value, (future,), {})
    get_scheduler().wait_for(waiting)
    if waiting._error is not None:
        raise waiting._error


def _wait_on(future: DeferredFuture[Any]) -> Generator[Any, Any, Any]:
    return (yield future)


def value(future: DeferredFuture[Any]) -> Any:
    """``future.value()``: what the task that waits for it under a deadline is
    named after (``<AsyncTask value(<item>)>``, in the deadline's message)."""
    return future.value()


_futures.compute_deferred = _compute_deferred


def _check_seconds(owner: str, seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"{owner} takes a number of seconds, got {short_repr(seconds)}")
    value = float(seconds)
    if math.isnan(value) or value < 0:
        raise ValueError(f"{owner}: seconds must be >= 0 (math.inf for no limit), got {seconds!r}")
    return value
