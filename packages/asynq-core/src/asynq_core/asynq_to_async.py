"""The asyncio bridge: asynq functions as coroutines, batched across a whole loop.

Each event loop has one *domain* (``asyncio_domain``): the scheduler of every
asynq task run under asyncio on that loop. ``f.asyncio(...)`` hands the task
of ``f(...)`` to the domain of the running loop and awaits it; a loader's
``.asyncio(key)`` called from native code adds its key to the pending batch
and hands back an asyncio future of it (``await_future``: no task at all).
So the thousands of small coroutines of a GraphQL request or a web handler
(each awaiting one load) fill the same batches, DataLoader's way. This is
also asynq 1.x's ``asynq.asynq_to_async``: ``is_asyncio_mode`` and
``resolve_awaitables`` keep their names. Requests (``request()``) are in
``requests``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .async_task import AsyncTask
from .asyncio_domain import AsyncioDomain, _thread_domain, domain
from .asyncio_mode import check_sync_call, is_asyncio_mode, refuse_sync_wait, running_in_asyncio
from .deadline_scopes import current_scope
from .futures import DeferredFuture, FutureBase
from .native_calls import CallWaiter, NativeCall
from .requests import Request, current_request, current_run, request

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

# The bridge is the domain's other half: it hands calls and loads to the
# domain of its loop through the domain's own members, by design.
# pyright: reportPrivateUsage=false

__all__ = [
    "AsyncioDomain",
    "NativeCall",
    "Request",
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
    state = _thread_domain
    running = state.domain if state.loop is loop else domain()
    waiting = loop.create_future()
    if future._computed:
        CallWaiter(waiting, future)._dependency_done()
        return waiting
    if isinstance(future, DeferredFuture):
        # The common case (a loader's key), kept cheap: no waiter object; the
        # flush of its group sets ``waiting`` (see BatchClock._hand_over).
        group = future.flush_group()
        try:
            loads = running._loads[group]
        except KeyError:  # the group's first load
            running._loads[group] = [(future, waiting)]
            running.add_pending_group(group)
        else:
            due = running._due
            if due and group in due:
                running._late_load(group, future, waiting)
            else:
                loads.append((future, waiting))
        running.activity += 1
        return waiting
    future._add_waiter(CallWaiter(waiting, future))
    future._schedule_computation(running)
    running.activity += 1
    running._after_progress()
    return waiting


# -- native coroutines ---------------------------------------------------------
