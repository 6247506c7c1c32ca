"""Asyncio mode: whether the running code is an asynq task or native coroutine
run on an event loop by the asyncio domain (``asynq_to_async``).

A context variable, so per coroutine. The domain sets it in the context its
tasks and the native coroutines they start run in. There a synchronous call
of an asynq function, or ``.value()`` of an uncomputed task, is refused: it
would block the event loop. A leaf module, so that tasks and decorators can
check the mode without importing the bridge above them.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

__all__ = ["running_in_asyncio", "is_asyncio_mode", "check_sync_call", "refuse_sync_wait"]

_log = logging.getLogger("asynq")

#: True in the context of the domain's tasks and native coroutines.
running_in_asyncio: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "asynq_asyncio_mode", default=False
)


def is_asyncio_mode() -> bool:
    """True while an asynq function runs under asyncio (see the module docstring)."""
    return running_in_asyncio.get()


def check_sync_call(fn: Any, allow_sync_call: bool) -> None:
    """Refuses (or, with ``allow_sync_call``, logs) a synchronous call in asyncio mode."""
    message = (
        f"synchronous call of {fn!r} inside an asyncio coroutine: it would block "
        "the event loop; yield fn.asynq(...) instead"
    )
    if not allow_sync_call:
        raise RuntimeError(message)
    _log.warning(message)


def refuse_sync_wait(task: Any) -> None:
    """Refuses ``task.value()`` of an uncomputed task in asyncio mode (called by
    ``AsyncTask._compute``): the synchronous wait would block the event loop."""
    if running_in_asyncio.get():
        raise RuntimeError(
            f"{task!r}.value() inside an asyncio coroutine: waiting synchronously would "
            "block the event loop; yield the task in an asynq function, or await "
            "run_task(task) in native code"
        )
