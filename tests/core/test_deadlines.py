"""Deadlines (``with deadline(s)``, ``run``/``run_async(deadline=...)``) against
synthetic slow batches: a fetch made in a worker thread that takes long (or
waits for the test to let it go), a flush on the scheduler's thread, under
asyncio a fetch in the loop's executor or an ``async`` flush.

A slow fetch lasts seconds (``SLOW``) and deadlines are a tenth of that, so
"the call ended at its deadline, not when the batch would have" is told
apart with room to spare on a busy machine.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asynq_core import (
    AsynqMisuseError,
    DeadlineExceededError,
    asynq,
    deadline,
    get_scheduler,
    run,
    run_async,
)
from asynq_core.futures import DeferredFuture
from asynq_core.lowlevel import remaining_time

SLOW = 3.0  # what a slow batch would take
SHORT = 0.2  # a deadline that passes long before
EARLY = 1.5  # a call bounded by SHORT ends before this


class Item(DeferredFuture[Any]):
    __slots__ = ("group", "key")

    def __init__(self, group: Group, key: Any) -> None:
        super().__init__()
        self.group = group
        self.key = key

    def flush_group(self) -> Group:
        return self.group

    def __repr__(self) -> str:
        return f"<Item {self.group.trace_name}:{self.key!r}>"


class Group:
    """A flush group of ``Item``s valued ``"name:key"``. With ``threaded`` it
    fetches in a worker thread (``begin_flush``), else it flushes on the
    scheduler's thread; the fetch waits ``delay`` seconds, or until
    ``release`` is set. ``budgets`` records what ``remaining_time()`` said there."""

    def __init__(
        self,
        name: str,
        *,
        delay: float = 0.0,
        threaded: bool = True,
        concurrent: bool = False,
        priority: int = 0,
        release: threading.Event | None = None,
    ) -> None:
        self.trace_name = name
        self.delay = delay
        self.concurrent = concurrent
        self.priority = priority
        self.release = release
        self.items: list[Item] = []
        self.started = False
        self.fetched = threading.Event()
        self.budgets: list[float | None] = []
        if threaded:
            self.begin_flush = self._begin_flush

    def item(self, key: Any) -> Item:
        assert not self.started, f"{self.trace_name} is flushed already"
        item = Item(self, key)
        self.items.append(item)
        return item

    def get_priority(self) -> Any:
        return self.priority

    def _wait(self) -> None:
        self.budgets.append(remaining_time())
        if self.release is not None:
            self.release.wait(10)
        else:
            time.sleep(self.delay)
        self.fetched.set()

    def _deliver(self) -> None:
        for item in self.items:
            if not item._computed:
                item.set_value(f"{self.trace_name}:{item.key}")

    def _begin_flush(self) -> Callable[[], Callable[[], None]] | None:
        if self.started:
            return None
        self.started = True

        def fetch() -> Callable[[], None]:
            self._wait()
            return self._deliver

        return fetch

    def flush(self) -> None:
        if self.started:
            return
        self.started = True
        self._wait()
        self._deliver()

    def __repr__(self) -> str:
        return f"<Group {self.trace_name}>"


@asynq()
def load(item: Item) -> Any:
    return (yield item)


@asynq()
def load_all(items: list[Item]) -> Any:
    return (yield [load.asynq(item) for item in items])


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """An event the slow fetches wait on; set at the end of the test."""
    event = threading.Event()
    yield event
    event.set()


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


# -- synchronous calls ------------------------------------------------------------


def test_a_call_fails_at_its_deadline_naming_the_batch_and_the_round(released) -> None:
    slow = Group("Users.get", release=released)
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        load_all([slow.item(1), slow.item(2)])
    assert elapsed_since(start) < EARLY
    error = raised.value
    assert isinstance(error, TimeoutError)
    assert (error.batch, error.round, error.seconds) == ("Users.get", 1, SHORT)
    assert "deadline(0.2) passed in round 1" in str(error)
    assert "waited on Users.get (flushing)" in str(error)


def test_the_batch_gets_the_time_left_and_nothing_without_a_deadline(released) -> None:
    slow = Group("slow", release=released)
    with pytest.raises(DeadlineExceededError), deadline(SHORT):
        load(slow.item(1))
    [budget] = slow.budgets
    assert budget is not None and 0 < budget <= SHORT

    free = Group("free")
    assert load(free.item(1)) == "free:1"
    assert free.budgets == [None]
    assert remaining_time() is None


def test_a_flush_on_the_schedulers_thread_is_given_the_time_and_ends_the_wait_after() -> None:
    # It cannot be interrupted: its client is given the time left, and the
    # tasks waiting on the next round fail before it is flushed.
    first = Group("first", delay=SHORT * 2, threaded=False, priority=1)
    second = Group("second", threaded=False)

    @asynq()
    def two_rounds() -> Any:
        a = yield first.item(1)
        b = yield second.item(2)
        return a, b

    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        two_rounds()
    assert first.budgets[0] is not None and first.budgets[0] <= SHORT
    assert not second.started  # never flushed for nobody
    assert raised.value.batch == "second"
    assert "waited on second (not flushed yet)" in str(raised.value)
    assert raised.value.round == 1


def test_a_task_may_catch_the_timeout_and_fall_back(released) -> None:
    slow = Group("slow", release=released)

    @asynq()
    def with_fallback(item: Item) -> Any:
        try:
            return (yield item)
        except TimeoutError:
            return "fallback"

    start = time.monotonic()
    with deadline(SHORT):
        assert with_fallback(slow.item(1)) == "fallback"
    assert elapsed_since(start) < EARLY


def test_the_calls_of_the_block_are_bounded_and_later_ones_not() -> None:
    fast = Group("fast")
    with deadline(SLOW):
        assert load(fast.item(1)) == "fast:1"
    slow = Group("slow", delay=SHORT * 2)
    assert load(slow.item(1)) == "slow:1"  # the deadline is gone


def test_nested_deadlines_the_earliest_wins(released) -> None:
    for outer, inner in [(SHORT, SLOW), (SLOW, SHORT)]:
        slow = Group("slow", release=released)
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as raised, deadline(outer), deadline(inner):
            load(slow.item(1))
        assert elapsed_since(start) < EARLY
        assert raised.value.seconds == inner  # the inner one's tasks, bounded by both


def test_run_takes_the_deadline_of_one_root_call(released) -> None:
    fast = Group("fast")
    assert run(load.asynq(fast.item(1)), deadline=SLOW) == "fast:1"
    assert run(load.asynq(Group("free").item(2))) == "free:2"
    slow = Group("slow", release=released)
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        run(load.asynq(slow.item(1)), deadline=SHORT)
    assert elapsed_since(start) < EARLY


def test_a_deadline_of_zero_fails_every_wait_on_a_batch_and_infinity_none() -> None:
    with pytest.raises(DeadlineExceededError) as raised, deadline(0):
        load(Group("never").item(1))
    assert raised.value.round == 0
    with deadline(math.inf):
        assert load(Group("always").item(1)) == "always:1"
        assert remaining_time() is None


def test_tasks_outside_the_deadline_keep_going_and_a_shared_batch_is_flushed_for_them(
    released,
) -> None:
    shared = Group("shared", release=released)

    @asynq()
    def outside() -> Any:
        return (yield shared.item("out"))

    @asynq()
    def inside() -> Any:
        with deadline(SHORT):  # a synchronous call inside a task: a nested loop
            try:
                return load(shared.item("in"))
            except DeadlineExceededError as error:
                released.set()  # the fetch ends only after the deadline passed
                return error

    @asynq()
    def both() -> Any:
        return (yield [outside.asynq(), inside.asynq()])

    value, error = both()
    assert value == "shared:out"  # delivered after the deadline, for the outside task
    assert isinstance(error, DeadlineExceededError) and error.batch == "shared"
    assert shared.budgets == [None]  # a task without a deadline waits on it: no limit


def test_a_round_left_in_flight_is_delivered_to_a_later_wait_on_it(released) -> None:
    slow = Group("slow", release=released)
    item = slow.item(1)
    with pytest.raises(DeadlineExceededError), deadline(SHORT):
        load(item)
    assert not item.is_computed()
    released.set()
    assert load(item) == "slow:1"  # the fetch of the first call, not a new one
    assert slow.fetched.is_set()


def test_value_of_an_item_in_flight_waits_for_its_delivery(released) -> None:
    slow = Group("slow", release=released)
    item = slow.item(1)
    with pytest.raises(DeadlineExceededError), deadline(SHORT):
        load(item)
    released.set()
    assert item.value() == "slow:1"


def test_concurrent_groups_are_waited_on_until_the_deadline_and_the_fast_one_delivered(
    released,
) -> None:
    slow = Group("slow", release=released, concurrent=True)
    fast = Group("fast", concurrent=True, priority=1)

    @asynq()
    def pair() -> Any:
        results = []
        for item in [fast.item(1), slow.item(2)]:
            try:
                results.append((yield item))
            except DeadlineExceededError as error:
                results.append(error.batch)
        return results

    with deadline(SHORT):
        assert pair() == ["fast:1", "slow"]


def test_without_a_deadline_the_lean_round_runs_again() -> None:
    scheduler = get_scheduler()
    assert scheduler._round == scheduler._flush_round
    with deadline(SLOW):
        assert scheduler._round == scheduler._flush_round_bounded
        load(Group("g").item(1))
    assert scheduler._round == scheduler._flush_round
    assert scheduler._lean_loop == (scheduler._step, scheduler._flush_round)


def test_remaining_time_counts_down_in_the_block() -> None:
    assert remaining_time() is None
    with deadline(SLOW) as bound:
        left = remaining_time()
        assert left is not None and SLOW - 1 < left <= SLOW
        assert bound.remaining() <= left
    assert remaining_time() is None


# -- misuse and bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "error"),
    [
        (-1, ValueError),
        (math.nan, ValueError),
        ("1", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_bad_seconds_are_refused_naming_the_function(seconds: Any, error: type) -> None:
    with pytest.raises(error, match=r"deadline\(\)"):
        deadline(seconds)
    if seconds is None:
        return  # no deadline, for run() and run_async()
    with pytest.raises(error, match=r"run\(deadline=\.\.\.\)"):
        run(load.asynq(Group("g").item(1)), deadline=seconds)
    with pytest.raises(error, match=r"run_async\(deadline=\.\.\.\)"):
        run_async(load.asynq(Group("g").item(1)), deadline=seconds)


def test_run_takes_a_future_and_run_async_an_awaitable() -> None:
    with pytest.raises(TypeError, match=r"run\(\) takes an asynq future.*got 42"):
        run(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"run_async\(\) takes an awaitable.*got 42"):
        run_async(42)  # type: ignore[arg-type]


def test_a_deadline_is_entered_once() -> None:
    bound = deadline(SLOW)
    with bound:
        pass
    with pytest.raises(RuntimeError, match=r"deadline\(3\) was entered already"), bound:
        pass


def test_a_yield_inside_a_deadline_in_a_task_is_refused() -> None:
    @asynq()
    def yields_inside() -> Any:
        with deadline(SLOW):
            yield load.asynq(Group("g").item(1))

    with pytest.raises(AsynqMisuseError, match=r"deadline\(3\) spans a yield in"):
        yields_inside()
    assert get_scheduler()._round == get_scheduler()._flush_round


def test_a_synchronous_call_inside_a_deadline_in_a_task_is_bounded(released) -> None:
    slow = Group("slow", release=released)

    @asynq()
    def calls_inside() -> Any:
        yield load.asynq(Group("before").item(0))
        with deadline(SHORT):
            return load(slow.item(1))

    with pytest.raises(DeadlineExceededError):
        calls_inside()


# -- asyncio ---------------------------------------------------------------------------


def test_an_asyncio_call_fails_at_its_deadline(released) -> None:
    slow = Group("slow", release=released)

    async def main() -> Any:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
            await load_all.asyncio([slow.item(1)])
        assert elapsed_since(start) < EARLY
        released.set()  # asyncio.run waits for the loop's executor
        return raised.value

    error = asyncio.run(main())
    assert (error.batch, error.round) == ("slow", 1)
    assert slow.budgets[0] is not None and slow.budgets[0] <= SHORT


def test_under_asyncio_other_calls_keep_going_and_keep_their_values(released) -> None:
    shared = Group("shared", release=released)

    async def bounded() -> Any:
        try:
            with deadline(SHORT):
                return await load.asyncio(shared.item("in"))
        except DeadlineExceededError as error:
            released.set()
            return error

    async def main() -> Any:
        return await asyncio.gather(load.asyncio(shared.item("out")), bounded())

    value, error = asyncio.run(main())
    assert value == "shared:out"
    assert isinstance(error, DeadlineExceededError)


def test_under_asyncio_a_task_may_catch_the_timeout(released) -> None:
    @asynq()
    def with_fallback(item: Item) -> Any:
        try:
            return (yield item)
        except TimeoutError:
            return "fallback"

    async def main() -> Any:
        slow = Group("slow", release=released)
        value = await run_async(with_fallback.asyncio(slow.item(1)), deadline=SHORT)
        released.set()  # asyncio.run waits for the loop's executor
        return value

    assert asyncio.run(main()) == "fallback"


def test_under_asyncio_native_waits_are_cancelled_as_asyncio_timeout_does() -> None:
    async def main() -> Any:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as raised:
            async with deadline(SHORT):
                await asyncio.sleep(SLOW)
        assert elapsed_since(start) < EARLY
        assert isinstance(raised.value.__cause__, asyncio.CancelledError)
        assert "while its coroutine awaited native code" in str(raised.value)
        with deadline(SLOW):  # not passed: nothing is cancelled
            await asyncio.sleep(0)
        return True

    assert asyncio.run(main())


def test_under_asyncio_run_async_takes_a_future_and_the_deadline() -> None:
    async def main() -> Any:
        return await run_async(load.asynq(Group("g").item(1)), deadline=SLOW)

    assert asyncio.run(main()) == "g:1"


def test_inside_a_task_under_asyncio_a_deadline_is_refused() -> None:
    @asynq()
    def enters() -> Any:
        with deadline(SLOW):
            pass
        yield None

    with pytest.raises(AsynqMisuseError, match="an asynq task run under asyncio"):
        asyncio.run(enters.asyncio())


def test_an_async_flush_is_given_the_time_left(released) -> None:
    seen: list[float | None] = []

    class AsyncGroup(Group):
        async def flush_async(self) -> None:
            seen.append(remaining_time())
            self._deliver()

    async def main() -> Any:
        with deadline(SLOW):
            return await load.asyncio(AsyncGroup("a", threaded=False).item(1))

    assert asyncio.run(main()) == "a:1"
    assert seen[0] is not None and 0 < seen[0] <= SLOW


def test_a_recording_sees_the_round_a_deadline_left_in_flight_once_delivered(released) -> None:
    from asynq_core import tracing

    slow = Group("slow", release=released)
    item = slow.item(1)
    with tracing.record() as recording:
        with pytest.raises(DeadlineExceededError), deadline(SHORT):
            load(item)
        assert recording.flushes == []  # reported when it ends
        released.set()
        assert load(item) == "slow:1"
    assert [(flush.batch, flush.items) for flush in recording.flushes] == [("slow", 1)]
    assert recording.rounds == 1
