"""asynq.tools as 1.6 code uses it: the async builtins batch their calls, the caches
and deduplication share work, call_with_context, AsyncTimer and AsyncEventHook."""

from __future__ import annotations

import gc
import time
from typing import Any
from unittest import mock

import compat_app as app
import pytest
import qcore

from asynq import asynq, decorators, tools
from asynq.debug import sync
from asynq.tools import (
    AsyncEventHook,
    AsyncTimer,
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


def seed_scores() -> None:
    app.store.data.update({"score:1": 30, "score:2": 10, "score:3": 20, "score:4": 10})


def test_amap_afilter_asorted_make_one_request_each() -> None:
    seed_scores()

    @asynq()
    def is_high(uid: int) -> Any:
        return (yield app.fetch_score.asynq(uid)) >= 20

    assert amap(app.fetch_score, [1, 2, 3]) == [30, 10, 20]
    assert afilter(is_high, [1, 2, 3, 4]) == [1, 3]
    assert afilterfalse(is_high, [1, 2, 3, 4]) == [2, 4]
    assert asorted([1, 2, 3, 4], key=app.fetch_score) == [2, 4, 3, 1]  # stable on ties
    assert asorted([1, 2, 3, 4], key=app.fetch_score, reverse=True) == [1, 3, 2, 4]
    assert app.MemcacheBatch.flush_count == 5
    assert all(len(keys) > 1 for _, keys in app.store.requests)


def test_async_builtins_inside_a_task_through_asynq() -> None:
    seed_scores()

    @asynq()
    def report() -> Any:
        scores, best, worst, split = yield (
            amap.asynq(app.fetch_score, [1, 2, 3]),
            amax.asynq([1, 2, 3, 4], key=app.fetch_score),
            amin.asynq([1, 2, 3, 4], key=app.fetch_score),
            asift.asynq(lambda uid: uid % 2 == 0, [1, 2, 3, 4]),
        )
        return scores, best, worst, split

    assert report() == ([30, 10, 20], 1, 2, ([2, 4], [1, 3]))
    assert app.MemcacheBatch.flush_count == 1  # every lookup of the round in one request


def test_acached_per_instance_caches_per_instance_and_frees_with_it() -> None:
    app.store.data.update({"user:1:name": "ann", "user:2:name": "bob"})
    first, second = app.User(1), app.User(2)

    @asynq()
    def names(a: app.User, b: app.User) -> Any:
        return (yield a.name.asynq(), a.name.asynq(), b.name.asynq())

    assert names(first, second) == ("ann", "ann", "bob")
    assert first.name() == "ann"
    assert app.calls == ["User.name(1)", "User.name(2)"]
    assert app.MemcacheBatch.flush_count == 1
    caches = app.User.name.__acached_per_instance_cache__
    assert len(caches) == 2
    del first
    gc.collect()
    assert len(caches) == 1
    assert app.User(2).name() == "bob"  # another instance: computed again
    assert app.calls.count("User.name(2)") == 2


def test_deduplicate_dirty_forgets_a_call_in_progress() -> None:
    calls: list[int] = []

    @deduplicate()
    @asynq()
    def slow(x: int) -> Any:
        calls.append(x)
        yield sync()
        return x

    @asynq()
    def two() -> Any:
        first = slow.asynq(1)
        slow.dirty(1)
        return (yield first, slow.asynq(1))

    assert two() == (1, 1)
    assert calls == [1, 1]


def test_a_deduplicated_function_is_recognised_as_1x_code_bases_do() -> None:
    """1.6's deduplicate makes a ``DeduplicateDecorator``, an ``AsyncDecorator``:
    code bases test for both, and bound methods bind to its binder."""
    assert tools.AsyncDecorator is decorators.AsyncDecorator
    assert isinstance(app.fetch_score, tools.DeduplicateDecorator)
    assert isinstance(app.fetch_score, tools.AsyncDecorator)
    assert issubclass(tools.DeduplicateDecorator, decorators.AsyncDecorator)
    assert issubclass(tools.DeduplicateDecoratorBinder, decorators.AsyncDecoratorBinder)
    assert not isinstance(app.bonus, tools.DeduplicateDecorator)


def test_a_code_base_subclass_of_deduplicate_decorator() -> None:
    """Built as 1.6's ``deduplicate`` builds its own: ``decorate(cls, task_cls, keygetter)``."""

    class DeduplicateByUser(tools.DeduplicateDecorator):
        def cache_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return "user", args[0]

    def deduplicate_by_user(fn: Any) -> Any:
        return qcore.decorators.decorate(DeduplicateByUser, fn.task_cls, None)(fn)

    calls: list[tuple[int, str]] = []

    @deduplicate_by_user
    @asynq()
    def score_line(uid: int, label: str) -> Any:
        calls.append((uid, label))
        score = yield app.fetch_score.asynq(uid)
        return f"{label}: {score}"

    @asynq()
    def lines() -> Any:
        return (yield score_line.asynq(1, "a"), score_line.asynq(1, "b"), score_line.asynq(2, "c"))

    seed_scores()
    assert lines() == ("a: 30", "a: 30", "c: 10")  # the second call shares the first's task
    assert calls == [(1, "a"), (2, "c")]
    assert score_line(1, "d") == "d: 30"


def test_patching_asynq_tools_time_reaches_aretry() -> None:
    """1.6 tests patch ``asynq.tools.time`` so that aretry does not really sleep."""
    attempts: list[int] = []

    @aretry(ConnectionError, max_tries=3, sleep=30)
    @asynq()
    def flaky() -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "done"
        yield

    started = time.monotonic()
    with mock.patch("asynq.tools.time") as fake_time:
        assert flaky() == "done"
    assert fake_time.sleep.call_args_list == [mock.call(30), mock.call(30)]
    assert time.monotonic() - started < 10
    attempts.clear()
    with mock.patch.object(tools.time, "sleep") as fake_sleep:
        assert flaky() == "done"
    assert fake_sleep.call_count == 2
    assert tools.time is time


def test_patching_asynq_tools_utime_drives_alazy_constant_ttl() -> None:
    loads: list[int] = []

    @alazy_constant(ttl=1_000)
    @asynq()
    def config() -> Any:
        loads.append(1)
        return len(loads)
        yield

    with mock.patch("asynq.tools.utime") as utime:
        utime.return_value = 5_000_000
        assert config() == config() == 1
        utime.return_value += 1_000  # exactly ttl old: still fresh
        assert config() == 1
        utime.return_value += 1
        assert config() == 2
    assert tools.utime is qcore.utime


def test_alru_cache_and_alazy_constant() -> None:
    app.store.data["config"] = {"flag": True}
    loads: list[str] = []

    @alru_cache(maxsize=2)
    @asynq()
    def cached_score(uid: int) -> Any:
        loads.append(f"score {uid}")
        return (yield app.fetch_score.asynq(uid))

    @alazy_constant()
    @asynq()
    def config() -> Any:
        loads.append("config")
        return (yield app.mc_get.asynq("config"))

    seed_scores()
    assert [cached_score(1), cached_score(1), cached_score(2)] == [30, 30, 10]
    assert config() == config() == {"flag": True}
    assert loads == ["score 1", "score 2", "config"]
    config.dirty()
    assert config() == {"flag": True}
    assert loads.count("config") == 2
    assert cached_score.cache_info().hits == 1


def test_aretry_retries_the_given_errors() -> None:
    attempts: list[int] = []

    @aretry(ConnectionError, max_tries=3, sleep=0)
    @asynq()
    def flaky() -> Any:
        attempts.append(1)
        value = yield app.mc_get.asynq("flaky")
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return value

    app.store.data["flaky"] = "finally"
    assert flaky() == "finally"
    assert len(attempts) == 3


def test_call_with_context_puts_only_one_call_in_the_context() -> None:
    log: list[str] = []

    class Tag(app.AsyncContext):
        def resume(self) -> None:
            log.append("on")

        def pause(self) -> None:
            log.append("off")

    @asynq()
    def record(name: str) -> Any:
        log.append(name)
        return name
        yield

    @asynq()
    def both() -> Any:
        return (yield call_with_context.asynq(Tag(), record, "in"), record.asynq("out"))

    assert both() == ("in", "out")
    active = False
    active_when: dict[str, bool] = {}
    for entry in log:
        if entry in ("on", "off"):
            active = entry == "on"
        else:
            active_when[entry] = active
    assert active_when == {"in": True, "out": False}
    assert not active


def test_async_timer_counts_only_its_own_task() -> None:
    ticks = iter(range(0, 10_000_000, 1_000_000))  # each clock read: +1 ms

    @asynq()
    def other() -> Any:
        return 1
        yield

    @asynq()
    def timed() -> Any:
        with AsyncTimer(clock=lambda: next(ticks)) as timer:
            yield sync()
        return timer

    @asynq()
    def both() -> Any:
        return (yield timed.asynq(), other.asynq())

    timer, _ = both()
    assert timer.total_time == 2000  # two runs of 1 ms each, in microseconds


def test_async_event_hook_calls_async_and_plain_handlers() -> None:
    app.store.data["greeting"] = "hi"
    received: list[Any] = []

    @asynq()
    def async_handler(name: str) -> Any:
        greeting = yield app.mc_get.asynq("greeting")
        received.append(f"{greeting} {name}")

    hook = AsyncEventHook([async_handler, lambda name: received.append(f"plain {name}")])
    hook.trigger("ann")
    assert sorted(received) == ["hi ann", "plain ann"]

    def broken(name: str) -> None:
        raise ValueError(name)

    failing = AsyncEventHook([broken, async_handler])
    received.clear()
    with pytest.raises(ValueError, match="bob"):
        failing.safe_trigger("bob")
    assert received == ["hi bob"]
