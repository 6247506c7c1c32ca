"""AsyncScopedValue: a value that an override changes only for the task that set it.

``value.override(x)`` is an AsyncContext: while the task that entered it runs
(and the tasks it calls inside the ``with`` block), ``value.get()`` is ``x``;
whenever that task stops, the value the others see is put back. A ``set()``
made inside an override stays the overriding task's own until the override
exits; outside any override ``set()`` changes the value for everyone.

The overridden value lives in a context variable, set while the overriding
task runs: so it is per thread, and per coroutine under asyncio. A native
coroutine started by a task inside the ``with`` block (an ``asyncio_fn``,
an asyncio task it creates) starts with a copy of the task's context and
sees the value the task saw; what it sets stays its own. Invariant: the
variable is set only between an override's ``resume()`` and ``pause()``
(which resets it with the token ``resume()`` got, in the same context), so
``get()`` reads it when it is set and the shared value otherwise.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any, Generic, TypeVar

from .contexts import AsyncContext, async_override

__all__ = ["AsyncScopedValue", "async_override"]

T = TypeVar("T")

_UNSET: Any = object()


class AsyncScopedValue(Generic[T]):
    """Holds a value; ``override(v)`` sets it for one task's scope only."""

    __slots__ = ("_value", "_override")

    def __init__(self, default: T) -> None:
        # The value outside any override, shared by every thread and coroutine.
        self._value = default
        self._override: ContextVar[T] = ContextVar(f"AsyncScopedValue at 0x{id(self):x}")

    def get(self) -> T:
        """The current value."""
        return self._override.get(self._value)

    def set(self, value: T) -> None:
        """Sets the value (for the overriding task only, inside an override)."""
        if self._override.get(_UNSET) is _UNSET:
            self._value = value
        else:
            self._override.set(value)

    def override(self, value: T) -> AsyncContext:
        """A context that sets the value to ``value`` for the task that enters it."""
        return _ScopedValueOverride(self, value)

    def __call__(self) -> T:
        return self._override.get(self._value)

    def __str__(self) -> str:
        return f"AsyncScopedValue({self.get()!s})"

    def __repr__(self) -> str:
        return f"AsyncScopedValue({self.get()!r})"


class _ScopedValueOverride(AsyncContext, Generic[T]):
    """The context ``AsyncScopedValue.override`` returns."""

    def __init__(self, target: AsyncScopedValue[T], value: T) -> None:
        self._target = target
        self._value = value
        # The token of each resume(), reset by the pause() that follows it (the
        # override may be entered again while active, as in asynq 1.x).
        self._tokens: list[Token[T]] = []

    def resume(self) -> None:
        self._tokens.append(self._target._override.set(self._value))

    def pause(self) -> None:
        if not self._tokens:  # exited without being entered: nothing to undo
            return
        variable = self._target._override
        # Keeps what the task set inside the override for when it runs again.
        self._value = variable.get()
        variable.reset(self._tokens.pop())

    def __repr__(self) -> str:
        return f"<override of {self._target!r} with {self._value!r}>"
