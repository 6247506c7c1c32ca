"""``AsyncEventHook``: a ``qcore.EventHook`` whose triggers are asynq functions.

Invariants:
- Async handlers run concurrently (their lookups batch together), plain ones
  are called directly, in subscription order; both triggers wait for every
  started handler, then raise the first error in handler order.
- The handlers triggered are those subscribed when the trigger starts.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import qcore

from asynq_core import ConstFuture, ErrorFuture, FutureBase, asynq
from asynq_core.decorators import async_call
from asynq_core.lowlevel import is_bound_asynq

__all__ = [
    "AsyncEventHook",
]


class AsyncEventHook(qcore.EventHook):
    """A ``qcore.EventHook`` whose ``trigger`` and ``safe_trigger`` are asynq functions.

    Async handlers are called through ``.asynq`` and run concurrently (their
    lookups batch together); plain handlers are called directly, in order.
    ``trigger`` stops calling handlers after a plain one raises; ``safe_trigger``
    calls them all. Both wait for every started handler, then raise the first
    error in handler order. A handler subscribed as ``f.asynq`` (rather than
    ``f``) is called as a plain one, as in asynq 1.x: the task it returns is
    not run.
    """

    @asynq()  # an asynq function where EventHook has a plain method
    def trigger(self, *args: Any) -> Generator[Any, Any, None]:  # pyright: ignore[reportIncompatibleMethodOverride]
        """Calls every handler with ``args``; stops at a plain handler that raises."""
        yield _start_handlers(self, args, stop_at_error=True)

    @asynq()
    def safe_trigger(self, *args: Any) -> Generator[Any, Any, None]:  # pyright: ignore[reportIncompatibleMethodOverride]
        """Calls every handler with ``args``, then raises the first error, if any."""
        yield _start_handlers(self, args, stop_at_error=False)


def _start_handlers(
    hook: qcore.EventHook, args: tuple[Any, ...], stop_at_error: bool
) -> list[FutureBase[Any]]:
    futures: list[FutureBase[Any]] = []
    # A copy: handlers may (un)subscribe while being called.
    for handler in list(hook):
        try:
            if is_bound_asynq(handler):
                # f.asynq subscribed instead of f: asynq 1.x calls it as a plain
                # handler, so the task it returns is made but never run.
                futures.append(ConstFuture(handler(*args)))
            else:
                futures.append(async_call.asynq(handler, *args))
        except BaseException as error:
            futures.append(ErrorFuture(error))
            if stop_at_error:
                break
    return futures
