"""``result()``: the Python 2 way for a task to return a value, kept for old code.

A generator's ``return value`` is the way to go; ``result(value); return``
still works and raises AsyncTaskResult, which the scheduler catches.

``AsynqMisuseError`` is what asynq 1.x reported with a failed ``assert``
(``result(future)``, ``@asynq()`` applied twice, ...): a TypeError, and an
AssertionError too so that code and tests written against 1.x still catch it.

``callable_name`` is how every asynq package names a function in its messages.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .futures import FutureBase

__all__ = ["AsyncTaskResult", "AsynqMisuseError", "callable_name", "result"]


class AsynqMisuseError(TypeError, AssertionError):
    """A call that cannot be right, such as ``result()`` of a future or ``@asynq()``
    applied twice (an AssertionError in asynq 1.x, hence both bases)."""


class AsyncTaskResult(GeneratorExit):
    """Raised by ``result(value)`` inside a task; carries the task's value."""

    def __init__(self, result: Any) -> None:
        super().__init__(result)
        self.result = result


def result(value: Any) -> NoReturn:
    """Ends the running task with ``value`` (legacy spelling of ``return value``)."""
    if isinstance(value, FutureBase):
        raise AsynqMisuseError(
            f"result({value!r}): the value is a future; "
            "you probably forgot to 'yield' it before returning"
        )
    raise AsyncTaskResult(value)


def callable_name(fn: Any) -> str:
    """The qualified name of a function (or its repr), for error messages."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
