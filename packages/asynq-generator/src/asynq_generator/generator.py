"""Async generators: lazily produced sequences whose items may each need async work.

An ``@async_generator()`` function is a generator that yields what an asynq
task may yield (futures, or lists, tuples and dicts of them) to wait for
them, and ``Value(x)`` for each item it produces. Calling it returns an
iterator of futures, one per *step*, with asynq 1.x's semantics:

- ``next()`` resumes the generator synchronously up to its first yield. If
  that is a ``Value``, the step is a ``ConstFuture`` of it; if the generator
  ends there, the iteration stops (StopIteration), and an error it raises
  there is raised by ``next()``. Otherwise the step is an ``AsyncTask`` that
  waits for what was yielded and goes on to the next ``Value`` (its value) or
  to the generator's end: the value is then ``END_OF_GENERATOR``, a step that
  consumers skip, and the iterator stops after it.
- A step's async work is scheduled like any task's, so the futures it yields
  together are batched together, and the steps of several generators
  advanced at once share their batches.
- Steps run one after the other: asking for the next step while the
  previous one is not computed raises RuntimeError. The generator is never
  resumed by two steps at once, and never runs ahead of its consumer beyond
  the synchronous start of the step asked for.
- Once the generator ended (it returned or raised), the iterator is exhausted.
"""

from __future__ import annotations

import decimal
import inspect
import numbers
import operator
from collections.abc import Callable, Generator, Iterable, Iterator
from functools import wraps
from typing import Any, Generic, ParamSpec, TypeVar

import qcore

from asynq_core.async_task import AsyncTask
from asynq_core.decorators import asynq
from asynq_core.errors import AsyncTaskResult
from asynq_core.futures import ConstFuture, FutureBase
from asynq_core.lowlevel import callable_name

__all__ = [
    "async_generator",
    "AsyncGeneratorIterator",
    "Value",
    "END_OF_GENERATOR",
    "list_of_generator",
    "take_first",
]

T = TypeVar("T")
P = ParamSpec("P")


class Value(Generic[T]):
    """Yielded by an async generator to produce ``value`` as its next item."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<Value: {self.value!r}>"


class _EndOfGenerator(qcore.MarkerObject):
    """The type of END_OF_GENERATOR: a ``qcore.MarkerObject`` as in asynq 1.x,
    of which there is one instance, which pickles as itself."""

    def __reduce__(self) -> str:
        return "END_OF_GENERATOR"


#: The value of a generator's trailing step: it ended without producing a value.
END_OF_GENERATOR = _EndOfGenerator("end of generator")

# What _resume returns when the generator ended (StopIteration cannot leave
# the generator of a step: it would become a RuntimeError there).
_ENDED = object()


class AsyncGeneratorIterator(Generic[T]):
    """The iterator an ``@async_generator()`` function returns: one future per step.

    ``next()`` returns the future of the next step (see the module docstring);
    its value is the item the step produced, or END_OF_GENERATOR if the
    generator ended after async work.
    """

    __slots__ = (
        "_generator",
        "_fn",
        "_args",
        "_kwargs",
        "_last_step",
        "_finished",
        "_steps",
        "_resuming",
    )

    def __init__(
        self,
        generator: Generator[Any, Any, Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._generator = generator
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._last_step: FutureBase[Any] | None = None
        self._finished = False
        self._steps = 0
        self._resuming = False

    def __iter__(self) -> AsyncGeneratorIterator[T]:
        return self

    def __next__(self) -> FutureBase[T | _EndOfGenerator]:
        last = self._last_step
        if last is not None and not last.is_computed():
            raise RuntimeError(
                f"{self!r}: asked for step {self._steps + 1} before step {self._steps} "
                f"({last!r}) was computed; yield (or ask the value of) each step's "
                "future before advancing"
            )
        if self._finished:
            raise StopIteration
        item = self._resume(None, None)
        if item is _ENDED:
            raise StopIteration
        self._steps += 1
        step: FutureBase[Any]
        if isinstance(item, Value):
            step = ConstFuture(item.value)
        else:
            step = AsyncTask(self._run_step(item), self._fn, self._args, self._kwargs)
        self._last_step = step
        return step

    def _resume(self, send_value: Any, send_error: BaseException | None) -> Any:
        """Runs the user's generator to its next yield and returns what it yielded,
        or ``_ENDED``; an error it raises is raised (the iteration ends)."""
        if self._resuming:
            raise RuntimeError(
                f"{self!r}: next() called from inside the generator itself; "
                "an async generator cannot advance itself"
            )
        self._resuming = True
        try:
            if send_error is None:
                return self._generator.send(send_value)
            return self._generator.throw(send_error)
        except StopIteration:
            self._finished = True
            return _ENDED
        except AsyncTaskResult:
            self._finished = True
            raise TypeError(
                f"{callable_name(self._fn)} called result() inside an async generator: "
                "yield Value(x) to produce an item, return to end"
            ) from None
        except BaseException:
            self._finished = True
            raise
        finally:
            self._resuming = False

    def _run_step(self, item: Any) -> Generator[Any, Any, Any]:
        """The generator of a step's task: waits for ``item`` (what the user's
        generator yielded first) and drives the generator to its next Value."""
        while True:
            try:
                send_value, send_error = (yield item), None
            except BaseException as error:
                # An error of what the generator waited for (or this step being
                # cancelled or closed) is raised at the generator's own yield.
                send_value, send_error = None, error
            item = self._resume(send_value, send_error)
            if item is _ENDED:
                return END_OF_GENERATOR
            if isinstance(item, Value):
                return item.value

    def close(self) -> None:
        """Ends the sequence: closes the generator (running its ``finally``
        blocks); later ``next()`` calls raise StopIteration."""
        self._finished = True
        self._generator.close()

    def __repr__(self) -> str:
        if self._finished:
            state = "finished"
        else:
            state = f"{self._steps} step{'' if self._steps == 1 else 's'} taken"
        arguments = [repr(arg) for arg in self._args]
        arguments += [f"{key}={value!r}" for key, value in self._kwargs.items()]
        return f"<async generator {callable_name(self._fn)}({', '.join(arguments)}) ({state})>"


def async_generator(
    _misused: Any = None, /
) -> Callable[[Callable[P, Generator[Any, Any, Any]]], Callable[P, AsyncGeneratorIterator[Any]]]:
    """Turns a generator function yielding futures and ``Value(x)`` items into
    a function returning an :class:`AsyncGeneratorIterator` (one future per step).

    Use it with parentheses: ``@async_generator()``.
    """
    if _misused is not None:
        raise TypeError(
            f"async_generator() takes no arguments, got {_misused!r}: "
            "write @async_generator() with parentheses"
        )

    def decorate(
        fn: Callable[P, Generator[Any, Any, Any]],
    ) -> Callable[P, AsyncGeneratorIterator[Any]]:
        # Under @staticmethod/@classmethod (1.x style) fn is, at run time, the
        # method object (checkers see the function): wrap its function, and
        # the result in the same kind of method object.
        target: Any = fn
        method_type: Any = type(target) if isinstance(target, (staticmethod, classmethod)) else None
        raw: Any = target if method_type is None else target.__func__
        # A plain function returning a generator will do, as in asynq 1.x
        # (e.g. one checking its arguments at once): what a call returns is
        # checked when it is made, where 1.x fails.
        is_generator_function = inspect.isgeneratorfunction(raw)

        @wraps(raw)
        def start(*args: P.args, **kwargs: P.kwargs) -> AsyncGeneratorIterator[Any]:
            generator = raw(*args, **kwargs)
            if not is_generator_function and not isinstance(generator, Generator):
                raise TypeError(
                    f"@async_generator() needs a generator function (one that yields "
                    f"futures and Value(x) items), but {callable_name(raw)} returned "
                    f"{generator!r}, not a generator"
                )
            return AsyncGeneratorIterator(generator, raw, args, kwargs)

        return start if method_type is None else method_type(start)

    return decorate


_EXHAUSTED: Any = object()


def _next_future(function: str, steps: Iterator[Any]) -> Any:
    """The next step's future of ``steps``, or ``_EXHAUSTED``."""
    try:
        future = next(steps)
    except StopIteration:
        return _EXHAUSTED
    # What a task may yield: asynq 1.x yields each step as it is (the
    # scheduler checks what a list, tuple or dict holds).
    if future is not None and not isinstance(future, (FutureBase, list, tuple, dict)):
        raise TypeError(
            f"{function}(): the generator produced {future!r}, not a future; pass the "
            "iterator that an @async_generator() function returns"
        )
    return future


