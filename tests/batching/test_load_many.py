"""loader.load_many: many keys at once, each with its value or its exception.

One failed key (missing, or in a batch whose bulk function raised) fails no
other; the outcomes come back in the order of the keys, in asynq code
(``yield loader.load_many.asynq(keys)``), synchronously and under asyncio.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asynq_batching import LoadMany, MissingKeyError, batched
from asynq_core import asynq
from asynq_core.decorators import async_call, has_async_fn

USERS = {1: "ann", 2: "bob", 3: "cat"}


def users_loader(**options: Any) -> tuple[Any, list[list[int]]]:
    calls: list[list[int]] = []

    @batched(**options)
    def user_names(uids: list[int]) -> dict[int, str]:
        calls.append(list(uids))
        return {uid: USERS[uid] for uid in uids if uid in USERS}

    return user_names, calls


def assert_missing(outcome: Any, key: Any) -> None:
    assert isinstance(outcome, MissingKeyError), outcome
    assert outcome.key == key and "user_names" in str(outcome)


def test_each_key_gets_its_value_or_its_exception_in_order() -> None:
    user_names, calls = users_loader()
    outcomes = user_names.load_many([2, 99, 1, 2])
    assert outcomes[0] == "bob" and outcomes[2] == "ann" and outcomes[3] == "bob"
    assert_missing(outcomes[1], 99)
    assert calls == [[2, 99, 1]]


def test_in_a_task_it_joins_the_round_of_the_other_loads() -> None:
    user_names, calls = users_loader()

    @asynq()
    def main() -> Any:
        single, many = yield user_names.asynq(3), user_names.load_many.asynq([1, 98])
        return single, many

    single, (first, missing) = main()
    assert (single, first) == ("cat", "ann")
    assert_missing(missing, 98)
    assert calls == [[3, 1, 98]]


def test_a_failing_batch_fails_only_its_own_keys() -> None:
    calls: list[list[int]] = []

    @batched(max_size=2)
    def flaky(keys: list[int]) -> list[int]:
        calls.append(list(keys))
        if 3 in keys:
            raise ConnectionError("shard of 3 is down")
        return [key * 10 for key in keys]

    outcomes = flaky.load_many([1, 2, 3, 4, 5])
    assert outcomes[:2] == [10, 20] and outcomes[4] == 50
    assert isinstance(outcomes[2], ConnectionError) and outcomes[2] is outcomes[3]
    assert calls == [[1, 2], [3, 4], [5]]


def test_other_tasks_of_the_round_still_finish() -> None:
    user_names, _ = users_loader()

    @batched()
    def broken(keys: list[int]) -> list[int]:
        raise RuntimeError("no")

    @asynq()
    def main() -> Any:
        return (yield broken.load_many.asynq([1, 2]), user_names.asynq(1))

    (first, second), name = main()
    assert isinstance(first, RuntimeError) and first is second
    assert name == "ann"


def test_under_asyncio_in_a_running_loop_and_without_one() -> None:
    user_names, calls = users_loader()

    async def main() -> Any:
        return await asyncio.gather(user_names.load_many.asyncio([1, 97]), user_names.asyncio(2))

    (found, missing), name = asyncio.run(main())
    assert (found, name) == ("ann", "bob")
    assert_missing(missing, 97)
    assert calls == [[1, 97, 2]]
    first, second = asyncio.run(user_names.load_many.asyncio([3, 96]))
    assert first == "cat"
    assert_missing(second, 96)


def test_an_async_bulk_function_that_raises() -> None:
    @batched()
    async def remote(keys: list[int]) -> list[int]:
        raise TimeoutError("slow")

    async def main() -> Any:
        return await remote.load_many.asyncio([1, 2])

    first, second = asyncio.run(main())
    assert isinstance(first, TimeoutError) and first is second


def test_the_cache_serves_keys_already_loaded() -> None:
    user_names, calls = users_loader(cache=True)

    @asynq()
    def run() -> Any:
        yield user_names.asynq(1)
        return (yield user_names.load_many.asynq([1, 2, 95]))

    first, second, missing = run()
    assert (first, second) == ("ann", "bob")
    assert_missing(missing, 95)
    assert calls == [[1], [2, 95]]


def test_a_key_that_cannot_be_asked_for_fails_the_call_before_any_is_asked() -> None:
    user_names, calls = users_loader()
    with pytest.raises(TypeError, match=r"user_names: keys must be hashable, got \[2\]"):
        user_names.load_many([1, [2]])
    with pytest.raises(TypeError, match=r"user_names: keys must be hashable"):
        asyncio.run(user_names.load_many.asyncio([1, [2]]))  # type: ignore[arg-type]

    @batched(key_fn=lambda key: key["id"])
    def by_id(keys: list[dict[str, int]]) -> list[int]:
        calls.append([key["id"] for key in keys])
        return [key["id"] for key in keys]

    with pytest.raises(TypeError, match=r"key_fn .*<lambda> failed on the key \{\}"):
        by_id.load_many([{"id": 1}, {}])
    assert calls == []
    assert by_id.load_many([{"id": 1}, {"id": 1}]) == [1, 1]


def test_keys_must_be_an_iterable_that_is_not_text() -> None:
    user_names, _ = users_loader()
    with pytest.raises(TypeError, match=r"load_many\(\) takes an iterable of keys, got 'abc'"):
        user_names.load_many("abc")
    with pytest.raises(TypeError, match=r"load_many\(\) takes an iterable of keys, got 5"):
        user_names.load_many.asynq(5)  # type: ignore[arg-type]
    assert user_names.load_many([]) == []
    assert user_names.load_many(iter([1])) == ["ann"]


class Stop(BaseException):
    """Not an Exception: must not be given back as an outcome."""


def test_an_error_that_is_not_an_exception_still_propagates() -> None:
    @batched()
    def stopping(keys: list[int]) -> list[int]:
        raise Stop()

    with pytest.raises(Stop):
        stopping.load_many([1])


def test_on_a_method_loader() -> None:
    class Shard:
        @batched()
        def names(self, uids: list[int]) -> dict[int, str]:
            return {uid: USERS[uid] for uid in uids if uid in USERS}

    shard = Shard()
    first, missing = shard.names.load_many([1, 50])
    assert first == "ann" and isinstance(missing, MissingKeyError)
    assert asyncio.run(shard.names.load_many.asyncio([2])) == ["bob"]
    with pytest.raises(TypeError, match="method loader: call load_many on an instance"):
        Shard.__dict__["names"].load_many


def test_a_synchronous_call_in_asyncio_mode_is_refused() -> None:
    user_names, _ = users_loader()

    @asynq()
    def blocking() -> Any:
        yield None
        return user_names.load_many([1])

    with pytest.raises(RuntimeError, match="synchronous call"):
        asyncio.run(blocking.asyncio())


def test_load_many_is_an_async_function_for_asynq_helpers() -> None:
    user_names, _ = users_loader()
    assert isinstance(user_names.load_many, LoadMany)
    assert has_async_fn(user_names.load_many)
    assert async_call(user_names.load_many, [1]) == ["ann"]
    assert "user_names.load_many" in repr(user_names.load_many)
