"""Futures: values that may not be known yet.

A future is computed once, with a value or an error. Two kinds of observers
learn about it: *waiters* (tasks blocked on it; the scheduler's own, cheap
bookkeeping, one object or a list, no allocation for a single waiter) and
subscribers of the public ``on_computed`` event hook (created only when
someone asks for it, so the hot path never builds one).

The scheduler does not test a future's class to know how to get it computed:
it calls ``_schedule_computation`` (double dispatch). A task queues itself; a
``DeferredFuture`` hands its flush group to the scheduler; any other future is
computed on the spot. This is the seam through which asynq-batching plugs in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import qcore

from . import _debug
from .errors import FutureIsAlreadyComputed
from .protocols import FlushGroup
from .text import short_repr

if TYPE_CHECKING:
    from .protocols import GroupRegistry, Waiter

__all__ = [
    "FutureBase",
    "Future",
    "ConstFuture",
    "ErrorFuture",
    "DeferredFuture",
    "FlushGroup",
    "FutureIsAlreadyComputed",
    "none_future",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_log = logging.getLogger("asynq")


class FutureBase(Generic[T_co]):
    """A value computed at most once; subclasses say how, in ``_compute``."""

    __slots__ = ("_computed", "_value", "_error", "_waiters", "_on_computed", "__weakref__")

    # A task's scheduling state (a slot of AsyncTask: one of task_states);
    # None for every other future, so that the scheduler can test "is this a
    # task not yet started" with one attribute read instead of a method call.
    _state: int | None = None

    def __init__(self) -> None:
        self._computed = False
        self._value: Any = None
        self._error: BaseException | None = None
        # None, one Waiter, or a list of them (from the second: one waiter
        # costs no list). Any: the hot paths tell them apart with
        # ``type(waiters) is list``, which checkers narrow in one branch only.
        self._waiters: Any = None
        self._on_computed: qcore.EventHook | None = None

    # -- reading ---------------------------------------------------------

    def value(self) -> T_co:
        """Computes the future if needed, then returns its value or raises its error."""
        if not self._computed:
            self._compute()
        if self._error is not None:
            raise self._error
        return self._value

    def __call__(self) -> T_co:
        return self.value()

    def error(self) -> BaseException | None:
        """Computes the future if needed and returns its error (None on success)."""
        if not self._computed:
            self._compute()
        return self._error

    def is_computed(self) -> bool:
        return self._computed

    def raise_if_error(self) -> None:
        """Computes the future if needed and raises its error, if any."""
        if not self._computed:
            self._compute()
        if self._error is not None:
            raise self._error

    def __bool__(self) -> bool:
        raise TypeError(
            f"bool() of {self!r}: a future has no truth value. "
            "You probably forgot to 'yield' it (or to call .value())."
        )

    # -- computing -------------------------------------------------------

    def _compute(self) -> None:
        """Computes the value; must end with ``set_value`` or ``set_error``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _compute()")

    def _schedule_computation(self, scheduler: GroupRegistry) -> None:
        """Called by the scheduler when a task starts waiting on this uncomputed future.

        The default computes it at once: a plain future has nothing to wait for.
        """
        if not self._computed:
            self._compute()

    def set_value(self, value: Any) -> None:
        if self._computed:
            raise FutureIsAlreadyComputed(self)
        self._value = value
        self._computed = True
        self._notify()

    def set_error(self, error: BaseException) -> None:
        # Checked although typed: untyped callers pass anything.
        if not isinstance(error, BaseException):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"{type(self).__name__}.set_error() takes an exception, got {error!r}")
        if self._computed:
            raise FutureIsAlreadyComputed(self)
        self._error = error
        self._computed = True
        self._notify()

    def _notify(self) -> None:
        # Waiters first: the scheduler's state must be consistent whatever a
        # subscriber of on_computed does. Every subscriber runs; an Exception
        # one raises is logged and the future keeps its value (as in asynq
        # 1.x); a BaseException (KeyboardInterrupt, ...) reaches the caller of
        # set_value/set_error.
        waiters: Waiter | list[Waiter] | None = self._waiters
        if waiters is not None:
            self._waiters = None
            if type(waiters) is list:
                for waiter in waiters:
                    waiter._dependency_done()  # pyright: ignore[reportPrivateUsage]  # a Waiter's
            else:
                waiters._dependency_done()  # type: ignore[union-attr]  # not a list (see _waiters)
        hook = self._on_computed
        if hook is not None:
            try:
                hook.safe_trigger(self)
            except Exception:
                _log.exception("asynq: an on_computed subscriber of %r raised", self)

    def _add_waiter(self, waiter: Waiter) -> None:
        waiters: Waiter | list[Waiter] | None = self._waiters
        if waiters is None:
            self._waiters = waiter
        elif type(waiters) is list:
            waiters.append(waiter)
        else:
            self._waiters = [waiters, waiter]

    def _remove_waiter(self, waiter: Waiter) -> None:
        waiters: Waiter | list[Waiter] | None = self._waiters
        if waiters is waiter:
            self._waiters = None
        elif type(waiters) is list:
            # Every registration: a task may wait on the same future twice.
            self._waiters = [each for each in waiters if each is not waiter] or None

    @property
    def on_computed(self) -> qcore.EventHook:
        """Event hook fired with this future once it is computed."""
        hook = self._on_computed
        if hook is None:
            hook = self._on_computed = qcore.EventHook()
        return hook

    @on_computed.setter
    def on_computed(self, hook: qcore.EventHook) -> None:
        self._on_computed = hook

    def reset_unsafe(self) -> None:
        """Forgets the computed value, so the future can be computed again."""
        self._computed = False
        self._value = None
        self._error = None

    # -- showing ---------------------------------------------------------

    def __repr__(self) -> str:
        if not self._computed:
            status = "not computed"
        elif self._error is not None:
            status = "error: " + short_repr(self._error)
        else:
            status = "value: " + short_repr(self._value)
        return f"<{type(self).__name__} at 0x{id(self):x} ({status})>"

    def __str__(self) -> str:
        return repr(self)

    def dump(self, indent: int = 0) -> None:
        """Writes ``repr(self)`` to the debug output (``asynq_core.debug.write``)."""
        _debug.output.write(repr(self), indent)


