"""acached_per_instance, alru_cache, alazy_constant and aretry: decorators of
asynq functions that stay asynq functions (sync call, .asynq, methods,
pickling, qcore.get_original_fn)."""

from __future__ import annotations

import decimal
import gc
import inspect
import pickle
import time
import weakref
from typing import Any
from unittest import mock

import pytest
import qcore

import asynq_tools.caches
import asynq_tools.retry
import asynq_tools.tools
from asynq_core import AsyncTask, asynq, has_async_fn
from asynq_tools import acached_per_instance, alazy_constant, alru_cache, aretry

# -- module level, so that pickling by reference can find them -------------------

attempts_made: list[int] = []


@asynq()
def fails_twice(key: int) -> Any:
    """Fails on its first two calls, then returns key + 1."""
    attempts_made.append(key)
    if len(attempts_made) <= 2:
        raise ConnectionError(f"attempt {len(attempts_made)}")
    return key + 1
    yield


retrying_fails_twice = aretry(ConnectionError, max_tries=3, sleep=0)(fails_twice)


@aretry(ConnectionError, max_tries=3, sleep=0)
@asynq()
def retried_at_module_level(key: int) -> Any:
    """Always succeeds."""
    return key
    yield


# -- acached_per_instance -----------------------------------------------------------


class Payload:
    """A result whose lifetime the tests can watch."""

    def __init__(self, key: int, owner: str) -> None:
        self.key = key
        self.owner = owner


def make_user_class(store: Any, calls: list[Any]) -> type:
    class User:
        def __init__(self, name: str) -> None:
            self.name = name

        @acached_per_instance()
        @asynq()
        def profile(self, key: int, scale: int = 1) -> Any:
            calls.append((self.name, key, scale))
            value = yield store.get(key)
            return Payload(value * scale, self.name)

    return User


def test_acached_per_instance_caches_per_instance_and_arguments(store: Any) -> None:
    calls: list[Any] = []
    User = make_user_class(store, calls)
    alice, bob = User("alice"), User("bob")

    first = alice.profile(1)
    assert first.key == 2 and first.owner == "alice"
    assert alice.profile(1) is first
    assert alice.profile(key=1) is first  # the same call, however arguments are passed
    assert alice.profile(1, scale=1) is first
    assert bob.profile(1) is not first
    assert alice.profile(1, 3).key == 6
    assert calls == [("alice", 1, 1), ("bob", 1, 1), ("alice", 1, 3)]


def test_acached_per_instance_shares_concurrent_calls_and_batches(store: Any) -> None:
    calls: list[Any] = []
    User = make_user_class(store, calls)
    alice = User("alice")

    @asynq()
    def main() -> Any:
        return (yield [alice.profile.asynq(key) for key in (1, 2, 1, 2, 3)])

    results = main()
    assert [payload.key for payload in results] == [2, 4, 2, 4, 6]
    assert results[0] is results[2]
    assert sorted(call[1] for call in calls) == [1, 2, 3]
    assert store.flushes == [[1, 2, 3]]


def test_acached_per_instance_does_not_cache_errors(store: Any) -> None:
    outcomes = [ValueError("first call fails"), "ok"]

    class Flaky:
        @acached_per_instance()
        @asynq()
        def get(self) -> Any:
            yield store.get(1)
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

    flaky = Flaky()
    with pytest.raises(ValueError, match="first call fails"):
        flaky.get()
    assert flaky.get() == "ok"
    assert flaky.get() == "ok"
    assert outcomes == []


def test_acached_per_instance_cache_is_freed_with_the_instance(store: Any) -> None:
    calls: list[Any] = []
    User = make_user_class(store, calls)
    alice = User("alice")
    payload = alice.profile(1)
    instance_ref, payload_ref = weakref.ref(alice), weakref.ref(payload)
    caches = User.__dict__["profile"].__acached_per_instance_cache__
    assert len(caches) == 1

    del alice, payload
    gc.collect()
    assert instance_ref() is None  # the cache does not keep the instance alive
    assert payload_ref() is None  # and the cached value went with it
    assert caches == {}


def test_acached_per_instance_needs_weakly_referenceable_instances(store: Any) -> None:
    class Slotted:
        __slots__ = ()

        @acached_per_instance()
        @asynq()
        def get(self) -> Any:
            return 1
            yield

    with pytest.raises(TypeError, match="weak references"):
        Slotted().get()


def test_acached_per_instance_of_a_method_taking_args_or_no_self() -> None:
    calls: list[Any] = []

    class Box:
        @acached_per_instance()
        @asynq()
        def count(*args: Any) -> int:  # the instance is args[0], as asynq 1.x allows
            calls.append(args[1:])
            return len(args)

        # asynq 1.x accepts the decoration and fails at the call: so does it here.
        @acached_per_instance()
        @asynq()
        def no_self() -> int:  # type: ignore[misc]
            return 1

    box = Box()
    assert [box.count(1, 2), box.count(1, 2), box.count(3)] == [3, 3, 2]
    assert calls == [(1, 2), (3,)]
    with pytest.raises(TypeError, match=r"decorates methods, but .*no_self takes no self"):
        box.no_self()


