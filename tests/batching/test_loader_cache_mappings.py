"""@batched(cache=<mapping>): a cache the caller owns (a dict, cachetools'
LRUCache or TTLCache), shared by every run, request and thread.

The mapping holds values; an evicted or expired key is fetched again; prime,
prime_many, clear and clear_all act on it anywhere; a prime or clear made
while a fetch is in flight is not undone when that fetch delivers.
"""

from __future__ import annotations

import asyncio
import threading
import types
from typing import Any

import pytest
from cachetools import LRUCache, TTLCache

from asynq_batching import BatchingError, MissingKeyError, batched
from asynq_core import asynq
from asynq_core.asynq_to_async import request

SQUARES_OF = range(100)


class Clock:
    """A timer for TTLCache that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def squares_loader(cache: Any, **options: Any) -> tuple[Any, list[list[int]]]:
    calls: list[list[int]] = []

    @batched(cache=cache, **options)
    def squares(numbers: list[int]) -> dict[int, int]:
        calls.append(list(numbers))
        return {number: number * number for number in numbers if number in SQUARES_OF}

    return squares, calls


@asynq()
def gather(loader: Any, keys: list[Any]) -> Any:
    return (yield [loader.asynq(key) for key in keys])


def test_a_mapping_keeps_values_across_runs() -> None:
    cache: dict[int, int] = {}
    squares, calls = squares_loader(cache)
    assert gather(squares, [2, 3, 2]) == [4, 9, 4]
    assert cache == {2: 4, 3: 9}  # values, not futures
    assert gather(squares, [3, 4]) == [9, 16]  # a later run: 3 comes from the mapping
    assert squares(2) == 4
    assert calls == [[2, 3], [4]]


def test_an_empty_mapping_is_a_cache_too() -> None:
    squares, calls = squares_loader({})
    assert squares(5) == 25 and squares(5) == 25
    assert calls == [[5]]


def test_an_lru_cache_fetches_again_what_it_evicted() -> None:
    cache: LRUCache[int, int] = LRUCache(maxsize=2)
    squares, calls = squares_loader(cache)
    assert gather(squares, [1, 2]) == [1, 4]
    assert squares(1) == 1  # 1 is now the most recently used
    assert squares(3) == 9  # evicts 2
    assert sorted(cache) == [1, 3]
    assert squares(2) == 4
    assert calls == [[1, 2], [3], [2]]


def test_an_expired_value_is_fetched_again_in_the_next_round() -> None:
    clock = Clock()
    cache: TTLCache[int, int] = TTLCache(maxsize=100, ttl=10, timer=clock)
    squares, calls = squares_loader(cache)
    observed: list[int] = []

    @asynq()
    def one_run() -> Any:
        observed.append((yield squares.asynq(4)))
        clock.now = 9.9  # still fresh: served from the cache
        observed.append((yield squares.asynq(4)))
        clock.now = 10.0  # expired: never served again, fetched in the next round
        observed.append((yield squares.asynq(4)))
        observed.append((yield squares.asynq(4)))  # the new value, cached at 10.0

    one_run()
    assert observed == [16, 16, 16, 16]
    assert calls == [[4], [4]]
    clock.now = 25.0
    assert squares(4) == 16
    assert calls == [[4], [4], [4]]


def test_a_mapping_is_shared_by_requests() -> None:
    cache: dict[int, int] = {}
    squares, calls = squares_loader(cache)

    async def handle(number: int) -> Any:
        async with request():
            return await squares.asyncio(number)

    async def main() -> Any:
        first = await asyncio.gather(handle(3), handle(3))
        later = await handle(3)
        return first, later

    assert asyncio.run(main()) == ([9, 9], 9)
    assert calls == [[3]]  # one flush for both requests, then the mapping


def test_prime_clear_and_their_many_forms_act_on_the_mapping_anywhere() -> None:
    cache: dict[int, int] = {}
    squares, calls = squares_loader(cache)
    squares.prime(2, -4)  # no run needed: the mapping is the caller's
    squares.prime_many({3: -9, 4: -16})
    squares.prime_many([(5, -25)])
    assert cache == {2: -4, 3: -9, 4: -16, 5: -25}
    assert gather(squares, [2, 3, 5]) == [-4, -9, -25]
    squares.clear(3)
    assert squares(3) == 9
    squares.clear_all()
    assert cache == {}
    assert squares(2) == 4
    assert calls == [[3], [2]]


def test_prime_many_checks_every_key_before_priming_any() -> None:
    cache: dict[Any, int] = {}
    squares, _ = squares_loader(cache)
    with pytest.raises(TypeError, match=r"squares: keys must be hashable, got \[3\]"):
        squares.prime_many([(1, 1), ([3], 9)])
    assert cache == {}
    with pytest.raises(TypeError, match=r"prime_many\(\) takes \(key, value\) pairs, got 7"):
        squares.prime_many([7])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"prime_many\(\) takes a mapping of keys to values"):
        squares.prime_many(5)  # type: ignore[arg-type]


def test_failures_and_missing_keys_are_not_cached_defaults_are() -> None:
    attempts: list[list[int]] = []

    @batched(cache={})
    def flaky(keys: list[int]) -> dict[int, int]:
        attempts.append(list(keys))
        if len(attempts) == 1:
            raise ConnectionError("store down")
        return {key: key for key in keys if key != 0}

    with pytest.raises(ConnectionError):
        flaky(1)
    assert flaky(1) == 1
    with pytest.raises(MissingKeyError):
        flaky(0)
    with pytest.raises(MissingKeyError):
        flaky(0)
    assert flaky.cache == {1: 1}
    assert attempts == [[1], [1], [0], [0]]

    defaults, calls = squares_loader({}, default=None)
    assert defaults(-1) is None and defaults(-1) is None
    assert calls == [[-1]]


def test_a_prime_or_clear_during_a_fetch_is_not_undone_by_it() -> None:
    cache: dict[int, str] = {}
    calls: list[list[int]] = []

    @batched(cache=cache)
    def versions(keys: list[int]) -> dict[int, str]:
        calls.append(list(keys))
        if len(calls) == 1:
            # Another writer updates 1 and primes 2 while this fetch is out.
            versions.clear(1)
            versions.prime(2, "new")
        return {key: "old" for key in keys}

    assert gather(versions, [1, 2, 3]) == ["old", "old", "old"]
    # The fetch's values for 1 and 2 predate the writer's: not cached.
    assert cache == {2: "new", 3: "old"}
    assert versions(1) == "old" and calls == [[1, 2, 3], [1]]


def test_clear_all_during_a_fetch_keeps_all_its_values_out() -> None:
    cache: dict[int, int] = {}

    @batched(cache=cache)
    def values(keys: list[int]) -> list[int]:
        values.clear_all()
        return keys

    assert gather(values, [1, 2]) == [1, 2]
    assert cache == {}


def test_a_clear_while_an_asyncio_fetch_awaits_is_not_undone() -> None:
    cache: dict[int, str] = {}

    async def main() -> Any:
        out = asyncio.Event()
        cleared = asyncio.Event()

        @batched(cache=cache)
        async def versions(keys: list[int]) -> dict[int, str]:
            out.set()
            await cleared.wait()
            return {key: "old" for key in keys}

        async def writer() -> None:
            await out.wait()
            versions.clear(1)
            cleared.set()

        loaded, _ = await asyncio.gather(versions.asyncio(1), writer())
        return loaded, await versions.asyncio(2)

    assert asyncio.run(main()) == ("old", "old")
    assert cache == {2: "old"}


def test_a_sync_fetch_in_the_loops_executor_writes_under_the_lock() -> None:
    cache: dict[int, str] = {}
    out, cleared = threading.Event(), threading.Event()

    @batched(cache=cache)
    def versions(keys: list[int]) -> dict[int, str]:
        out.set()
        assert cleared.wait(5)
        return {key: "old" for key in keys}

    async def writer() -> None:
        while not out.is_set():  # the fetch runs in the executor; the loop goes on
            await asyncio.sleep(0.001)
        versions.prime(1, "primed")
        cleared.set()

    async def main() -> Any:
        return await asyncio.gather(versions.asyncio(1), writer())

    assert asyncio.run(main()) == ["old", None]
    assert cache == {1: "primed"}


def test_a_value_the_mapping_refuses_as_too_large_is_served_but_not_cached() -> None:
    cache: LRUCache[int, str] = LRUCache(maxsize=5, getsizeof=len)
    calls: list[list[int]] = []

    @batched(cache=cache)
    def texts(keys: list[int]) -> list[str]:
        calls.append(list(keys))
        return ["x" * key for key in keys]

    assert gather(texts, [2, 9]) == ["xx", "x" * 9]
    assert list(cache) == [2]
    assert texts(9) == "x" * 9 and calls == [[2, 9], [9]]


def test_a_mapping_shared_by_threads() -> None:
    cache: LRUCache[int, int] = LRUCache(maxsize=8)
    squares, _ = squares_loader(cache)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for step in range(200):
                keys = [(offset + step * 7 + i) % 30 for i in range(5)]
                assert gather(squares, keys) == [key * key for key in keys]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 8 and all(value == key * key for key, value in cache.items())


def test_concurrent_flushes_write_the_mapping() -> None:
    cache: dict[int, int] = {}
    squares, calls = squares_loader(cache, concurrent=True, max_size=2)
    assert gather(squares, [1, 2, 3]) == [1, 4, 9]
    assert cache == {1: 1, 2: 4, 3: 9}
    assert sorted(calls) == [[1, 2], [3]]


def test_an_async_bulk_function_fills_the_mapping() -> None:
    cache: dict[int, int] = {}

    @batched(cache=cache)
    async def doubles(keys: list[int]) -> list[int]:
        return [key * 2 for key in keys]

    async def main() -> Any:
        return await asyncio.gather(doubles.asyncio(1), doubles.asyncio(2))

    assert asyncio.run(main()) == [2, 4]
    assert cache == {1: 2, 2: 4}


def test_a_key_function_with_a_mapping_caches_by_the_key_function() -> None:
    cache: dict[tuple[int, ...], int] = {}
    calls: list[list[list[int]]] = []

    @batched(cache=cache, key_fn=tuple)
    def sums(keys: list[list[int]]) -> dict[tuple[int, ...], int]:
        calls.append([list(key) for key in keys])
        return {tuple(key): sum(key) for key in keys}

    assert sums([1, 2]) == 3 and sums([1, 2]) == 3
    sums.prime_many([([5, 5], 0)])
    assert sums([5, 5]) == 0
    assert cache == {(1, 2): 3, (5, 5): 0}
    assert calls == [[[1, 2]]]


def test_a_method_loader_refuses_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"values: a cache mapping is shared by every caller"):

        class Repository:
            @batched(cache={})
            def values(self, keys: list[int]) -> list[int]:
                return keys


def test_cache_must_be_a_bool_or_a_mutable_mapping() -> None:
    frozen = types.MappingProxyType({})
    with pytest.raises(TypeError, match=r"batched\(cache=mappingproxy\(\{\}\)\): cache must be"):
        batched(cache=frozen)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"batched\(cache=1\): cache must be True, False or"):
        batched(cache=1)  # type: ignore[arg-type]


def test_the_run_cache_has_prime_many_and_clear_all() -> None:
    squares, calls = squares_loader(True)

    @asynq()
    def run() -> Any:
        squares.prime_many({1: -1, 2: -2})
        primed = yield [squares.asynq(1), squares.asynq(2)]
        squares.clear_all()
        fetched = yield [squares.asynq(1), squares.asynq(2)]
        return primed, fetched

    assert run() == ([-1, -2], [1, 4])
    assert calls == [[1, 2]]
    with pytest.raises(BatchingError, match=r"clear_all\(\) outside a scheduler run"):
        squares.clear_all()
    with pytest.raises(BatchingError, match=r"prime_many\(\) outside a scheduler run"):
        squares.prime_many({1: 1})
    uncached, _ = squares_loader(False)
    with pytest.raises(BatchingError, match=r"clear_all\(\): the loader has no cache"):
        uncached.clear_all()
