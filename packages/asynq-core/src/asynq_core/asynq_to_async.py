"""The asyncio bridge: asynq functions as coroutines, batched across a whole loop.

Each event loop has one *domain* (``asyncio_domain``): the scheduler of every
asynq task run under asyncio on that loop. ``f.asyncio(...)`` hands the task
of ``f(...)`` to the domain of the running loop and awaits it; a loader's
``.asyncio(key)`` called from native code adds its key to the pending batch
and hands back an asyncio future of it (``await_future``, or
``await_deferred`` when the loader knows the key's group: no task at all).
So the thousands of small coroutines of a GraphQL request or a web handler
(each awaiting one load) fill the same batches, DataLoader's way. This is
also asynq 1.x's ``asynq.asynq_to_async``: ``is_asyncio_mode`` and
``resolve_awaitables`` keep their names. Requests (``request()``) are in
``requests``.
"""

from __future__ import annotations

import asyncio
from asyncio import Future
from typing import TYPE_CHECKING, Any

from . import asyncio_domain as _domains
from .async_task import AsyncTask
from .asyncio_domain import AsyncioDomain, domain
from .asyncio_mode import check_sync_call, is_asyncio_mode, refuse_sync_wait, running_in_asyncio
from .deadline_scopes import current_scope
from .futures import DeferredFuture, FutureBase
from .native_calls import CallWaiter, NativeCall
from .requests import Request, current_request, current_run, request

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from .protocols import FlushGroup

# The bridge is the domain's other half: it hands calls and loads to the
# domain of its loop through the domain's own members, by design.
# pyright: reportPrivateUsage=false

__all__ = [
    "AsyncioDomain",
    "NativeCall",
    "Request",
    "await_deferred",
    "await_future",
    "check_sync_call",
    "current_request",
    "current_run",
    "domain",
    "is_asyncio_mode",
    "refuse_sync_wait",
    "request",
    "resolve_awaitables",
    "run_call",
    "run_task",
]


async def _await_call(awaited: FutureBase[Any]) -> Any:
    """Awaits an asynq future in the domain of the running loop (see ``start``)."""
    running = domain()
    future, waiter = running.start(awaited)
    scope = current_scope.get()
    if scope is not None:
        running.bound_call(scope, awaited, waiter)
    try:
        return await future
    except asyncio.CancelledError:
        if future.cancelled():  # this call was cancelled, not what it awaited
            running.stop_waiting(awaited, waiter)
        raise
    finally:
        running._forget_call(awaited)


async def run_task(task: FutureBase[Any]) -> Any:
    """Runs an AsyncTask (or computes any other asynq future) in the domain of
    the running loop and returns its value."""
    # Checked although typed: untyped callers pass anything.
    if not isinstance(task, FutureBase):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"run_task() takes an asynq future (an AsyncTask), got {task!r}")
    return await _await_call(task)


async def run_call(
    fn: Callable[..., FutureBase[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Calls ``fn(*args, **kwargs)``, which returns an asynq future, in asyncio
    mode (the asynq functions it calls run their ``asyncio_fn`` there, as they
    would in a task), and awaits that future in the domain."""
    token = running_in_asyncio.set(True)
    try:
        future = fn(*args, **kwargs)
    finally:
        running_in_asyncio.reset(token)
    # Checked although typed: fn may be a user's function returning anything.
    if not isinstance(future, FutureBase):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"{fn!r} returned {future!r}, not an asynq future")
    return await _await_call(future)


async def resolve_awaitables(yielded: Any) -> Any:
    """Computes asynq futures on the running loop and returns what yielding them
    in a task gives.

    ``yielded`` is anything a task may yield: a future, None, or lists, tuples
    and dicts of them, nested; under asyncio, native awaitables (coroutines,
    asyncio futures) too, as in asynq 1.x.
    """
    return await _await_call(AsyncTask(_wait_on(yielded), resolve_awaitables, (), {}))


def _wait_on(yielded: Any) -> Generator[Any, Any, Any]:
    return (yield yielded)


def await_future(
    future: FutureBase[Any], loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Future[Any]:
    """An asyncio future of an asynq future (a batch item, typically), for native
    code on ``loop`` (the running one): no task, no coroutine. A deferred
    future (a batch item) joins the next round; another is computed now."""
    if loop is None:
        loop = asyncio.get_running_loop()
    if not future._computed and isinstance(future, DeferredFuture):
        return await_deferred(future, future.flush_group(), loop)
    running = domain()
    waiting = loop.create_future()
    if future._computed:
        CallWaiter(waiting, future)._dependency_done()
        return waiting
    future._add_waiter(CallWaiter(waiting, future))
    future._schedule_computation(running)
    running.activity += 1
    running._after_progress()
    return waiting


def await_deferred(
    future: DeferredFuture[Any], group: FlushGroup, loop: asyncio.AbstractEventLoop
) -> asyncio.Future[Any]:
    """``await_future(future, loop)`` of a deferred future not computed yet, whose
    caller knows its group (``future.flush_group()``): what a loader's
    ``.asyncio(key)`` calls on every load, so it does only that. No waiter
    object: the flush of the group sets the asyncio future (see
    BatchClock._hand_over)."""
    running = _domains.last_domain
    if running._loop is not loop:
        running = domain()
    waiting: Future[Any]
    if running.plain_loop:
        waiting = Future(loop=loop)
    else:
        waiting = loop.create_future()
        running.activity += 1
    loads = running._loads.get(group)
    if loads is None:  # the group's first load
        running._loads[group] = [future, waiting]
        running.add_pending_group(group)
    elif running._due and group in running._due:
        running._late_load(group, future, waiting)
    else:
        loads.append(future)
        loads.append(waiting)
    return waiting


# -- native coroutines ---------------------------------------------------------
