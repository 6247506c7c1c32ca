"""@batched(): a bulk function becomes a batched async function.

Each test's bulk functions log the keys of every call, so that the tests can
see how many calls a round made and with which keys.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from asynq_batching import BatchedLoader, BatchingError, BoundLoader, MissingKeyError, batched
from asynq_core import asynq
from asynq_core.decorators import async_call, get_async_fn, has_async_fn
from asynq_core.futures import FutureBase

USERS = {1: "ann", 2: "bob", 3: "cat", 4: "dan", 5: "eve"}


def users_loader(**options: Any) -> tuple[Any, list[list[int]]]:
    calls: list[list[int]] = []

    @batched(**options)
    def user_names(uids: list[int]) -> dict[int, str]:
        calls.append(list(uids))
        return {uid: USERS[uid] for uid in uids if uid in USERS}

    return user_names, calls


@asynq()
def gather(loader: Any, keys: list[Any]) -> Any:
    return (yield [loader.asynq(key) for key in keys])


@asynq()
def outcome(future_fn: Any, key: Any) -> Any:
    """("ok", value) or ("error", the exception) of one request."""
    try:
        return ("ok", (yield future_fn.asynq(key)))
    except Exception as error:
        return ("error", error)


# -- one call per round ----------------------------------------------------------


def test_the_keys_of_one_round_reach_the_bulk_function_in_one_call() -> None:
    user_names, calls = users_loader()
    assert gather(user_names, [3, 1, 2]) == ["cat", "ann", "bob"]
    assert calls == [[3, 1, 2]]


def test_keys_are_deduplicated_within_a_batch() -> None:
    user_names, calls = users_loader()
    assert gather(user_names, [2, 1, 2, 2, 1]) == ["bob", "ann", "bob", "bob", "ann"]
    assert calls == [[2, 1]]


def test_each_round_is_one_call() -> None:
    user_names, calls = users_loader()

    @asynq()
    def two_rounds() -> Any:
        first = yield [user_names.asynq(1), user_names.asynq(2)]
        second = yield [user_names.asynq(3), user_names.asynq(1)]
        return first + second

    assert two_rounds() == ["ann", "bob", "cat", "ann"]
    # No cache by default: key 1 is asked again in the second round.
    assert calls == [[1, 2], [3, 1]]


def test_a_list_result_is_aligned_with_the_keys() -> None:
    calls: list[list[int]] = []

    @batched()
    def squares(numbers: list[int]) -> list[int]:
        calls.append(list(numbers))
        return [number * number for number in numbers]

    assert gather(squares, [3, 4, 3]) == [9, 16, 9]
    assert calls == [[3, 4]]


def test_the_synchronous_call_and_asynq_return_the_value() -> None:
    user_names, calls = users_loader()
    assert user_names(2) == "bob"
    future = user_names.asynq(4)
    assert isinstance(future, FutureBase)
    assert future.value() == "dan"
    assert calls == [[2], [4]]


def test_the_asyncio_call_returns_the_value() -> None:
    user_names, calls = users_loader()
    assert asyncio.run(user_names.asyncio(5)) == "eve"
    assert calls == [[5]]


def test_a_loader_is_an_async_function_for_asynq_helpers() -> None:
    user_names, _ = users_loader()
    assert isinstance(user_names, BatchedLoader)
    assert has_async_fn(user_names)
    assert get_async_fn(user_names) == user_names.asynq
    assert async_call(user_names, 1) == "ann"
    assert user_names.__name__ == "user_names"
    assert "user_names" in repr(user_names)


# -- missing keys and bad results --------------------------------------------------


def test_a_missing_key_is_a_key_error_naming_the_loader_and_the_key() -> None:
    user_names, calls = users_loader()

    @asynq()
    def both() -> Any:
        return (yield [outcome.asynq(user_names, 1), outcome.asynq(user_names, 99)])

    found, missing = both()
    assert found == ("ok", "ann")
    kind, error = missing
    assert kind == "error"
    assert isinstance(error, MissingKeyError) and isinstance(error, KeyError)
    assert error.key == 99
    assert "user_names" in str(error) and "99" in str(error)
    assert calls == [[1, 99]]
    with pytest.raises(MissingKeyError, match=r"user_names.*99"):
        user_names(99)


def test_missing_default_gives_the_default() -> None:
    user_names, _ = users_loader(missing="default", default="nobody")
    assert gather(user_names, [1, 99]) == ["ann", "nobody"]
    implied, _ = users_loader(default="?")
    assert implied(99) == "?"
    none_default, _ = users_loader(missing="default")
    assert none_default(99) is None


def test_a_list_of_the_wrong_length_fails_that_batch_only() -> None:
    @batched()
    def too_short(keys: list[int]) -> list[int]:
        return keys[:-1]

    user_names, _ = users_loader()

    @asynq()
    def round_of_both() -> Any:
        return (
            yield [
                outcome.asynq(too_short, 1),
                outcome.asynq(too_short, 2),
                outcome.asynq(user_names, 3),
            ]
        )

    first, second, other = round_of_both()
    for kind, error in (first, second):
        assert kind == "error" and isinstance(error, ValueError)
        assert "too_short" in str(error) and "1 values for 2 keys" in str(error)
    assert other == ("ok", "cat")


def test_a_result_that_is_neither_a_dict_nor_a_list_is_a_type_error() -> None:
    @batched()
    def text(keys: list[int]) -> Any:
        return "not a dict"

    with pytest.raises(TypeError, match="text returned 'not a dict' of type str"):
        text(1)


def test_an_exception_of_the_bulk_function_fails_only_its_batch() -> None:
    attempts: list[list[int]] = []

    @batched()
    def flaky(keys: list[int]) -> dict[int, int]:
        attempts.append(list(keys))
        if len(attempts) == 1:
            raise ConnectionError("store down")
        return {key: key for key in keys}

    user_names, _ = users_loader()

    @asynq()
    def round_of_both() -> Any:
        return (
            yield [
                outcome.asynq(flaky, 1),
                outcome.asynq(user_names, 2),
                outcome.asynq(flaky, 3),
            ]
        )

    first, other, third = round_of_both()
    assert first[0] == third[0] == "error"
    assert isinstance(first[1], ConnectionError) and first[1] is third[1]
    assert other == ("ok", "bob")
    # The next batch is a new one and succeeds.
    assert gather(flaky, [1, 3]) == [1, 3]
    assert attempts == [[1, 3], [1, 3]]


def test_an_unhashable_key_is_refused_when_asked() -> None:
    user_names, calls = users_loader()
    with pytest.raises(TypeError, match=r"user_names: keys must be hashable, got \[1\]"):
        user_names.asynq([1])
    assert calls == []


# -- max_size --------------------------------------------------------------------


def test_max_size_splits_a_round_into_calls_made_in_the_same_flush() -> None:
    user_names, calls = users_loader(max_size=2)
    events: list[str] = []

    @asynq()
    def one(uid: int) -> Any:
        name = yield user_names.asynq(uid)
        events.append(f"{uid} resumed after {len(calls)} calls")
        return name

    @asynq()
    def root() -> Any:
        return (yield [one.asynq(uid) for uid in [1, 2, 3, 1, 4, 5]])

    assert root() == ["ann", "bob", "cat", "ann", "dan", "eve"]
    # Key 1, asked again after its piece was full, is not sent twice.
    assert calls == [[1, 2], [3, 4], [5]]
    assert all(event.endswith("after 3 calls") for event in events)


# -- methods -------------------------------------------------------------------------


class Shard:
    """Users of one shard: a method loader, a batch per instance."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[list[int]] = []

    @batched()
    def user_names(self, uids: list[int]) -> dict[int, str]:
        self.calls.append(list(uids))
        return {uid: f"{USERS[uid]}@{self.name}" for uid in uids}

    @batched()
    @classmethod
    def kind(cls, keys: list[int]) -> list[str]:
        return [f"{cls.__name__}:{key}" for key in keys]

    @batched()
    @staticmethod
    def double(keys: list[int]) -> list[int]:
        return [key * 2 for key in keys]


