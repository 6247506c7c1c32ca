"""AsyncTask: a future computed by running a generator on the scheduler.

A task holds what the scheduler needs between steps (its generator, what it
last yielded, how many of those futures are still pending, its state) in
slots, and nothing per task that is not always needed: the ordered set of
task contexts (the seam asynq-contexts plugs into) is created on first use.

Contexts: ``_enter_context(ctx)`` / ``_leave_context(ctx)`` maintain an
ordered set of objects with ``pause()`` and ``resume()``; the scheduler
resumes them (in entry order) whenever the task runs and pauses them (in
reverse) whenever it stops. A new task starts with a copy of its creator's
set, so what a task calls inside a ``with`` block runs inside that context,
as a synchronous call would.
"""

from __future__ import annotations

import linecache
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _debug
from . import scheduler as _scheduler
from .asyncio_mode import refuse_sync_wait, running_in_asyncio
from .errors import AsyncTaskCancelledError, AsyncTaskError, AsyncTaskResult
from .futures import FutureBase
from .task_states import DONE, NEW, QUEUED, RUNNING, WAITING
from .text import callable_name
from .text import short_repr as _short
from .yielded import futures_in

if TYPE_CHECKING:
    import qcore

    from .protocols import Task, TaskContext
    from .scheduler import TaskScheduler
    from .yielded import WaitedOn

# A task is the scheduler's other half (the Task protocol): each reads the
# other's slots and the thread's scheduler, by design.
# pyright: reportPrivateUsage=false

__all__ = ["AsyncTask", "AsyncTaskCancelledError", "AsyncTaskResult"]

T_co = TypeVar("T_co", covariant=True)

_state = _scheduler._state