def test_acached_per_instance_keeps_the_original_introspectable(store: Any) -> None:
    User = make_user_class(store, [])
    profile = User.__dict__["profile"]
    assert has_async_fn(profile)
    assert profile.__name__ == "profile"
    assert qcore.get_original_fn(profile).__name__ == "profile"
    assert isinstance(User("x").profile.asynq(1), AsyncTask)


def test_decorators_reject_functions_that_are_not_asynq() -> None:
    def plain(x: int) -> int:
        return x

    for decorator in (acached_per_instance(), alru_cache()):
        with pytest.raises(TypeError, match=r"above @asynq\(\)"):
            decorator(plain)
    # asynq 1.x accepts @alazy_constant() over a plain function and fails when
    # it is called: so does it here (a module defining one still imports).
    constant = alazy_constant()(lambda: 1)
    with pytest.raises(TypeError, match=r"above @asynq\(\)"):
        constant()


def test_aretry_retries_a_plain_function_as_asynq_1x_allows() -> None:
    attempts: list[int] = []

    def flaky(x: int, y: int = 1) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ValueError("not yet")
        return x + y

    retried = aretry(ValueError, max_tries=3, sleep=0)(flaky)
    assert retried(2) == 3
    assert attempts == [2, 2, 2]
    assert retried.asynq(5, y=2).value() == 7
    assert inspect.signature(qcore.get_original_fn(retried)) == inspect.signature(flaky)


# -- alru_cache -------------------------------------------------------------------


def test_alru_cache_caches_values_like_lru_cache(store: Any) -> None:
    calls: list[int] = []

    @alru_cache(maxsize=2)
    @asynq()
    def fetch(key: int, offset: int = 0) -> Any:
        calls.append(key)
        value = yield store.get(key)
        return value + offset

    assert fetch(1) == 2
    assert fetch(1) == 2
    assert fetch(key=1, offset=0) == 2
    assert fetch(2) == 4
    assert fetch(1) == 2  # 1 is now the most recently used
    assert fetch(3) == 6  # evicts 2, the least recently used
    assert fetch(1) == 2
    assert fetch(2) == 4  # computed again
    assert calls == [1, 2, 3, 2]
    info = fetch.cache_info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (4, 4, 2, 2)

    fetch.cache_clear()
    assert fetch.cache_info() == (0, 0, 2, 0)
    assert fetch(1) == 2
    assert calls == [1, 2, 3, 2, 1]


def test_alru_cache_batches_misses_and_shares_concurrent_calls(store: Any) -> None:
    calls: list[int] = []

    @alru_cache()
    @asynq()
    def fetch(key: int) -> Any:
        calls.append(key)
        return (yield store.get(key))

    @asynq()
    def main() -> Any:
        return (yield [fetch.asynq(key) for key in (5, 6, 5)])

    assert main() == [10, 12, 10]
    assert sorted(calls) == [5, 6]
    assert [sorted(keys) for keys in store.flushes] == [[5, 6]]
    assert main() == [10, 12, 10]
    assert len(store.flushes) == 1  # all from the cache


def test_alru_cache_without_limit_and_with_size_zero(store: Any) -> None:
    calls: list[int] = []

    @asynq()
    def fetch(key: int) -> Any:
        calls.append(key)
        return (yield store.get(key))

    store.data.update({key: key * 2 for key in range(300)})
    unlimited = alru_cache(maxsize=None)(fetch)
    for key in range(300):
        unlimited(key)
    for key in range(300):
        unlimited(key)
    assert len(calls) == 300

    calls.clear()
    uncached = alru_cache(maxsize=0)(fetch)
    uncached(1)
    uncached(1)
    assert calls == [1, 1]


def test_alru_cache_with_a_key_function(store: Any) -> None:
    calls: list[Any] = []

    @alru_cache(key_fn=lambda args, kwargs: args[0])
    @asynq()
    def fetch(key: int, trace_id: str) -> Any:
        calls.append((key, trace_id))
        return (yield store.get(key))

    assert fetch(1, "a") == 2
    assert fetch(1, "b") == 2  # trace_id is not part of the key
    assert calls == [(1, "a")]


def test_alru_cache_does_not_cache_errors(store: Any) -> None:
    calls: list[int] = []

    @alru_cache()
    @asynq()
    def fetch(key: int) -> Any:
        calls.append(key)
        return (yield store.get(key))

    with pytest.raises(KeyError):
        fetch(1000)  # not in the store
    with pytest.raises(KeyError):
        fetch(1000)
    assert calls == [1000, 1000]


