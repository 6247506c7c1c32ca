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
- ``_entries`` holds the task of each unexited ``__enter__`` (None outside
  any task), oldest first. A context may be entered again while active, in
  the same task (nested) or in another (a shared context object), as asynq
  1.x allows: each enter resumes it and each exit pauses it, and it is in a
  task's set from the first entry in that task to the last exit there.
- ``__exit__`` always takes the context out of its task's set when it ends
  the task's last entry, even when ``pause()`` fails, so a broken context is
  never paused or resumed again.
- Outside any task a context is a plain context manager: resumed on enter,
  paused on exit. Exited without being entered (a subclass whose
  ``__enter__`` does not call ours), it is paused, as in asynq 1.x.
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


def enter_context(context: Any) -> Any:
    """Adds ``context`` (an object with ``pause()`` and ``resume()``) to the
    running task's contexts; returns that task, or None outside any task."""
    task = get_active_task()
    _enter_in(context, task)
    return task


def _enter_in(context: Any, task: Any) -> None:
    if options.DUMP_CONTEXTS:
        _debug_write(f"asynq: +context {context!r} in {task!r}")
    lowlevel.enter_context(context, task)


_RUNNING_TASK: Any = object()


def leave_context(context: Any, task: Any = _RUNNING_TASK) -> None:
    """Removes ``context`` from the contexts of ``task`` (default: the running task)."""
    if task is _RUNNING_TASK:
        task = get_active_task()
    if options.DUMP_CONTEXTS:
        _debug_write(f"asynq: -context {context!r} in {task!r}")
    lowlevel.leave_context(context, task)


def _has(entries: list[Any], task: Any) -> bool:
    """True if one of ``entries`` was made in ``task``."""
    for entry in entries:
        if entry is task:
            return True
    return False


def _exiting(entries: list[Any]) -> int:
    """The index in ``entries`` of the entry an ``__exit__`` ends: the latest
    one of the running task (or outside any task), or else the latest one (a
    waiting task whose generator is being closed exits while another runs)."""
    running = get_active_task()
    for index in range(len(entries) - 1, -1, -1):
        if entries[index] is running:
            return index
    return len(entries) - 1


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

    _entries: list[Any] | None = None

    def __enter__(self: _ContextT) -> _ContextT:
        task = get_active_task()
        entries = self._entries
        if entries is None:
            entries = self._entries = []
        if not _has(entries, task):
            _enter_in(self, task)
        entries.append(task)
        try:
            self.resume()
        except BaseException:
            # The with body will not run, so neither will __exit__.
            entries.pop()
            if not _has(entries, task):
                leave_context(self, task)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entries = self._entries
        if not entries:
            # Not entered (e.g. by a subclass whose __enter__ does not call
            # ours, and resumes it itself): asynq 1.x pauses it all the same.
            self.pause()
            return
        task = entries.pop(_exiting(entries))
        try:
            if not _has(entries, task):
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

    # The task of each unexited __enter__ (None outside any task), and its
    # iteration_index then; re-entry is allowed, as in asynq 1.x.
    _entries: list[Any] | None = None
    _iterations: list[int] | None = None

    def __enter__(self) -> NonAsyncContext:
        task = get_active_task()
        entries = self._entries
        iterations = self._iterations
        if entries is None or iterations is None:
            entries = self._entries = []
            iterations = self._iterations = []
        if not _has(entries, task):
            _enter_in(self, task)
        entries.append(task)
        iterations.append(0 if task is None else task.iteration_index)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entries = self._entries
        iterations = self._iterations
        if not entries or iterations is None:
            raise RuntimeError(f"{self!r} exited without being entered")
        index = _exiting(entries)
        task = entries.pop(index)
        iteration_at_enter = iterations.pop(index)
        if not _has(entries, task):
            leave_context(self, task)
        # Every step of a task's generator (one per yield) bumps iteration_index.
        if exc_type is None and task is not None and task.iteration_index != iteration_at_enter:
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
    As in asynq 1.x, the attribute is read when the context is entered, so it
    need not exist before (a missing one fails there).
    """

    def __init__(self, target: Any, attr_name: str, value: Any) -> None:
        self._target = target
        self._attr_name = attr_name
        self._value = value
        # What each resume() replaced, restored by the pause() that follows it.
        self._saved: list[Any] = []

    def resume(self) -> None:
        target, name = self._target, self._attr_name
        if not isinstance(name, str):
            raise TypeError(f"async_override() needs an attribute name, got {name!r}")
        try:
            saved = getattr(target, name)
        except AttributeError:
            message = f"async_override(): {target!r} has no attribute {name!r}"
            raise AttributeError(message) from None
        setattr(target, name, self._value)
        self._saved.append(saved)

    def pause(self) -> None:
        if not self._saved:  # exited without being entered: nothing to restore
            return
        self._value = getattr(self._target, self._attr_name)
        setattr(self._target, self._attr_name, self._saved.pop())

    def __repr__(self) -> str:
        return f"async_override({self._target!r}, {self._attr_name!r}, {self._value!r})"
