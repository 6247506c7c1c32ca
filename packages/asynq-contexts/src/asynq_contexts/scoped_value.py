"""AsyncScopedValue: a value that an override changes only for the task that set it.

``value.override(x)`` is an AsyncContext: while the task that entered it runs
(and the tasks it calls inside the ``with`` block), ``value.get()`` is ``x``;
whenever that task stops, the value the others see is put back. A ``set()``
made inside an override stays the overriding task's own until the override
exits; outside any override ``set()`` changes the value for everyone.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .contexts import AsyncContext, async_override

__all__ = ["AsyncScopedValue", "async_override"]

T = TypeVar("T")


class AsyncScopedValue(Generic[T]):
    """Holds a value; ``override(v)`` sets it for one task's scope only."""

    __slots__ = ("_value",)

    def __init__(self, default: T) -> None:
        self._value = default

    def get(self) -> T:
        """The current value."""
        return self._value

    def set(self, value: T) -> None:
        """Sets the value (for the overriding task only, inside an override)."""
        self._value = value

    def override(self, value: T) -> AsyncContext:
        """A context that sets the value to ``value`` for the task that enters it."""
        return _ScopedValueOverride(self, value)

    def __call__(self) -> T:
        return self._value

    def __str__(self) -> str:
        return f"AsyncScopedValue({self._value!s})"

    def __repr__(self) -> str:
        return f"AsyncScopedValue({self._value!r})"


class _ScopedValueOverride(AsyncContext, Generic[T]):
    """The context ``AsyncScopedValue.override`` returns."""

    def __init__(self, target: AsyncScopedValue[T], value: T) -> None:
        self._target = target
        self._value = value
        self._saved: T | None = None

    def resume(self) -> None:
        target = self._target
        self._saved = target._value
        target._value = self._value

    def pause(self) -> None:
        target = self._target
        # Keeps what the task set inside the override for when it runs again.
        self._value = target._value
        target._value = self._saved  # type: ignore[assignment]
        self._saved = None

    def __repr__(self) -> str:
        return f"<override of {self._target!r} with {self._value!r}>"