def test_a_method_loader_batches_per_instance() -> None:
    east, west = Shard("east"), Shard("west")

    @asynq()
    def root() -> Any:
        return (
            yield [
                east.user_names.asynq(1),
                west.user_names.asynq(1),
                east.user_names.asynq(2),
            ]
        )

    assert root() == ["ann@east", "ann@west", "bob@east"]
    assert east.calls == [[1, 2]] and west.calls == [[1]]
    assert east.user_names(3) == "cat@east"
    assert asyncio.run(west.user_names.asyncio(4)) == "dan@west"
    assert isinstance(east.user_names, BoundLoader)
    assert east.user_names == east.user_names and east.user_names != west.user_names


def test_classmethod_and_staticmethod_loaders() -> None:
    assert gather(Shard.kind, [1, 2]) == ["Shard:1", "Shard:2"]
    assert Shard("x").kind(3) == "Shard:3"
    assert gather(Shard.double, [1, 2]) == [2, 4]
    assert Shard("x").double(5) == 10


def test_a_method_loader_called_on_the_function_is_a_clear_error() -> None:
    loader = Shard.__dict__["user_names"]
    with pytest.raises(TypeError, match="method loader"):
        loader.asynq(1)


def test_a_method_loader_does_not_keep_its_instance_alive() -> None:
    shard = Shard("gone")
    assert shard.user_names(1) == "ann@gone"
    collected = weakref.ref(shard)
    del shard
    gc.collect()
    assert collected() is None


