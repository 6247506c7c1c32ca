"""Misused decorator factories are errors where they are applied."""

from collections.abc import Generator
from typing import Any

from asynq_core import ConstFuture, async_proxy, asynq


# Extra keyword arguments go to the task class, which only pure=True takes.
@asynq(priority=1)  # error: mypy[call-overload] pyright[reportCallIssue]
def with_extras(uid: int) -> Generator[Any, Any, str]:
    yield None
    return str(uid)


# @async_proxy() is for functions that return a future.
@async_proxy()  # error: mypy[arg-type] pyright[reportArgumentType]
def not_a_proxy(uid: int) -> str:
    return str(uid)


@async_proxy()
def a_proxy(uid: int) -> ConstFuture[str]:
    return ConstFuture(str(uid))
