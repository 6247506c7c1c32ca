"""Async generators keep their parameters; their items are Any (a generator
yields futures to wait on and Value(x) items alike)."""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type, reveal_type

from asynq_core import ConstFuture
from asynq_generator import (
    AsyncGeneratorIterator,
    Value,
    async_generator,
    list_of_generator,
    take_first,
)


@async_generator()
def squares(limit: int) -> Generator[Any, Any, None]:
    for n in range(limit):
        root = yield ConstFuture(n)
        yield Value(root * root)


steps = squares(4)
assert_type(steps, AsyncGeneratorIterator[Any])
# A step (a task, or a ConstFuture of a Value yielded at once) gives an item or
# END_OF_GENERATOR.
reveal_type(next(steps))  # revealed: FutureBase[Any | _EndOfGenerator]
assert_type(list_of_generator(squares(3)), list[Any])
assert_type(take_first(squares(5), 2), list[Any])

assert list_of_generator(squares(3)) == [0, 1, 4]
assert take_first(squares(5), 2) == [0, 1]
