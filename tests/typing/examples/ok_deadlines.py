"""Deadlines keep the types of the calls they bound."""

import asyncio
from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

from asynq_batching import batched
from asynq_batching.stores import BatchedStore
from asynq_core import Deadline, DeadlineExceededError, asynq, deadline, run, run_async
from asynq_core.lowlevel import remaining_time


@asynq()
def double(value: int) -> Generator[Any, Any, int]:
    yield None
    return value * 2


@batched(max_size=10, concurrent=True, max_concurrency=4)
def lengths(words: list[str]) -> dict[str, int]:
    return {word: len(word) for word in words}


with deadline(0.5) as bound:
    assert_type(bound, Deadline)
    assert_type(double(2), int)
    assert_type(lengths("pear"), int)
    left = remaining_time()
    assert_type(left, float | None)
    seconds: float = bound.remaining()

assert_type(run(double.asynq(2), deadline=0.5), int)
assert_type(run(lengths.asynq("fig")), int)


async def main() -> int:
    async with deadline(1):
        from_call = await double.asyncio(3)
    from_coroutine = await run_async(double.asyncio(4), deadline=0.5)
    from_future = await run_async(double.asynq(5))
    assert_type(from_coroutine, int)
    assert_type(from_future, int)
    return from_call + from_coroutine + from_future


assert asyncio.run(main()) == 24

error = DeadlineExceededError("deadline(1) passed", batch="Users.get", round=2, seconds=1.0)
timeout: TimeoutError = error
assert_type(error.batch, str | None)
assert_type(error.round, int)


def limit_of(store: BatchedStore) -> int | None:
    return store.max_concurrency
