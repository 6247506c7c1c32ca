"""Requests: the unit of work whose calls share loader caches.

``with request():`` (or ``async with``) opens a request; every call made
inside it, and by the coroutines it starts (which inherit it through
contextvars), belongs to it. A ``cache=True`` loader keeps its values for one
*run* (``current_run()``): the caller's request, else its outermost call (the
root task of the active task). Under asyncio a task runs in its loop's
context, not its caller's, so the domain notes the request of each call it
starts (``remember_request``), and the tasks below it find it through their
root.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from typing import Any

from . import scheduler as _scheduler

__all__ = [
    "Request",
    "current_request",
    "current_request_var",
    "current_run",
    "remember_request",
    "request",
]

# The thread's scheduler, read without a call.
_thread_state = _scheduler._state  # pyright: ignore[reportPrivateUsage]


#: The open request of the running code (contexts copy it into the tasks and
#: threads they start).
current_request_var: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "asynq_request", default=None
)


class Request:
    """A unit of work (a web request, a GraphQL operation) whose calls share
    the caches of ``cache=True`` loaders. Open one with ``request()``."""

    __slots__ = ("__weakref__", "closed")

    def __init__(self) -> None:
        self.closed = False

    def __repr__(self) -> str:
        return f"<asynq request at 0x{id(self):x}{' (closed)' if self.closed else ''}>"


class _RequestScope:
    """What ``request()`` returns: a context manager, synchronous or async."""

    __slots__ = ("_token", "request")

    def __init__(self) -> None:
        self.request = Request()
        self._token: contextvars.Token[Request | None] | None = None

    def __enter__(self) -> Request:
        if self._token is not None:
            raise RuntimeError(f"{self.request!r} is already open: a request is entered once")
        self._token = current_request_var.set(self.request)
        return self.request

    def __exit__(self, *exc_info: Any) -> None:
        if self._token is None:
            raise RuntimeError(f"{self.request!r} exited without being entered")
        current_request_var.reset(self._token)
        self.request.closed = True

    async def __aenter__(self) -> Request:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)


def request() -> _RequestScope:
    """Opens a request: ``with request():`` or ``async with request():``.

    The calls made inside it (and by the coroutines and threads' contexts it
    starts) share the caches of ``cache=True`` loaders; a later request starts
    empty, and concurrent requests never see each other's values. Batches are
    shared by every call of a loop whatever its request (that is their point).
    """
    return _RequestScope()


def current_request() -> Request | None:
    """The request the caller belongs to, or None: the one open in its context,
    else the one the root of the active task was started in (under asyncio,
    tasks run in their loop's context, not their caller's)."""
    found = current_request_var.get()
    if found is not None:
        return found
    root = _root_of_active_task()
    return None if root is None else _roots.requests.get(root)


def current_run() -> Any:
    """What a ``cache=True`` loader's cache belongs to for the caller, or None:
    its request (``current_request()``), else the root task of the active task
    (the outermost call)."""
    found = current_request_var.get()
    if found is not None:
        return found
    root = _root_of_active_task()
    if root is None:
        return None
    return _roots.requests.get(root, root)


def remember_request(root: Any, request: Request) -> None:
    """Notes that ``root``, a task started by a call made in ``request``, belongs
    to it (the asyncio domain calls this for the calls it starts)."""
    _roots.requests[root] = request


def _root_of_active_task() -> Any:
    task = _thread_state.scheduler.active_task
    if task is None:
        return None
    creator = task.creator
    while creator is not None:
        task = creator
        creator = task.creator
    return task


class _Roots(threading.local):
    def __init__(self) -> None:
        # root task -> the request it was started in (held weakly: a task
        # that nothing references any more is no one's root)
        self.requests: weakref.WeakKeyDictionary[Any, Request] = weakref.WeakKeyDictionary()


_roots = _Roots()