def test_alru_cache_rejects_bad_arguments(store: Any) -> None:
    with pytest.raises(ValueError, match="maxsize"):
        alru_cache(maxsize=-1)
    # These fail where asynq 1.x fails, at the call, not when decorating.
    without_parentheses = alru_cache(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"write @alru_cache\(\)"):
        without_parentheses(1)

    @alru_cache(key_fn=3)  # type: ignore[arg-type]
    @asynq()
    def bad_key(key: Any) -> Any:
        return key

    with pytest.raises(TypeError, match=r"alru_cache\(key_fn=...\) needs a function, got 3"):
        bad_key(1)

    @alru_cache()
    @asynq()
    def fetch(key: Any) -> Any:
        return 1
        yield

    with pytest.raises(TypeError, match=r"must be hashable.*\[1\]"):
        fetch([1])


# -- alazy_constant -----------------------------------------------------------------


def test_alazy_constant_computes_once_until_dirty(store: Any) -> None:
    calls: list[int] = []

    @alazy_constant()
    @asynq()
    def config() -> Any:
        calls.append(1)
        return (yield store.get(len(calls)))

    assert config() == 2
    assert config() == 2
    assert len(calls) == 1
    config.dirty()
    assert config() == 4
    assert config() == 4
    assert len(calls) == 2


def test_alazy_constant_shares_concurrent_calls(store: Any) -> None:
    calls: list[int] = []

    @alazy_constant()
    @asynq()
    def config() -> Any:
        calls.append(1)
        return (yield store.get(7))

    @asynq()
    def main() -> Any:
        return (yield config.asynq(), config.asynq())

    assert main() == (14, 14)
    assert calls == [1]


def test_alazy_constant_expires_after_ttl_microseconds(store: Any) -> None:
    calls: list[int] = []

    @alazy_constant(ttl=1_000_000)
    @asynq()
    def config() -> Any:
        calls.append(1)
        return len(calls)
        yield

    assert config() == 1
    with qcore.TimeOffset(500_000):
        assert config() == 1
    with qcore.TimeOffset(1_001_000):
        assert config() == 2
        assert config() == 2
    assert len(calls) == 2


def test_patching_utime_of_the_tools_module_drives_the_ttl() -> None:
    """asynq 1.x's patch point: ``asynq.tools.utime`` is the clock of the ttl."""
    calls: list[int] = []

    @alazy_constant(ttl=100)
    @asynq()
    def config() -> Any:
        calls.append(1)
        return len(calls)
        yield

    with mock.patch("asynq_tools.tools.utime", return_value=10**15) as clock:
        assert config() == 1
        clock.return_value += 100  # exactly ttl old: still fresh, as in asynq 1.x
        assert config() == 1
        clock.return_value += 1
        assert config() == 2
    assert asynq_tools.caches.utime is qcore.utime  # put back


def test_alazy_constant_does_not_cache_errors_and_takes_no_arguments() -> None:
    outcomes: list[Any] = [ValueError("not yet"), "ready"]

    @alazy_constant()
    @asynq()
    def config() -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
        yield

    with pytest.raises(ValueError, match="not yet"):
        config()
    assert config() == "ready"
    assert config() == "ready"
    with pytest.raises(TypeError, match="takes no arguments"):
        config(1)


def test_alazy_constant_takes_the_ttls_asynq_1x_takes() -> None:
    calls: list[int] = []

    @alazy_constant(ttl=-1)  # negative: never kept, as in asynq 1.x
    @asynq()
    def never_kept() -> int:
        calls.append(1)
        return len(calls)

    assert [never_kept(), never_kept(), never_kept()] == [1, 2, 3]

    @alazy_constant(ttl=decimal.Decimal(10**9))  # any number, True too
    @asynq()
    def kept() -> int:
        calls.append(1)
        return len(calls)

    assert kept() == kept() == 4
    assert alazy_constant(ttl=True)(kept)() == 4

    # asynq 1.x computes the first value whatever the ttl and fails when it
    # would reuse it: so does it here, with a clear error.
    @alazy_constant(ttl="1s")  # type: ignore[arg-type]
    @asynq()
    def bad_ttl() -> int:
        return 5

    assert bad_ttl() == 5
    with pytest.raises(TypeError, match=r"alazy_constant\(ttl=...\) must be a number.*'1s'"):
        bad_ttl()


# -- aretry -------------------------------------------------------------------------


def test_aretry_retries_until_success() -> None:
    attempts_made.clear()
    assert retrying_fails_twice(1) == 2
    assert attempts_made == [1, 1, 1]