def test_an_instance_without_weak_references_is_a_clear_error() -> None:
    class Slotted:
        __slots__ = ()

        @batched()
        def values(self, keys: list[int]) -> list[int]:
            return keys

    with pytest.raises(TypeError, match="__weakref__"):
        Slotted().values.asynq(1)


# -- the cache -----------------------------------------------------------------------


def test_the_cache_keeps_values_for_the_rest_of_the_run() -> None:
    user_names, calls = users_loader(cache=True)

    @asynq()
    def run() -> Any:
        first = yield [user_names.asynq(1), user_names.asynq(2)]
        again = yield [user_names.asynq(2), user_names.asynq(3)]
        return first + again

    assert run() == ["ann", "bob", "bob", "cat"]
    assert calls == [[1, 2], [3]]
    # A new outermost call is a new run: nothing is reused from the last one.
    assert run() == ["ann", "bob", "bob", "cat"]
    assert calls == [[1, 2], [3], [1, 2], [3]]


def test_a_nested_synchronous_call_is_part_of_the_same_run() -> None:
    user_names, calls = users_loader(cache=True)

    @asynq()
    def inner() -> Any:
        return (yield user_names.asynq(1))

    @asynq()
    def outer() -> Any:
        first = yield user_names.asynq(1)
        return first, inner()

    assert outer() == ("ann", "ann")
    assert calls == [[1]]


def test_prime_and_clear() -> None:
    user_names, calls = users_loader(cache=True)

    @asynq()
    def run() -> Any:
        user_names.prime(1, "primed")
        primed = yield user_names.asynq(1)
        user_names.clear(1)
        fetched = yield user_names.asynq(1)
        other = yield user_names.asynq(2)
        user_names.clear()
        refetched = yield [user_names.asynq(1), user_names.asynq(2)]
        return primed, fetched, other, refetched

    assert run() == ("primed", "ann", "bob", ["ann", "bob"])
    assert calls == [[1], [2], [1, 2]]


