"""Task contexts: context managers that are active only while their task runs.

An ``AsyncContext`` entered inside an asynq task joins that task's ordered set
of contexts through core's task-context seam (``asynq_core.lowlevel.enter_context`` /
``leave_context``). The scheduler resumes the set whenever the task runs and
pauses it whenever the task stops, so the state a context installs (a warning
filter, an overridden value, a running timer) is never seen by the tasks that
interleave with it. Tasks created inside the ``with`` block start with a copy
of the set (core copies the creator's set), so the code a task calls runs in
its contexts, as it would in synchronous code.

Invariants:
- A context object is active at most once at a time: ``_entered_in`` is the
  task it was entered in (None outside any task) while active, ``_INACTIVE``
  otherwise.
- ``__exit__`` always takes the context out of its task's set, even when
  ``pause()`` fails, so a broken context is never paused or resumed again.
- Outside any task a context is a plain context manager: resumed on enter,
  paused on exit.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

from asynq_core import lowlevel
from asynq_core.debug import write as _debug_write
from asynq_core.lowlevel import get_active_task, options

__all__ = [
    "AsyncContext",
    "NonAsyncContext",
    "async_override",
    "enter_context",
    "leave_context",
]

_ContextT = TypeVar("_ContextT", bound="AsyncContext")

# Marks a context that is not entered (None means "entered outside any task").
_INACTIVE: Any = object()


def enter_context(context: Any) -> Any:
    """Adds ``context`` (an object with ``pause()`` and ``resume()``) to the
    running task's contexts; returns that task, or None outside any task."""
    if options.DUMP_CONTEXTS:
        _debug_write(f"asynq: +context {context!r} in {get_active_task()!r}")
    return lowlevel.enter_context(context)


def leave_context(context: Any, task: Any = _INACTIVE) -> None:
    """Removes ``context`` from the contexts of ``task`` (default: the running task)."""
    if task is _INACTIVE:
        task = get_active_task()
    if options.DUMP_CONTEXTS:
        _debug_write(f"asynq: -context {context!r} in {task!r}")
    lowlevel.leave_context(context, task)


class AsyncContext:
    """A context manager that is paused while its task does not run.

    Subclasses implement ``resume()`` (install the state) and ``pause()``
    (remove it). Used with ``with`` inside an asynq task, the context is
    resumed on enter and paused on exit, and in between it is paused whenever
    the task stops (another task runs or a batch is flushed) and resumed when
    the task runs again; the tasks it creates inside the block (``.asynq()``
    or a synchronous call) run in it too. Several contexts of one task resume
    in the order they were entered and pause in the reverse order. An
    exception raised by ``pause()`` or ``resume()`` while the scheduler
    switches tasks is raised in the task at its ``yield``; the other contexts
    are still paused or resumed.
    """

    _entered_in: Any = _INACTIVE

    def __enter__(self: _ContextT) -> _ContextT:
        if self._entered_in is not _INACTIVE:
            raise RuntimeError(f"{self!r} is already active: exit it before entering it again")
        task = enter_context(self)
        self._entered_in = task
        try:
            self.resume()
        except BaseException:
            # The with body will not run, so neither will __exit__.
            self._entered_in = _INACTIVE
            leave_context(self, task)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self._entered_in
        if task is _INACTIVE:
            raise RuntimeError(f"{self!r} exited without being entered")
        self._entered_in = _INACTIVE
        try:
            leave_context(self, task)
        finally:
            # When the task is not the running one (its generator is being
            # closed while it waits), the scheduler has already paused us.
            if task is None or task is get_active_task():
                self.pause()

    def resume(self) -> None:
        """Installs the context's state; called when its task starts or resumes running."""
        raise NotImplementedError(f"{type(self).__name__} must implement resume()")

    def pause(self) -> None:
        """Removes the context's state; called when its task stops running."""
        raise NotImplementedError(f"{type(self).__name__} must implement pause()")


class NonAsyncContext:
    """A context inside which the task must not yield.

    Entered inside a task, it fails the task with AssertionError when the task
    yields within it: at the ``yield`` when the task stops to wait for a future
    (another task could then run inside it), and on exit when the task yielded
    a future that was already computed. Outside any task it does nothing.
    """

    _entered_in: Any = _INACTIVE
    _iteration_at_enter = 0

    def __enter__(self) -> NonAsyncContext:
        if self._entered_in is not _INACTIVE:
            raise RuntimeError(f"{self!r} is already active: exit it before entering it again")
        task = enter_context(self)
        self._entered_in = task
        if task is not None:
            self._iteration_at_enter = task.iteration_index
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self._entered_in
        if task is _INACTIVE:
            raise RuntimeError(f"{self!r} exited without being entered")
        self._entered_in = _INACTIVE
        leave_context(self, task)
        # Every step of a task's generator (one per yield) bumps iteration_index.
        if (
            exc_type is None
            and task is not None
            and (task.iteration_index != self._iteration_at_enter)
        ):
            raise AssertionError(f"{task!r} yielded inside {self!r}, which forbids yielding")

    def pause(self) -> None:
        raise AssertionError(
            f"{get_active_task()!r} yielded inside {self!r}, which forbids yielding"
        )

    def resume(self) -> None:
        """Nothing to install: the context only watches for yields."""


class async_override(AsyncContext):
    """Sets ``target.<attr_name>`` to ``value`` for the task that entered it.

    The attribute is set while the task (or what it calls inside the ``with``)
    runs, and restored whenever it stops and on exit; an assignment the task
    makes to the attribute inside the block stays the task's own until exit.
    """

    def __init__(self, target: Any, attr_name: str, value: Any) -> None:
        if not isinstance(attr_name, str):
            raise TypeError(f"async_override() needs an attribute name, got {attr_name!r}")
        if not hasattr(target, attr_name):
            raise AttributeError(f"async_override(): {target!r} has no attribute {attr_name!r}")
        self._target = target
        self._attr_name = attr_name
        self._value = value
        self._saved: Any = None

    def resume(self) -> None:
        self._saved = getattr(self._target, self._attr_name)
        setattr(self._target, self._attr_name, self._value)

    def pause(self) -> None:
        self._value = getattr(self._target, self._attr_name)
        setattr(self._target, self._attr_name, self._saved)
        self._saved = None

    def __repr__(self) -> str:
        return f"async_override({self._target!r}, {self._attr_name!r}, {self._value!r})"
