"""``result()``: the Python 2 way for a task to return a value, kept for old code.

A generator's ``return value`` is the way to go; ``result(value); return``
still works and raises AsyncTaskResult, which the scheduler catches. This is
also asynq 1.x's ``asynq.utils``, so it re-exports what 1.x code finds there.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .errors import AsyncTaskResult, AsynqMisuseError
from .futures import FutureBase
from .text import callable_name

__all__ = ["AsyncTaskResult", "AsynqMisuseError", "callable_name", "result"]


def result(value: Any) -> NoReturn:
    """Ends the running task with ``value`` (legacy spelling of ``return value``)."""
    if isinstance(value, FutureBase):
        raise AsynqMisuseError(
            f"result({value!r}): the value is a future; "
            "you probably forgot to 'yield' it before returning"
        )
    raise AsyncTaskResult(value)
