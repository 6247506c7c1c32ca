"""The tools about contexts: ``call_with_context`` runs one call inside a
context, ``AsyncTimer`` is a context that times its task.

Invariants:
- A context entered in a task is paused whenever the task stops and resumed
  when it runs again (asynq-contexts' ``AsyncContext``): the context of
  ``call_with_context`` covers its call only, not the calls yielded beside
  it, and ``AsyncTimer`` counts only the time its task ran.
- Under asyncio, ``AsyncTimer`` measures the wall time of its block, as
  asynq 1.x does there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Generator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from asynq_contexts import AsyncContext
from asynq_core import AsyncTask, asynq, is_asyncio_mode
from asynq_core.decorators import async_call
from asynq_core.lowlevel import reject_bound_asynq

from .common import _Typed

__all__ = [
    "call_with_context",
    "AsyncTimer",
]


_R = TypeVar("_R")

if TYPE_CHECKING:
    from asynq_core.decorators import AsyncDecorator

    class _CallWithContext(AsyncDecorator[..., Any]):
        def __call__(
            self,
            context: AbstractContextManager[Any],
            fn: Callable[..., _R],
            *args: Any,
            **kwargs: Any,
        ) -> _R: ...
        def asynq(
            self,
            context: AbstractContextManager[Any],
            fn: Callable[..., _R],
            *args: Any,
            **kwargs: Any,
        ) -> AsyncTask[_R]: ...
        def asyncio(
            self,
            context: AbstractContextManager[Any],
            fn: Callable[..., _R],
            *args: Any,
            **kwargs: Any,
        ) -> Coroutine[Any, Any, _R]: ...


@_Typed["_CallWithContext"]()
@asynq()
def call_with_context(
    context: AbstractContextManager[Any], fn: Callable[..., _R], *args: Any, **kwargs: Any
) -> Generator[Any, Any, _R]:
    """Calls ``fn(*args, **kwargs)`` inside ``with context``.

    Useful to yield several calls at once of which only one should run in the
    context: ``yield call_with_context.asynq(ctx, f, x), g.asynq(y)``.
    """
    if not (hasattr(context, "__enter__") and hasattr(context, "__exit__")):
        raise TypeError(f"call_with_context() needs a context manager, got {context!r}")
    reject_bound_asynq(fn, "call_with_context")
    with context:
        return (yield async_call.asynq(fn, *args, **kwargs))


class AsyncTimer(AsyncContext):
    """Measures how long the code inside ``with AsyncTimer() as timer:`` runs.

    Only the time its task ran counts (with what it calls inside the block):
    the time other tasks run and batches are flushed in between is left out.
    Under asyncio (entered while ``is_asyncio_mode()``), it measures the wall
    time of the block, as asynq 1.x does there: the coroutines of a loop
    interleave with the native awaits a task makes, whose time is the task's.
    ``total_time`` is in microseconds; ``clock`` is a monotonic clock in
    nanoseconds.
    """

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        if not callable(clock):
            raise TypeError(f"AsyncTimer(clock=...) needs a function, got {clock!r}")
        self._clock = clock
        self._total_ns = 0
        self._resumed_at: int | None = None
        self._wall_clock = False

    def __enter__(self) -> AsyncTimer:
        self._wall_clock = is_asyncio_mode()
        return super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._wall_clock = False  # the pause of the exit stops it
        super().__exit__(*exc_info)

    def resume(self) -> None:
        if self._wall_clock and self._resumed_at is not None:
            return
        self._resumed_at = self._clock()

    def pause(self) -> None:
        if self._wall_clock:
            return
        resumed_at = self._resumed_at
        if resumed_at is not None:
            self._total_ns += self._clock() - resumed_at
            self._resumed_at = None

    @property
    def total_time(self) -> int:
        """Microseconds counted so far (including the current run, if running)."""
        total = self._total_ns
        if self._resumed_at is not None:
            total += self._clock() - self._resumed_at
        return total // 1000

    def __repr__(self) -> str:
        return f"<AsyncTimer {self.total_time} us>"
