"""What crosses between asynq futures and native asyncio code in the asyncio
domain (``asyncio_domain``): a native coroutine as an asynq future
(``NativeCall``; ``adopt_awaitables`` for the awaitables a task yields), and
the outcome of an asynq future handed to an asyncio future (``CallWaiter``,
``settle``).

Invariants:
- A ``NativeCall`` runs its coroutine as an asyncio task once a task waits
  on it, and only in a domain: the scheduler that waits on it runs it
  (``run_native``) and is told when it ends (``native_done``); a scheduler
  without ``run_native`` fails it, as its coroutine can only run on the loop
  of the call.
- Each resumption of a native coroutine counts as activity of its domain: a
  coroutine still busy (not awaiting real I/O) holds due batches back, as a
  task stepping does (see ``batch_clock``).
- An asyncio future is handed an outcome only while nothing else settled
  it: one whose awaiting coroutine was cancelled is left alone. An asynq
  error that is a CancelledError cancels it (asyncio futures take no
  CancelledError as an error).
"""

from __future__ import annotations

import asyncio
import inspect
from asyncio import InvalidStateError
from typing import TYPE_CHECKING, Any, Protocol

from .futures import FutureBase

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator

    from .futures import DeferredFuture
    from .protocols import GroupRegistry
    from .yielded import WaitedOn, Yielded

# Hand-overs read the slots of asynq futures (asynq 1.x's names), as the
# scheduler does.
# pyright: reportPrivateUsage=false

__all__ = [
    "CallWaiter",
    "Load",
    "Loads",
    "NativeCall",
    "NativeRunner",
    "adopt_awaitables",
    "pairs",
    "settle",
]

#: A load of native code from a group: its deferred future and the asyncio
#: future of its value (``await_future``).
Load = tuple["DeferredFuture[Any]", "asyncio.Future[Any]"]

#: Loads kept flat, ``[future, done, future, done, ...]``: no tuple per load.
Loads = list[Any]


def pairs(loads: Loads) -> Iterator[Load]:
    """The loads of a flat list of loads, as pairs."""
    both = iter(loads)
    return zip(both, both, strict=False)  # an even length, by construction


class NativeRunner(Protocol):
    """What a native call needs of the domain that runs it (``AsyncioDomain``)."""

    #: Counts everything that happens in the domain (see ``batch_clock``).
    activity: int

    def native_done(self) -> None:
        """The coroutine of a native call ended."""


class CallWaiter:
    """Completes the asyncio future of a call when its asynq future is computed
    (the waiter protocol of tasks: ``_dependency_done``)."""

    __slots__ = ("future", "awaited")

    _scheduler = None  # never the scheduler of a task: notified, not queued

    def __init__(self, future: asyncio.Future[Any], awaited: FutureBase[Any]) -> None:
        self.future = future
        self.awaited = awaited

    def _dependency_done(self) -> None:
        future = self.future
        if future.done():  # its awaiting coroutine was cancelled
            return
        awaited = self.awaited
        error = awaited._error
        if error is None:
            future.set_result(awaited._value)
        elif isinstance(error, asyncio.CancelledError):
            future.cancel()  # asyncio futures take no CancelledError as an error
        else:
            future.set_exception(error)


def settle(loads: Loads) -> None:
    """Hands native code the values of its loads of a flushed group; a load
    still uncomputed (its group broke the protocol) gets it once it is."""
    for future, done in pairs(loads):
        if future._error is None and future._computed:  # the common case
            try:
                done.set_result(future._value)
            except InvalidStateError:  # its awaiting coroutine was cancelled
                pass
            continue
        if done.done():  # its awaiting coroutine was cancelled
            continue
        if not future._computed:
            future._add_waiter(CallWaiter(done, future))
            continue
        error = future._error
        if error is None:
            done.set_result(future._value)
        elif isinstance(error, asyncio.CancelledError):
            done.cancel()
        else:
            done.set_exception(error)


class NativeCall(FutureBase[Any]):
    """The future of a native coroutine in the domain: the ``asyncio_fn`` of an
    asynq function called through ``.asynq()`` in asyncio mode, or an awaitable
    a task yielded. It runs as an asyncio task once a task waits on it."""

    __slots__ = ("_coroutine_fn", "_args", "_kwargs", "_runner", "fn")

    def __init__(
        self,
        coroutine_fn: Callable[..., Coroutine[Any, Any, Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        self.fn = coroutine_fn
        self._coroutine_fn = coroutine_fn
        self._args = args
        self._kwargs = kwargs
        self._runner: asyncio.Task[None] | None = None

    def _schedule_computation(self, scheduler: GroupRegistry) -> None:
        if self._runner is not None or self._computed:
            return
        run_native = getattr(scheduler, "run_native", None)
        if run_native is None:  # not a domain: there is no loop to run it on
            self._compute()
            return
        self._runner = run_native(self)

    async def run(self, domain: NativeRunner) -> None:
        """Runs the coroutine to its end and takes its outcome: the asyncio task
        that ``domain`` starts (``run_native``)."""
        try:
            value = await _Resumptions(self._coroutine_fn(*self._args, **self._kwargs), domain)
        except BaseException as error:
            if not self._computed:
                self.set_error(error)
        else:
            if not self._computed:
                self.set_value(value)
        finally:
            domain.native_done()

    def cancel(self) -> None:
        """Cancels the coroutine (nothing waits on it any more)."""
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
        elif runner is None and not self._computed:
            close = getattr(self._args[0] if self._args else None, "close", None)
            if self._coroutine_fn is _await and close is not None:
                close()  # an adopted coroutine never started: no warning

    def _compute(self) -> None:
        self.set_error(
            RuntimeError(
                f"{self.fn!r} was called through .asynq() in asyncio mode: its "
                "asyncio_fn coroutine can only run on the event loop of that call"
            )
        )


def adopt_awaitables(yielded: WaitedOn | Awaitable[Any]) -> Yielded:
    """``yielded`` with each native awaitable (coroutine, asyncio future, ...)
    replaced by a native call that awaits it on the loop, as asynq 1.x's asyncio
    mode allows; None if it holds something else that a task may not yield."""
    if isinstance(yielded, FutureBase) or yielded is None:
        return yielded
    if inspect.isawaitable(yielded):
        return NativeCall(_await, (yielded,), {})
    if isinstance(yielded, (list, tuple)):
        items = [adopt_awaitables(item) for item in yielded]
        pairs = zip(items, yielded, strict=True)
        if any(adopted is None and item is not None for adopted, item in pairs):
            return None
        return items if isinstance(yielded, list) else tuple(items)
    if isinstance(yielded, dict):
        adopted = {key: adopt_awaitables(item) for key, item in yielded.items()}
        if any(adopted[key] is None and item is not None for key, item in yielded.items()):
            return None
        return adopted
    return None


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Resumptions:
    """Awaits a coroutine, counting each time it is resumed as activity of the
    domain: a native coroutine still busy (not awaiting real I/O) holds the
    round back, as a task stepping does."""

    __slots__ = ("_coroutine", "_domain")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], domain: NativeRunner) -> None:
        self._coroutine = coroutine
        self._domain = domain

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, domain = self._coroutine, self._domain
        send_value: Any = None
        send_error: BaseException | None = None
        while True:
            domain.activity += 1
            try:
                if send_error is None:
                    yielded = coroutine.send(send_value)
                else:
                    yielded = coroutine.throw(send_error)
            except StopIteration as stop:
                return stop.value
            try:
                send_value, send_error = (yield yielded), None
            except BaseException as error:  # a cancellation, thrown into the coroutine
                send_value, send_error = None, error
