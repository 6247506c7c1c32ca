"""The low-level API: what the other asynq packages, and extensions of asynq,
build on. Everything else with a leading underscore, and the modules not
named in this docstring, are the implementation and may change.

- Options: ``options`` (the debug options object; ``asynq_core.debug.options``
  is the same object).
- Where the running code is: ``get_scheduler()``, ``get_active_task()``,
  ``is_asyncio_mode()`` and ``check_sync_call()`` (what a synchronous entry
  point calls before blocking), ``current_request()`` and ``current_run()``
  (what a cache belongs to).
- Task contexts (the seam asynq-contexts plugs into): ``enter_context`` and
  ``leave_context`` add an object with ``pause()``/``resume()`` to the set of
  the active task, which the scheduler resumes whenever the task runs and
  pauses whenever it stops.
- Flush groups (the seam asynq-batching plugs into): a ``DeferredFuture``
  hands its group to the scheduler; ``register_flush_group`` does it
  directly; ``FlushGroup`` says what a group provides, ``GroupRegistry`` what a
  future's ``_schedule_computation`` is handed, ``Waiter`` what a future
  wakes once it is computed; ``flush_now`` flushes a group on the spot
  (outside a task), observed as a round while something traces. Under asyncio,
  ``await_future`` gives native code an asyncio future of a deferred future
  (no task; ``await_deferred`` when the caller knows the future is not
  computed yet and its group), and ``run_task`` awaits any asynq future.
- Deadlines (``asynq_core.deadline``): ``remaining_time()`` is the time a
  client has left for its request (a flush's budget: None when a task
  without a deadline waits on the batch too); ``deadline_exceeded(what,
  batch)`` the error of a request cut short by it (None if none passed).
- Observers: ``add_tracer``/``remove_tracer`` (the ``Tracer`` protocol; a
  ``tracing`` recording is one). ``NOT_FOUND`` is what a group recording its
  results reports for a key its store lacks (``FlushGroup.captured_results``).
- Hooks: ``provide_debug_sync`` makes ``asynq_core.debug.sync`` (asynq 1.x's
  ``debug.sync()``) the given function (asynq-batching provides it).
- Values: ``json_refusal`` tells whether JSON gives a value back exactly
  (what the stores' ``JsonCodec`` and ``tracing``'s recordings store).
- Helpers for messages: ``callable_name``, ``short_repr``,
  ``reject_bound_asynq`` (refuses ``f.asynq`` where ``f`` is expected),
  ``is_bound_asynq`` and ``bound_asynq_message`` (for a tool that accepts
  ``f.asynq`` as asynq 1.x does and fails only when it calls it).
"""

from __future__ import annotations

from typing import Any

from . import debug as _debug_helpers
from ._debug import DebugOptions, options
from .asyncio_mode import check_sync_call, is_asyncio_mode
from .asynq_to_async import await_deferred, await_future, run_task
from .deadlines import deadline_exceeded, remaining_time
from .decorators import (  # the helpers this module makes public
    _bound_asynq_message,  # pyright: ignore[reportPrivateUsage]
    _is_bound_asynq,  # pyright: ignore[reportPrivateUsage]
    _reject_bound_asynq,  # pyright: ignore[reportPrivateUsage]
)
from .groups import NOT_FOUND
from .json_values import json_refusal
from .protocols import FlushGroup, GroupRegistry, Tracer, Waiter
from .requests import Request, current_request, current_run
from .scheduler import TaskScheduler, flush_now, get_active_task, get_scheduler
from .text import callable_name, short_repr

__all__ = [
    "NOT_FOUND",
    "DebugOptions",
    "FlushGroup",
    "GroupRegistry",
    "Request",
    "TaskScheduler",
    "Tracer",
    "Waiter",
    "add_tracer",
    "await_deferred",
    "await_future",
    "bound_asynq_message",
    "callable_name",
    "check_sync_call",
    "current_request",
    "current_run",
    "deadline_exceeded",
    "enter_context",
    "flush_now",
    "get_active_task",
    "get_scheduler",
    "is_asyncio_mode",
    "is_bound_asynq",
    "json_refusal",
    "leave_context",
    "options",
    "provide_debug_sync",
    "register_flush_group",
    "reject_bound_asynq",
    "remaining_time",
    "remove_tracer",
    "run_task",
    "short_repr",
]


def enter_context(context: Any, task: Any) -> None:
    """Adds ``context`` to the contexts of ``task`` (what ``get_active_task()``
    returned; nothing to do for None: outside tasks there is nothing to add to)."""
    if task is not None:
        task._enter_context(context)


def leave_context(context: Any, task: Any) -> None:
    """Removes ``context`` from the contexts of ``task`` (what ``enter_context``
    returned; nothing to do for None). AsyncTaskError if it was not entered there."""
    if task is not None:
        task._leave_context(context)


def register_flush_group(group: FlushGroup) -> None:
    """Makes the scheduler of this thread flush ``group`` in a later round (what a
    ``DeferredFuture`` does when a task waits on it)."""
    get_scheduler().add_pending_group(group)


def add_tracer(tracer: Tracer) -> None:
    """Makes ``tracer`` observe this thread's scheduler (and the asyncio domain of
    a loop running in this thread): while one is there, the traced loop runs."""
    get_scheduler()._tracers.append(tracer)  # pyright: ignore[reportPrivateUsage]  # made public here


def remove_tracer(tracer: Tracer) -> None:
    """Stops ``tracer`` observing (the last registration of it, if several)."""
    tracers = get_scheduler()._tracers  # pyright: ignore[reportPrivateUsage]  # made public here
    for index in range(len(tracers) - 1, -1, -1):
        if tracers[index] is tracer:
            del tracers[index]
            return


def provide_debug_sync(sync: Any) -> None:
    """Makes ``asynq_core.debug.sync`` the function ``sync`` (asynq 1.x's
    ``debug.sync()``, which core cannot define: it makes a batch item)."""
    _debug_helpers.sync = sync


def reject_bound_asynq(fn: Any, caller: str) -> None:
    """TypeError if ``fn`` is ``f.asynq`` of an asynq function ``f``: ``caller``
    takes ``f`` and would call ``f.asynq`` like a plain function, getting a task
    that nothing runs."""
    _reject_bound_asynq(fn, caller)


def is_bound_asynq(fn: Any) -> bool:
    """True if ``fn`` is ``f.asynq`` of an asynq function ``f``."""
    return _is_bound_asynq(fn)


def bound_asynq_message(fn: Any, caller: str) -> str:
    """The error ``reject_bound_asynq(fn, caller)`` raises, as a message."""
    return _bound_asynq_message(fn, caller)