def test_failed_loads_are_not_cached() -> None:
    attempts: list[list[int]] = []

    @batched(cache=True)
    def flaky(keys: list[int]) -> dict[int, int]:
        attempts.append(list(keys))
        if len(attempts) == 1:
            raise ConnectionError("store down")
        return {key: key * 10 for key in keys}

    @asynq()
    def run() -> Any:
        first = yield outcome.asynq(flaky, 1)
        second = yield flaky.asynq(1)
        return first[0], second

    assert run() == ("error", 10)
    assert attempts == [[1], [1]]


def test_cache_calls_outside_a_run_or_without_a_cache_are_clear_errors() -> None:
    cached, _ = users_loader(cache=True)
    with pytest.raises(BatchingError, match=r"prime\(\) outside a scheduler run"):
        cached.prime(1, "x")
    with pytest.raises(BatchingError, match=r"clear\(\) outside a scheduler run"):
        cached.clear(1)
    uncached, _ = users_loader()
    with pytest.raises(BatchingError, match=r"cache=True"):
        uncached.prime(1, "x")
    with pytest.raises(BatchingError, match=r"cache=True"):
        uncached.clear()


def test_each_asyncio_run_has_its_own_cache() -> None:
    user_names, calls = users_loader(cache=True)

    @asynq()
    def request(prime: bool) -> Any:
        if prime:
            user_names.prime(1, "primed")
        first = yield user_names.asynq(1)
        second = yield user_names.asynq(1)
        return first, second

    async def main() -> Any:
        return await asyncio.gather(request.asyncio(True), request.asyncio(False))

    assert asyncio.run(main()) == [("primed", "primed"), ("ann", "ann")]
    # Only the request that did not prime fetched key 1, once.
    assert calls == [[1]]


# -- misuse ----------------------------------------------------------------------------


def test_decorator_misuse_is_a_clear_error() -> None:
    def bulk(keys: list[int]) -> list[int]:
        return keys

    with pytest.raises(TypeError, match="with parentheses"):
        batched(bulk)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size=0"):
        batched(max_size=0)
    with pytest.raises(ValueError, match="max_size=True"):
        batched(max_size=True)
    with pytest.raises(ValueError, match="missing='maybe'"):
        batched(missing="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="default is used only with missing='default'"):
        batched(missing="error", default=0)
    with pytest.raises(
        TypeError, match=r"batched\(cache='no'\): cache must be True, False or a mutable mapping"
    ):
        batched(cache="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"batched\(concurrent=1\): concurrent must be True"):
        batched(concurrent=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"batched\(fetch_in_thread=None\): fetch_in_thread"):
        batched(fetch_in_thread=None)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"batched\(concurrent=True, fetch_in_thread=False\): a concurrent"
    ):
        batched(concurrent=True, fetch_in_thread=False)

    def three(a: Any, b: Any, c: Any) -> Any:
        return None

    with pytest.raises(TypeError, match=r"three.*\(a: 'Any', b: 'Any', c: 'Any'\)"):
        batched()(three)
    with pytest.raises(TypeError, match="already an asynq function"):
        batched()(gather)


def test_an_async_bulk_function_is_refused_in_a_synchronous_flush() -> None:
    @batched()
    async def remote(keys: list[int]) -> list[int]:
        return keys

    with pytest.raises(RuntimeError, match=r"remote has an async bulk function.*asyncio"):
        remote(1)
    assert asyncio.run(remote.asyncio(1)) == 1


def test_a_bulk_function_returning_an_awaitable_is_a_clear_error() -> None:
    async def fetch(keys: list[int]) -> list[int]:
        return keys

    @batched()
    def sneaky(keys: list[int]) -> Any:
        return fetch(keys)

    with pytest.raises(TypeError, match="sneaky returned an awaitable"):
        sneaky(1)


def test_a_synchronous_call_in_asyncio_mode_is_refused() -> None:
    user_names, _ = users_loader()

    @asynq()
    def blocking() -> Any:
        yield None
        return user_names(1)

    with pytest.raises(RuntimeError, match="synchronous call"):
        asyncio.run(blocking.asyncio())
