"""AsyncTimer and AsyncEventHook."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import qcore

from asynq_contexts import AsyncContext
from asynq_core import asynq
from asynq_tools import AsyncEventHook, AsyncTimer


class FakeClock:
    """A monotonic clock in nanoseconds that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def advance_us(self, microseconds: int) -> None:
        self.now += microseconds * 1000


# -- AsyncTimer ------------------------------------------------------------------


def test_async_timer_counts_only_the_time_its_own_task_ran(store: Any) -> None:
    clock = FakeClock()
    store.on_flush.append(lambda: clock.advance_us(10_000))
    timers: list[AsyncTimer] = []

    @asynq()
    def timed() -> Any:
        with AsyncTimer(clock) as timer:
            timers.append(timer)
            clock.advance_us(10)
            yield store.get(1)
            clock.advance_us(5)
            yield store.get(2)
            clock.advance_us(1)
        clock.advance_us(500)  # after the block: not counted

    @asynq()
    def other() -> Any:
        clock.advance_us(100)
        yield store.get(3)
        clock.advance_us(1000)
        yield store.get(4)
        clock.advance_us(1000)

    @asynq()
    def main() -> Any:
        yield timed.asynq(), other.asynq()

    main()
    assert timers[0].total_time == 16
    assert len(store.flushes) == 2  # the tasks did interleave


def test_async_timer_counts_what_its_task_calls_inside_the_block(store: Any) -> None:
    clock = FakeClock()

    @asynq()
    def child() -> Any:
        clock.advance_us(7)
        yield store.get(1)
        clock.advance_us(3)

    @asynq()
    def parent() -> Any:
        with AsyncTimer(clock) as timer:
            yield child.asynq()
        yield child.asynq()
        return timer.total_time

    assert parent() == 10


def test_async_timer_outside_a_task_and_while_running() -> None:
    clock = FakeClock()
    timer = AsyncTimer(clock)
    assert isinstance(timer, AsyncContext)
    with timer:
        clock.advance_us(40)
        assert timer.total_time == 40  # the current run counts while running
        clock.advance_us(2)
    clock.advance_us(1000)
    assert timer.total_time == 42
    with timer:  # a timer may be used again and keeps adding up
        clock.advance_us(8)
    assert timer.total_time == 50


def test_async_timer_measures_real_time_in_microseconds() -> None:
    @asynq()
    def sleepy() -> Any:
        with AsyncTimer() as timer:
            time.sleep(0.02)
        return timer.total_time
        yield

    assert 20_000 <= sleepy() < 2_000_000


def test_async_timer_rejects_a_bad_clock() -> None:
    with pytest.raises(TypeError, match="clock"):
        AsyncTimer(clock=5)  # type: ignore[arg-type]


# -- AsyncEventHook ---------------------------------------------------------------


def test_async_event_hook_is_an_event_hook() -> None:
    def handler(value: int) -> None:
        pass

    hook = AsyncEventHook()
    assert isinstance(hook, qcore.EventHook)
    hook.subscribe(handler)
    assert handler in hook
    hook.unsubscribe(handler)
    assert handler not in hook
    assert list(AsyncEventHook([handler])) == [handler]


def test_trigger_calls_async_and_plain_handlers_in_one_round(store: Any) -> None:
    received: list[Any] = []

    @asynq()
    def async_handler(key: int) -> Any:
        value = yield store.get(key)
        received.append(("async", value))

    @asynq()
    def other_async_handler(key: int) -> Any:
        value = yield store.get(key + 1)
        received.append(("other async", value))

    def plain_handler(key: int) -> None:
        received.append(("plain", key))

    hook = AsyncEventHook([async_handler, plain_handler, other_async_handler])
    hook.trigger(1)
    assert sorted(received) == [("async", 2), ("other async", 4), ("plain", 1)]
    assert [sorted(keys) for keys in store.flushes] == [[1, 2]]

    received.clear()
    hook(3)  # calling the hook triggers it
    assert sorted(received) == [("async", 6), ("other async", 8), ("plain", 3)]

    received.clear()

    @asynq()
    def main() -> Any:
        yield hook.trigger.asynq(5), hook.safe_trigger.asynq(7)

    main()
    assert len(received) == 6
    assert len(store.flushes) == 3  # both triggers' lookups in one batch


def test_safe_trigger_calls_every_handler_then_raises_the_first_error(store: Any) -> None:
    called: list[str] = []

    @asynq()
    def failing_async(key: int) -> Any:
        yield store.get(key)
        called.append("failing async")
        raise ValueError("async handler failed")

    def failing_plain(key: int) -> None:
        called.append("failing plain")
        raise KeyError("plain handler failed")

    @asynq()
    def working_async(key: int) -> Any:
        yield store.get(key)
        called.append("working async")

    def working_plain(key: int) -> None:
        called.append("working plain")

    hook = AsyncEventHook([failing_async, failing_plain, working_async, working_plain])
    with pytest.raises(ValueError, match="async handler failed"):
        hook.safe_trigger(1)
    assert sorted(called) == ["failing async", "failing plain", "working async", "working plain"]


def test_trigger_stops_at_a_plain_handler_that_raises(store: Any) -> None:
    called: list[str] = []

    @asynq()
    def before(key: int) -> Any:
        yield store.get(key)
        called.append("before")

    def failing(key: int) -> None:
        called.append("failing")
        raise KeyError("plain handler failed")

    def after(key: int) -> None:
        called.append("after")

    hook = AsyncEventHook([before, failing, after])
    with pytest.raises(KeyError, match="plain handler failed"):
        hook.trigger(1)
    assert called == ["failing", "before"]  # the handler started before still finished


def test_trigger_waits_for_every_async_handler_before_raising(store: Any) -> None:
    called: list[str] = []

    @asynq()
    def failing(key: int) -> Any:
        yield store.get(key)
        raise ValueError("failed")

    @asynq()
    def slow(key: int) -> Any:
        yield store.get(key)
        yield store.get(key + 1)
        called.append("slow")

    with pytest.raises(ValueError, match="failed"):
        AsyncEventHook([failing, slow]).trigger(1)
    assert called == ["slow"]


def test_under_asyncio_an_async_timer_measures_the_wall_time_of_its_block() -> None:
    clock = FakeClock()

    async def native_wait() -> None:
        clock.advance_us(300)  # time spent awaiting native I/O counts

    @asynq()
    def inner() -> Any:
        with AsyncTimer(clock) as timer:
            clock.advance_us(10)
            yield [native_wait(), native_wait()]
            clock.advance_us(5)
        return timer.total_time

    @asynq()
    def outer() -> Any:
        with AsyncTimer(clock) as timer:
            inner_time = yield inner.asynq()
            clock.advance_us(1)
        clock.advance_us(1000)  # after the block: not counted
        return timer.total_time, inner_time

    assert asyncio.run(outer.asyncio()) == (616, 615)
