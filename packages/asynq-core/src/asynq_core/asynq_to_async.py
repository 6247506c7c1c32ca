"""The asyncio bridge: run asynq generators as coroutines on an asyncio loop.

``f.asyncio(...)`` drives the same generator ``f.asynq(...)`` would, awaiting
what it yields instead of scheduling it: a task becomes a coroutine of its
own (shared when several branches wait on it; the function's asyncio_fn=
coroutine if it has one, as its .asyncio() would), a list, tuple or dict is
awaited concurrently and every element finishes even if one fails, then the
first error in structure order is raised at the yield.

While such a coroutine runs, ``is_asyncio_mode()`` is true (a context
variable, so it is per coroutine, not per thread), and a synchronous call of
an asynq function is refused: it would block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from contextvars import ContextVar
from typing import Any

from .futures import FutureBase
from .utils import AsyncTaskResult

__all__ = [
    "is_asyncio_mode",
    "run_task",
    "resolve_awaitables",
    "check_sync_call",
    "use_asyncio_fn",
]

_log = logging.getLogger("asynq")

_asyncio_depth: ContextVar[int] = ContextVar("asynq_asyncio_depth", default=0)

# Tasks being driven by a coroutine, so that a task waited on from two
# branches runs once.
_in_flight: weakref.WeakKeyDictionary[Any, asyncio.Future[Any]] = weakref.WeakKeyDictionary()

# Tasks of functions decorated with asyncio_fn=: in asyncio mode such a task
# runs the native coroutine function (with the task's arguments) instead of
# its generator, as the callee's own .asyncio() would.
_asyncio_calls: weakref.WeakKeyDictionary[Any, tuple[Any, tuple[Any, ...], dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def use_asyncio_fn(
    task: Any, asyncio_fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Makes ``task``, when awaited in asyncio mode, run ``asyncio_fn(*args, **kwargs)``."""
    _asyncio_calls[task] = (asyncio_fn, args, kwargs)


def is_asyncio_mode() -> bool:
    """True while an asynq function runs as a coroutine (through ``.asyncio()``)."""
    return _asyncio_depth.get() > 0


def check_sync_call(fn: Any, allow_sync_call: bool) -> None:
    """Refuses (or, with ``allow_sync_call``, logs) a synchronous call in asyncio mode."""
    message = (
        f"synchronous call of {fn!r} inside an asyncio coroutine: it would block "
        "the event loop; yield fn.asynq(...) instead"
    )
    if not allow_sync_call:
        raise RuntimeError(message)
    _log.warning(message)


async def run_task(task: Any) -> Any:
    """Runs an AsyncTask to completion on the running asyncio loop; returns its value."""
    if task.is_computed():
        return task.value()
    in_flight = _in_flight.get(task)
    if in_flight is None:
        in_flight = asyncio.ensure_future(_drive(task))
        _in_flight[task] = in_flight
    return await asyncio.shield(in_flight)


async def _drive(task: Any) -> Any:
    from .scheduler import NEW, RUNNING

    if task._state != NEW:
        # Already run by the synchronous scheduler: finish it there.
        return task.value()
    native_call = _asyncio_calls.pop(task, None)
    if native_call is not None:
        asyncio_fn, args, kwargs = native_call
        try:
            value = await asyncio_fn(*args, **kwargs)
        except BaseException as error:
            task.set_error(error)
        else:
            task.set_value(value)
        finally:
            _in_flight.pop(task, None)
        return task.value()
    task._state = RUNNING
    gen = task._generator
    token = _asyncio_depth.set(_asyncio_depth.get() + 1)
    send_value: Any = None
    send_error: BaseException | None = None
    try:
        while True:
            try:
                if send_error is None:
                    yielded = gen.send(send_value)
                else:
                    yielded = gen.throw(send_error)
            except StopIteration as stop:
                task._finish(stop.value, None)
                break
            except AsyncTaskResult as legacy_return:
                task._finish(legacy_return.result, None)
                break
            except BaseException as error:
                task._finish(None, error)
                break
            try:
                send_value = await resolve_awaitables(yielded)
                send_error = None
            except BaseException as error:
                send_value = None
                send_error = error
    finally:
        _asyncio_depth.reset(token)
        _in_flight.pop(task, None)
    return task.value()


async def resolve_awaitables(yielded: Any) -> Any:
    """Awaits everything in a yielded structure; returns the same structure of values."""
    if yielded is None:
        return None
    if isinstance(yielded, FutureBase):
        if yielded.is_computed():
            return yielded.value()
        if hasattr(yielded, "_generator"):
            return await run_task(yielded)
        return yielded.value()
    if isinstance(yielded, (list, tuple)):
        values = await _gather(list(yielded))
        return values if isinstance(yielded, list) else tuple(values)
    if isinstance(yielded, dict):
        values = await _gather(list(yielded.values()))
        return dict(zip(yielded.keys(), values, strict=True))
    raise TypeError(
        f"yielded {yielded!r} of type {type(yielded).__name__} in asyncio mode: a task "
        "may yield only futures, None, or lists, tuples and dicts of them"
    )


async def _gather(items: list[Any]) -> list[Any]:
    results = await asyncio.gather(
        *(resolve_awaitables(item) for item in items), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