class _NoKeywordArguments(dict[str, Any]):
    """The ``kwargs`` of every task called without keyword arguments: a real
    (empty) dict for the code that reads it, which refuses to be changed,
    since all those tasks share it."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "the kwargs of a task called without keyword arguments are shared and read-only"
        )

    # Assigned, not defined: the overloads of dict's methods need not be repeated.
    __setitem__ = __delitem__ = __ior__ = _refuse
    update = setdefault = pop = popitem = clear = _refuse  # pyright: ignore[reportAssignmentType]

    def __reduce__(self) -> Any:
        return (dict, ())


_NO_KWARGS: dict[str, Any] = _NoKeywordArguments()


class AsyncTask(FutureBase[T_co], Generic[T_co]):
    """A future whose value is the return value of a generator run by the scheduler."""

    __slots__ = (
        "fn",
        "args",
        "kwargs",
        "creator",
        "iteration_index",
        "_generator",
        "_state",
        "_pending",
        "_yielded",
        "_contexts",
        "_scheduler",
        "_depth",
    )

    # Declarations for checkers (the slots hold the values; they are what
    # protocols.Task says the scheduler needs): the generator is dropped once
    # the task is done; the scheduler counts in _pending the futures the task
    # still waits on; _scheduler and _depth are set when it is first queued.
    # (FutureBase's slots that __init__ sets are declared again, as FutureBase
    # declares them, so that pyright does not take them from the values here.)
    _error: BaseException | None
    _on_computed: qcore.EventHook | None
    _state: int | None
    _generator: Generator[Any, Any, Any] | None
    _yielded: WaitedOn
    _pending: int
    _contexts: dict[int, TaskContext] | None
    _scheduler: TaskScheduler
    _depth: int
    creator: Task | None
    iteration_index: int

    def __init__(
        self,
        generator: Generator[Any, Any, T_co],
        fn: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._computed = False
        self._value = None
        self._error = None
        self._waiters = None
        self._on_computed = None
        self._generator = generator
        self.fn = fn
        self.args = args
        # Most calls have no keyword arguments: keep no empty dict per task.
        # Most calls have no keyword arguments: they share one empty dict
        # instead of keeping 64 bytes each.
        self.kwargs = kwargs or _NO_KWARGS
        creator = self.creator = _state.scheduler.active_task
        self.iteration_index = 0
        self._state = NEW
        self._yielded = None
        self._contexts = (
            None if creator is None or not creator._contexts else dict(creator._contexts)
        )

    # -- the scheduler's side (double dispatch) ----------------------------

    def _compute(self) -> None:
        if running_in_asyncio.get():  # it would block the event loop
            refuse_sync_wait(self)
        _state.scheduler.wait_for(self)

    # ``scheduler`` is a TaskScheduler (a task runs on one), where the method it
    # overrides takes what a deferred future needs (a GroupRegistry).
    def _schedule_computation(self, scheduler: Any) -> None:
        if self._state != NEW:
            return
        active = scheduler.active_task
        depth = 0 if active is None else active._depth + 1
        if depth > scheduler._max_depth:
            self._fail_unstarted(
                RuntimeError(
                    f"{self!r}: the chain of tasks waiting on each other is deeper than "
                    f"options.MAX_TASK_STACK_SIZE ({scheduler._max_depth}); "
                    "is this an infinite recursion?"
                )
            )
            return
        self._depth = depth
        self._state = QUEUED
        self._scheduler = scheduler
        scheduler._ready.append(self)

    def _dependency_done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._state = QUEUED
            self._scheduler._ready.append(self)

    def _finish(self, value: Any, error: BaseException | None) -> None:
        self._generator = None  # frees the finished frame
        self._state = DONE
        if error is None:
            self._value = value
        else:
            self._error = error
        self._computed = True
        self._notify()

    def _fail_unstarted(self, error: BaseException) -> None:
        generator = self._generator
        if generator is not None:
            generator.close()
        self._finish(None, error)

    def set_value(self, value: Any) -> None:
        if not self._computed:
            self._detach()
        FutureBase.set_value(self, value)  # pyright: ignore[reportUnknownMemberType]  # T unsolved

    def set_error(self, error: BaseException) -> None:
        # Checked although typed: untyped callers pass anything.
        if not isinstance(error, BaseException):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"{type(self).__name__}.set_error() takes an exception, got {error!r}")
        if not self._computed:
            self._detach()
        FutureBase.set_error(self, error)  # pyright: ignore[reportUnknownMemberType]  # T unsolved

    def _detach(self) -> None:
        """Computed from outside (e.g. by a cache): the generator never runs again.

        A waiting task stops waiting (it leaves its dependencies' waiters, so
        their completion cannot resume it); a queued one's stack entry goes
        stale. Its generator is closed, which runs its ``finally`` blocks.
        """
        state = self._state
        if state == RUNNING:
            raise AsyncTaskError(
                f"{self!r} is running: it cannot be given a value from outside; "
                "return the value from its generator instead"
            )
        if state == WAITING:
            for dependency in futures_in(self._yielded):
                dependency._remove_waiter(self)
            self._yielded = None
        generator = self._generator
        self._generator = None
        self._state = DONE
        if generator is not None:
            generator.close()

    # -- the contexts seam -------------------------------------------------

    def _enter_context(self, context: TaskContext) -> None:
        contexts = self._contexts
        if contexts is None:
            contexts = self._contexts = {}
        contexts[id(context)] = context

    def _leave_context(self, context: TaskContext) -> None:
        contexts = self._contexts
        if contexts is None or id(context) not in contexts:
            raise AsyncTaskError(f"{context!r} was not entered in {self!r}")
        del contexts[id(context)]

    # -- introspection -----------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the task's generator is executing."""
        return self._state == RUNNING

    @property
    def _dependencies(self) -> list[FutureBase[Any]]:
        """The uncomputed futures the task waits on (asynq 1.x's attribute):
        empty while it runs, since it resumes only once they are computed."""
        if self._state != WAITING:
            return []
        return futures_in(self._yielded)

    def is_started(self) -> bool:
        return self._state != NEW

    def __repr__(self) -> str:
        if not self._computed:
            status = "running" if self._state == RUNNING else "not computed"
        elif self._error is not None:
            status = "error: " + _short(self._error)
        else:
            status = "value: " + _short(self._value)
        return f"<{type(self).__name__} {self._call_str()} ({status})>"

    def _call_str(self) -> str:
        name = callable_name(self.fn)
        parts = [_short(arg) for arg in self.args or ()]
        parts += [f"{key}={_short(arg)}" for key, arg in (self.kwargs or {}).items()]
        return f"{name}({', '.join(parts)})"

    def traceback(self) -> list[str]:
        """The asynq stack of this task: where it and each of its creators stand,
        outermost first, as lines like ``traceback.format_stack`` gives."""
        lines: list[str] = []
        task: Any = self
        seen: set[int] = set()
        while task is not None and id(task) not in seen:
            seen.add(id(task))
            lines[:0] = _frame_lines(task)
            task = getattr(task, "creator", None)
        return lines

    def dump(self, indent: int = 0) -> None:
        """Writes the task, and what it waits for, to the debug output."""
        write = _debug.output.write
        write(repr(self), indent)
        if self._yielded is not None:
            write(f"waiting for: {self._yielded!r}", indent + 1)


def _frame_lines(task: Any) -> list[str]:
    gen = getattr(task, "_generator", None)
    frame = getattr(gen, "gi_frame", None)
    if frame is not None:
        filename, lineno, name = frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
    else:
        code = getattr(getattr(task, "fn", None), "__code__", None)
        if code is None:
            return [f"  {task!r}\n"]
        filename, lineno, name = code.co_filename, code.co_firstlineno, code.co_name
    line = f'  File "{filename}", line {lineno}, in {name}\n'
    source = linecache.getline(filename, lineno).strip()
    if source:
        line += f"    {source}\n"
    return [line]
