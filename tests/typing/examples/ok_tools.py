"""The tools keep element types, and the caching decorators keep signatures."""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

from asynq_contexts import AsyncScopedValue
from asynq_core import AsyncTask, asynq
from asynq_tools import (
    CacheInfo,
    DeduplicateDecorator,
    DeduplicateDecoratorBinder,
    acached_per_instance,
    afilter,
    afilterfalse,
    alazy_constant,
    alru_cache,
    amap,
    amax,
    amin,
    aretry,
    asift,
    asorted,
    call_with_context,
    deduplicate,
)


@asynq()
def length(word: str) -> Generator[Any, Any, int]:
    yield None
    return len(word)


def is_short(word: str) -> bool:
    return len(word) < 4


def pair(word: str, times: int) -> str:
    return word * times


words = ["pear", "fig", "banana"]

assert_type(amap(length, words), list[int])
assert_type(amap(str.upper, words), list[str])
assert_type(amap(pair, words, [1, 2, 3]), list[str])
assert_type(amap.asynq(length, words), AsyncTask[list[int]])
assert_type(afilter(is_short, words), list[str])
assert_type(afilter(None, [0, 1, 2]), list[int])
assert_type(afilterfalse(is_short, words), list[str])
assert_type(asift(is_short, words), tuple[list[str], list[str]])
assert_type(asorted(words, key=length), list[str])
assert_type(asorted([3, 1, 2], reverse=True), list[int])
assert_type(amax(words, key=length), str)
assert_type(amax([], default=None), None)
assert_type(amax([1.5], default=None), float | None)
assert_type(amin(3, 1, 2), int)
assert_type(amin.asynq(words, key=length), AsyncTask[str])


@alru_cache(maxsize=16)
@asynq()
def square(x: int) -> Generator[Any, Any, int]:
    yield None
    return x * x


@deduplicate()
@asynq()
def fetch(key: str) -> Generator[Any, Any, bytes]:
    yield None
    return key.encode()


@alazy_constant(ttl=1_000_000)
@asynq()
def settings() -> Generator[Any, Any, dict[str, int]]:
    yield None
    return {"retries": 3}


@aretry(KeyError, max_tries=2, sleep=0)
@asynq()
def flaky(n: int) -> Generator[Any, Any, int]:
    yield None
    return n


class Account:
    def __init__(self, balance: int) -> None:
        self.balance = balance

    @deduplicate()
    @asynq()
    def statement(self, month: int) -> Generator[Any, Any, str]:
        yield None
        return f"{month}: {self.balance}"

    @acached_per_instance()
    @asynq()
    def doubled(self, factor: int) -> Generator[Any, Any, int]:
        yield None
        return self.balance * factor


assert_type(square(3), int)
assert_type(square.cache_info(), CacheInfo)
assert_type(fetch("k"), bytes)
deduplicated: DeduplicateDecorator[[str], bytes] = fetch
fetch.dirty("k")
assert_type(settings(), dict[str, int])
settings.dirty()
assert_type(flaky(4), int)
account = Account(10)
assert_type(account.doubled(2), int)
bound_statement: DeduplicateDecoratorBinder[[int], str] = account.statement
assert_type(account.statement(1), str)
account.statement.dirty(1)

scope = AsyncScopedValue(1)
assert_type(call_with_context(scope.override(2), square, 5), int)

assert amap(length, words) == [4, 3, 6]
assert amap(pair, words, [1, 2, 3]) == ["pear", "figfig", "bananabananabanana"]
assert afilter(is_short, words) == ["fig"]
assert afilter(None, [0, 1, 2]) == [1, 2]
assert asift(is_short, words) == (["fig"], ["pear", "banana"])
assert asorted(words, key=length) == ["fig", "pear", "banana"]
assert amax(words, key=length) == "banana"
assert amax([], default=None) is None
assert amin(3, 1, 2) == 1
assert square(3) == 9
assert square.cache_info().misses == 2
assert fetch("k") == b"k"
assert settings() == {"retries": 3}
assert flaky(4) == 4
assert account.doubled(2) == 20
assert account.statement(1) == "1: 10"
assert call_with_context(scope.override(2), square, 5) == 25