class Future(FutureBase[T_co]):
    """A future computed by calling ``value_provider()`` when first needed."""

    __slots__ = ("_value_provider",)

    def __init__(self, value_provider: Callable[[], T_co]) -> None:
        if not callable(value_provider):
            raise TypeError(f"Future() takes a callable, got {value_provider!r}")
        super().__init__()
        self._value_provider = value_provider

    def _compute(self) -> None:
        provider = self._value_provider
        try:
            value = provider()
        except BaseException as error:
            self.set_error(error)
        else:
            self.set_value(value)


class ConstFuture(FutureBase[T_co]):
    """A future whose value is known when it is created."""

    __slots__ = ()

    def __init__(self, value: T_co) -> None:
        self._computed = True
        self._value = value
        self._error = None
        self._waiters = None
        self._on_computed = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConstFuture, (self._value,))


class ErrorFuture(FutureBase[Any]):
    """A future that has already failed with ``error``."""

    __slots__ = ()

    def __init__(self, error: BaseException) -> None:
        # Checked although typed: untyped callers pass anything.
        if not isinstance(error, BaseException):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"ErrorFuture() takes an exception, got {error!r}")
        self._computed = True
        self._value = None
        self._error = error
        self._waiters = None
        self._on_computed = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (ErrorFuture, (self._error,))


class DeferredFuture(FutureBase[T_co]):
    """A future no task computes: its value arrives when its group is flushed.

    The scheduler keeps the group of every deferred future a task waits on and,
    when no task can go on, flushes the pending group of highest priority.
    Subclasses implement ``flush_group``.
    """

    __slots__ = ()

    def flush_group(self) -> FlushGroup:
        raise NotImplementedError(f"{type(self).__name__} does not implement flush_group()")

    def _schedule_computation(self, scheduler: GroupRegistry) -> None:
        scheduler.add_pending_group(self.flush_group())

    def _compute(self) -> None:
        compute_deferred(self)


def _flush_now(future: DeferredFuture[Any]) -> None:
    future.flush_group().flush()


#: How ``value()`` computes a deferred future no task waits on: its group is
#: flushed at once. ``deadlines``, above this module, replaces it when
#: imported: under a deadline the scheduler computes it, so that the deadline
#: bounds the wait, and a flush a round left in flight is waited for.
compute_deferred: Callable[[DeferredFuture[Any]], None] = _flush_now


none_future: ConstFuture[None] = ConstFuture(None)
