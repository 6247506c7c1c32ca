"""Futures and tasks are generic in their value type."""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

from asynq_core import (
    AsyncTask,
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    asynq,
    lazy,
    none_future,
)


def first(future: FutureBase[int]) -> int:
    return future.value() + 1


def describe(future: FutureBase[object]) -> str:
    return repr(future.value())


const = ConstFuture(41)
assert_type(const, ConstFuture[int])
assert_type(const.value(), int)
assert_type(const(), int)
assert_type(first(const), int)

computed = Future(lambda: "late")
assert_type(computed, Future[str])
assert_type(computed.value(), str)

failed = ErrorFuture(KeyError("missing"))
assert_type(failed.error(), BaseException | None)
assert_type(none_future.value(), None)


@asynq()
def total(values: list[int]) -> Generator[Any, Any, int]:
    yield None
    return sum(values)


task = total.asynq([1, 2, 3])
assert_type(task, AsyncTask[int])
# A task is a future of its value, accepted where one is expected.
assert_type(first(task), int)
assert_type(describe(task), str)  # futures are covariant


def label(n: int) -> str:
    return f"#{n}"


make_label = lazy(label)
assert_type(make_label(3), Future[str])

assert first(const) == 42
assert computed.value() == "late"
assert isinstance(failed.error(), KeyError)
assert first(task) == 7
assert describe(task) == "6"
assert make_label(3).value() == "#3"
