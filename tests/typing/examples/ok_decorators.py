"""Types through @asynq(), @asynq(pure=True) and @async_proxy() on plain functions.

Checked by mypy --strict and pyright (strict) in tests/typing/test_typing.py,
which also runs this file, so every line here is also true at run time.
A ``# revealed:`` comment (on the line of a reveal_type, or on its own line
above it) is what both checkers must say of it, module prefixes dropped;
``# revealed-mypy:`` / ``# revealed-pyright:`` where they spell it differently.
"""

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

from typing_extensions import assert_type, reveal_type

from asynq_core import AsyncTask, ConstFuture, FutureBase, async_proxy, asynq


# The preferred spelling: the checkers accept the body, and `return` is checked.
@asynq()
def get_name(uid: int) -> Generator[Any, Any, str]:
    yield None
    return f"user{uid}"


# A plain function: its return value is the result.
@asynq()
def double(x: int) -> int:
    return 2 * x


@asynq()
def greeting(uid: int, *, polite: bool = False) -> Generator[Any, Any, str]:
    name = yield get_name.asynq(uid)
    doubled = yield double.asynq(uid)
    return f"{'Dear ' if polite else ''}{name} ({doubled})"


@asynq(pure=True)
def pure_name(uid: int) -> Generator[Any, Any, str]:
    name = yield get_name.asynq(uid)
    return str(name).upper()


@async_proxy()
def name_proxy(uid: int) -> FutureBase[str]:
    return ConstFuture(f"proxy{uid}")


@async_proxy(pure=True)
def raw_proxy(uid: int) -> ConstFuture[str]:
    return ConstFuture(str(uid))


assert_type(get_name(1), str)
assert_type(get_name.asynq(1), AsyncTask[str])
coroutine = assert_type(get_name.asyncio(1), Coroutine[Any, Any, str])
assert_type(double(2), int)
assert_type(double.asynq(2), AsyncTask[int])
assert_type(greeting(3, polite=True), str)
assert_type(pure_name(4), AsyncTask[str])
assert_type(name_proxy(5), str)
assert_type(name_proxy.asynq(5), FutureBase[str])
assert_type(raw_proxy(6), ConstFuture[str])

# revealed-mypy: AsyncDecorator[[uid: int], str]
# revealed-pyright: AsyncDecorator[(uid: int), str]
reveal_type(get_name)
reveal_type(get_name.asynq(1))  # revealed: AsyncTask[str]
reveal_type(pure_name(1).value())  # revealed: str

assert get_name(1) == "user1"
assert get_name.asynq(2).value() == "user2"
assert greeting(3, polite=True) == "Dear user3 (6)"
assert pure_name(4).value() == "USER4"
assert name_proxy(5) == "proxy5"
assert asyncio.run(coroutine) == "user1"