def _iterate(function: str, generator: Iterable[Any]) -> Iterator[Any]:
    try:
        return iter(generator)
    except TypeError:
        raise TypeError(
            f"{function}() takes the iterator an @async_generator() function returns, "
            f"got {generator!r}"
        ) from None


@asynq()
def list_of_generator(generator: Iterable[FutureBase[Any]]) -> Generator[Any, Any, list[Any]]:
    """All the items of an async generator, in order (its steps run one by one)."""
    steps = _iterate("list_of_generator", generator)
    values: list[Any] = []
    while True:
        future = _next_future("list_of_generator", steps)
        if future is _EXHAUSTED:
            return values
        value = yield future
        if value is END_OF_GENERATOR:
            continue
        values.append(value)


@asynq()
def take_first(generator: Iterable[FutureBase[Any]], n: int) -> Generator[Any, Any, list[Any]]:
    """The first ``n`` items of an async generator (fewer if it ends first).

    Runs no step beyond the one producing the n-th item, so the iterator can
    be consumed further afterwards. As in asynq 1.x, ``n`` may be any number:
    one that is negative or not whole sets no limit (1.x never reaches it).
    """
    is_number, limit = _limit(n)
    steps = _iterate("take_first", generator)
    values: list[Any] = []
    while limit is None or len(values) < limit:
        future = _next_future("take_first", steps)
        if future is _EXHAUSTED:
            break
        value = yield future
        if value is END_OF_GENERATOR:
            continue
        if not is_number:  # asynq 1.x fails here, at the first item
            raise TypeError(f"take_first(): n must be an int, got {n!r}")
        values.append(value)
    return values


def _limit(n: Any) -> tuple[bool, int | None]:
    """Whether ``n`` is a number, and how many items ``take_first`` takes for
    it (None: all of them)."""
    try:
        whole = operator.index(n)  # an int, a bool, an IntEnum, a numpy int...
    except TypeError:
        if not isinstance(n, (numbers.Real, decimal.Decimal)):
            return False, None
        try:
            whole = int(n)  # type: ignore[arg-type]  # (a Real converts: __trunc__)
        except (ValueError, OverflowError):  # nan, inf: never reached
            return True, None
        if whole != n:
            return True, None
    return True, (whole if whole >= 0 else None)
