"""``aretry``: calls an asynq function again while it raises a given error.

Invariants:
- At most ``max_tries`` calls in all, with a blocking ``time.sleep`` between
  them (this module's ``time``, which patching ``asynq.tools.time`` replaces,
  as in asynq 1.x); the last error is raised.
- The decoration refuses only what asynq 1.x refuses (a ``max_tries`` that
  is not positive); every other bad argument fails where it is used, with
  an error naming ``aretry`` and the value.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from typing import Any, NoReturn

from asynq_core import AsyncTask
from asynq_core.decorators import get_async_fn, make_async_decorator

from .common import _refusing, _WrapAsynqFunction

__all__ = [
    "aretry",
]


def aretry(
    exception_cls: type[BaseException] | tuple[type[BaseException], ...],
    max_tries: int = 10,
    sleep: float = 0.05,
) -> _WrapAsynqFunction:
    """Retries an asynq function while it raises ``exception_cls`` (a class or a
    tuple of classes), at most ``max_tries`` calls in all, sleeping ``sleep``
    seconds between them (a blocking ``time.sleep``); the last error is raised.

    A plain function may be decorated too (as in asynq 1.x): it is called
    synchronously at each attempt.

    As asynq 1.x, the decoration refuses only a ``max_tries`` that is not
    positive; the other arguments fail where they are used, with a clear
    error: an ``exception_cls`` that is not an exception class (or a tuple of
    them) when the function raises, a ``sleep`` that ``time.sleep`` refuses
    when retrying, a ``max_tries`` that is not an int at the call.
    """
    try:
        positive = bool(max_tries > 0)  # asynq 1.x's check (an assertion there)
    except TypeError:
        positive = False
    if not positive:
        raise ValueError(f"aretry(max_tries=...) must be an int >= 1, got {max_tries!r}")
    try:
        tries = operator.index(max_tries)  # also a bool or a numpy int, as range() takes them
    except TypeError:
        tries = 0
        tries_error: Callable[[], NoReturn] | None = _refusing(
            TypeError, f"aretry(max_tries=...) must be an int >= 1, got {max_tries!r}"
        )
    else:
        tries_error = None
    if _is_exception_spec(exception_cls):
        catch: Any = exception_cls
        bad_classes = None
    else:
        catch = Exception
        bad_classes = _refusing(
            TypeError,
            f"aretry() needs an exception class or a tuple of them, got {exception_cls!r}",
        )
    sleep_error = _sleep_error(sleep)

    def decorate(fn: Any) -> Any:
        start = get_async_fn(fn, wrap_if_none=True)
        assert start is not None

        def attempts(*args: Any, **kwargs: Any) -> Any:
            if tries_error is not None:
                tries_error()
            for attempt in range(1, tries + 1):
                try:
                    return (yield start(*args, **kwargs))
                except catch:
                    # (Raised in the except block, its context is the function's error.)
                    if bad_classes is not None:
                        bad_classes()
                    if attempt == tries:
                        raise
                    if sleep_error is not None:
                        sleep_error()
                    if sleep:
                        time.sleep(sleep)

        def retrying_call(*args: Any, **kwargs: Any) -> AsyncTask[Any]:
            return AsyncTask(attempts(*args, **kwargs), fn, args, kwargs)

        return make_async_decorator(fn, retrying_call, "aretry")

    return decorate


def _is_exception_spec(spec: Any) -> bool:
    """True if ``except spec:`` works: an exception class or a tuple of them (maybe empty)."""
    classes = spec if isinstance(spec, tuple) else (spec,)
    return all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in classes)


def _sleep_error(sleep: Any) -> Callable[[], NoReturn] | None:
    """None if ``time.sleep(sleep)`` works (a float or an int >= 0), else what raises its error."""
    if isinstance(sleep, float):
        number: Any = sleep
    else:
        try:
            number = operator.index(sleep)
        except TypeError:
            return _refusing(
                TypeError, f"aretry(sleep=...) must be a number of seconds >= 0, got {sleep!r}"
            )
    if number >= 0:
        return None
    return _refusing(
        ValueError, f"aretry(sleep=...) must be a number of seconds >= 0, got {sleep!r}"
    )