def test_aretry_raises_the_last_error_after_max_tries() -> None:
    attempts_made.clear()
    retry_twice = aretry(ConnectionError, max_tries=2, sleep=0)(fails_twice)
    with pytest.raises(ConnectionError, match="attempt 2"):
        retry_twice(1)
    assert attempts_made == [1, 1]


def test_aretry_does_not_retry_other_errors(store: Any) -> None:
    calls: list[int] = []

    @aretry((ConnectionError, TimeoutError), max_tries=5, sleep=0)
    @asynq()
    def broken() -> Any:
        calls.append(1)
        yield store.get(1)
        raise KeyError("not retried")

    with pytest.raises(KeyError, match="not retried"):
        broken()
    assert calls == [1]


def test_aretry_sleeps_between_tries(monkeypatch: Any) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    attempts_made.clear()
    assert aretry(ConnectionError, max_tries=3, sleep=0.25)(fails_twice)(5) == 6
    assert sleeps == [0.25, 0.25]


def test_patching_time_of_the_tools_module_reaches_aretry() -> None:
    """asynq 1.x's patch point: ``asynq.tools.time`` is the time aretry sleeps with."""
    attempts_made.clear()
    with mock.patch("asynq_tools.tools.time") as fake_time:
        assert aretry(ConnectionError, max_tries=3, sleep=60)(fails_twice)(5) == 6
    assert fake_time.sleep.call_args_list == [mock.call(60), mock.call(60)]
    assert asynq_tools.retry.time is time and asynq_tools.tools.time is time  # put back


def test_aretry_works_inside_tasks_and_batches(store: Any) -> None:
    failures_left = {1: 1, 2: 0}

    @aretry(ConnectionError, max_tries=3, sleep=0)
    @asynq()
    def fetch(key: int) -> Any:
        value = yield store.get(key)
        if failures_left[key]:
            failures_left[key] -= 1
            raise ConnectionError("flaky")
        return value

    @asynq()
    def main() -> Any:
        return (yield fetch.asynq(1), fetch.asynq(2))

    assert main() == (2, 4)
    assert store.flushes == [[1, 2], [1]]  # the retry went into the next batch


def test_aretry_keeps_the_function_picklable_and_introspectable() -> None:
    assert pickle.loads(pickle.dumps(retried_at_module_level)) is retried_at_module_level
    original = qcore.get_original_fn(retried_at_module_level)
    assert original.__name__ == "retried_at_module_level"
    assert original.__doc__ == "Always succeeds."
    assert retried_at_module_level.__name__ == "retried_at_module_level"
    assert retried_at_module_level.__doc__ == "Always succeeds."
    assert retried_at_module_level(3) == 3
    assert isinstance(retried_at_module_level.asynq(3), AsyncTask)


def test_aretry_rejects_bad_arguments_where_asynq_1x_fails() -> None:
    with pytest.raises(ValueError, match="max_tries"):
        aretry(ValueError, max_tries=0)

    # The others are accepted when decorating, as in asynq 1.x, and fail
    # where they are used: the exception classes when the function raises...
    def fails() -> int:
        raise KeyError("down")

    for classes in ("ValueError", (ValueError, int), (ValueError, (KeyError,))):
        retried = aretry(classes)(lambda: 1)  # type: ignore[arg-type]
        assert retried() == 1
        with pytest.raises(TypeError, match="exception class") as info:
            aretry(classes)(fails)()  # type: ignore[arg-type]
        assert isinstance(info.value.__context__, KeyError)
    # ... sleep when retrying...
    for sleep, error in ((-1, ValueError), (None, TypeError), (decimal.Decimal(1), TypeError)):
        assert aretry(KeyError, sleep=sleep)(lambda: 1)() == 1  # type: ignore[arg-type]
        with pytest.raises(error, match=r"aretry\(sleep=...\)"):
            aretry(KeyError, sleep=sleep)(fails)()  # type: ignore[arg-type]
    # ... and a max_tries that is not an int at the call.
    with pytest.raises(TypeError, match=r"aretry\(max_tries=...\) must be an int >= 1, got 2.0"):
        aretry(KeyError, max_tries=2.0)(fails)()  # type: ignore[arg-type]


def test_aretry_takes_what_asynq_1x_takes() -> None:
    assert aretry(())(lambda: 1)() == 1  # retries nothing
    with pytest.raises(KeyError):
        aretry((), max_tries=3)(lambda: {}[1])()
    attempts: list[int] = []

    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 2:
            raise KeyError("not yet")
        return len(attempts)

    class Two:  # an int-like, as numpy's
        def __index__(self) -> int:
            return 2

        def __gt__(self, other: int) -> bool:
            return other < 2

    assert aretry(KeyError, max_tries=Two(), sleep=0)(flaky)() == 2  # type: ignore[arg-type]
    assert aretry(KeyError, max_tries=True)(lambda: 3)() == 3
