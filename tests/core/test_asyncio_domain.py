"""The asyncio domain: calls that end early, tasks shared between calls, calls
that can never finish, observation, run_task.

``store`` (the root conftest's) is a batching store whose every key answers its
double; ``Shared`` is a minimal ``deduplicate``: while the task of a call is
not computed, the same call gets the same task.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from asynq_core import (
    AsyncTaskCancelledError,
    AsyncTaskError,
    DeferredFuture,
    Future,
    asynq,
    asynq_to_async,
    profiler,
)
from asynq_core.asynq_to_async import resolve_awaitables, run_task
from asynq_core.scheduler import get_scheduler
from asynq_core.tracing import record


def run(coroutine: Any, timeout: float = 5) -> Any:
    """Runs a coroutine with a timeout, so a deadlock fails the test instead of hanging."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout=timeout)

    return asyncio.run(bounded())


class Shared:
    """Calls of ``fn`` share the task of the same call while it is not computed."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.tasks: dict[Any, Any] = {}

    def __call__(self, *args: Any) -> Any:
        task = self.tasks.get(args)
        if task is None or task.is_computed():
            task = self.tasks[args] = self.fn.asynq(*args)
        return task


NATIVE_CANCELLED: list[str] = []


async def _never_done() -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        NATIVE_CANCELLED.append("never_done")
        raise


@asynq(asyncio_fn=_never_done)
def never_done() -> Any:
    raise AssertionError("the generator must not run in asyncio mode")
    yield


def make_shared_load(store: Any, ended: list[Any] | None = None) -> tuple[Any, Any]:
    @asynq()
    def load(key: int) -> Any:
        try:
            return (yield store.get(key))
        finally:
            if ended is not None:
                ended.append(key)

    shared_load = Shared(load)

    @asynq()
    def request(key: int) -> Any:
        return (yield shared_load(key))

    @asynq()
    def stuck_request(key: int) -> Any:
        # Its native call never finishes (it does not hold the load's flush back).
        value, _ = yield [shared_load(key), never_done.asynq()]
        return value

    return request, stuck_request


# -- a call that ends before its task is computed ----------------------------


def test_a_timed_out_call_cancels_what_only_it_waited_on(store: Any) -> None:
    closed: list[Any] = []
    request, stuck_request = make_shared_load(store, closed)
    NATIVE_CANCELLED.clear()

    async def main() -> Any:
        first = stuck_request.asynq(1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(run_task(first), timeout=0.05)
        # The load was flushed meanwhile (the native call held nothing back).
        assert closed == [1]
        with pytest.raises(AsyncTaskCancelledError, match=r"stuck_request\(1\).* was cancelled"):
            await run_task(first)
        await asyncio.sleep(0)  # the cancellation of its native call is delivered
        assert NATIVE_CANCELLED == ["never_done"]
        # The shared load is computed, so a later call starts it afresh.
        return await request.asyncio(1)

    assert run(main()) == 2
    assert store.flushes == [[1], [1]]


def test_cancelling_a_call_leaves_a_task_another_call_waits_on_running() -> None:
    store = SlowStore()  # its flushes take a while: the calls are cancelled meanwhile
    closed: list[Any] = []
    request, stuck_request = make_shared_load(store, closed)

    async def main() -> Any:
        first = asyncio.ensure_future(stuck_request.asyncio(1))
        second = asyncio.ensure_future(request.asyncio(1))
        await asyncio.sleep(0.005)  # both wait on the load, whose round is in flight
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert run(main()) == 2
    assert closed == [1]  # the shared load finished normally
    assert store.flushes == [[1]]


def test_cancelling_the_only_call_leaves_the_batch_to_the_others() -> None:
    store = SlowStore()
    values: list[Any] = []

    @asynq()
    def lone(key: int) -> Any:
        return (yield store.get(key))

    async def main() -> None:
        cancelled = asyncio.ensure_future(lone.asyncio(1))
        kept = asyncio.ensure_future(lone.asyncio(2))
        await asyncio.sleep(0.005)  # their round is in flight
        cancelled.cancel()
        values.append(await kept)
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    run(main())
    assert values == [4]
    assert store.flushes == [[1, 2]]  # one batch, flushed once, for both


def test_a_call_that_can_never_finish_fails_and_its_tasks_are_cancelled() -> None:
    tasks: dict[str, Any] = {}

    @asynq()
    def cycle(name: str, other: str) -> Any:
        yield tasks[other]

    tasks["a"] = cycle.asynq("a", "b")
    tasks["b"] = cycle.asynq("b", "a")
    with pytest.raises(AsyncTaskError, match="dependency cycle"):
        run(run_task(tasks["a"]))
    for task in tasks.values():
        assert isinstance(task.error(), AsyncTaskCancelledError)
        assert "nothing can make it go on" in str(task.error())


def test_queued_tasks_of_a_cancelled_call_are_failed() -> None:
    closed: list[str] = []

    class HalfDelivered:
        """Answers its first item, then hangs: the first waiter is queued meanwhile."""

        def __init__(self) -> None:
            self.items: list[Any] = []

        def get_priority(self) -> int:
            return 0

        def flush(self) -> None:
            raise AssertionError("asyncio flushes with flush_async")

        async def flush_async(self) -> None:
            self.items[0].set_value("first")
            await _never_done()

    class HalfItem(DeferredFuture[Any]):
        def __init__(self, group: HalfDelivered) -> None:
            super().__init__()
            self.group = group
            group.items.append(self)

        def flush_group(self) -> HalfDelivered:
            return self.group

    group = HalfDelivered()

    @asynq()
    def waiter(name: str) -> Any:
        try:
            return (yield HalfItem(group))
        finally:
            closed.append(name)

    @asynq()
    def root() -> Any:
        return (yield [waiter.asynq("a"), waiter.asynq("b")])

    tasks: list[Any] = []

    async def main() -> None:
        task = root.asynq()
        tasks.append(task)
        await asyncio.wait_for(run_task(task), timeout=0.05)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(main())
    assert sorted(closed) == ["a", "b"]
    assert isinstance(tasks[0].error(), AsyncTaskCancelledError)


# -- tasks shared by running calls -------------------------------------------


class SlowBatch:
    """A batch of ``SlowStore``; under asyncio its flush takes a while."""

    def __init__(self, store: SlowStore) -> None:
        self.store = store
        self.items: list[SlowItem] = []
        self.flushed = False

    def get_priority(self) -> int:
        return 0

    def flush(self) -> None:
        if self.flushed:
            return
        self.flushed = True
        if self.store.batch is self:
            self.store.batch = None
        self.store.flushes.append([item.key for item in self.items])
        for item in self.items:
            item.set_value(item.key * 2)

    async def flush_async(self) -> None:
        if self.store.batch is self:
            self.store.batch = None
        await asyncio.sleep(0.01)
        self.flush()


class SlowItem(DeferredFuture[Any]):
    def __init__(self, batch: SlowBatch, key: int) -> None:
        super().__init__()
        self.batch = batch
        self.key = key
        batch.items.append(self)

    def flush_group(self) -> SlowBatch:
        return self.batch


class SlowStore:
    def __init__(self) -> None:
        self.batch: SlowBatch | None = None
        self.flushes: list[list[int]] = []

    def get(self, key: int) -> SlowItem:
        if self.batch is None:
            self.batch = SlowBatch(self)
        return SlowItem(self.batch, key)


def test_concurrent_calls_share_a_task_run_by_one_of_them() -> None:
    store = SlowStore()
    ended: list[Any] = []
    request, _ = make_shared_load(store, ended)

    async def main() -> Any:
        return await asyncio.gather(request.asyncio(1), request.asyncio(1), request.asyncio(2))

    assert run(main()) == [2, 2, 4]
    assert sorted(ended) == [1, 2]  # one load of 1, which the second call waited on
    assert store.flushes == [[1, 2]]


# -- observation -------------------------------------------------------------


def make_two_rounds(store: Any) -> Any:
    @asynq()
    def double_twice(key: int) -> Any:
        once = yield store.get(key)
        return (yield store.get(once))

    @asynq()
    def root() -> Any:
        return (yield [double_twice.asynq(1), double_twice.asynq(2)])

    return root


def _summary(recording: Any) -> Any:
    return (
        recording.rounds,
        [(flush.batch, flush.items, flush.round) for flush in recording.flushes],
        [(step.name, step.finished) for step in recording.steps],
        recording.tasks_finished,
    )


def test_record_sees_the_same_rounds_and_flushes_under_asyncio(store: Any) -> None:
    root = make_two_rounds(store)
    with record() as synchronous:
        assert root() == [4, 8]
    with record() as under_asyncio:
        assert run(root.asyncio()) == [4, 8]
    assert under_asyncio.rounds == 2
    assert _summary(under_asyncio) == _summary(synchronous)


def test_flush_hooks_of_the_thread_scheduler_fire_under_asyncio(store: Any) -> None:
    root = make_two_rounds(store)
    seen: list[tuple[str, Any]] = []
    scheduler = get_scheduler()
    scheduler.on_before_batch_flush.subscribe(lambda group: seen.append(("before", group)))
    scheduler.on_after_batch_flush.subscribe(lambda group: seen.append(("after", group)))
    assert run(root.asyncio()) == [4, 8]
    assert [kind for kind, _ in seen] == ["before", "after", "before", "after"]
    assert seen[0][1] is seen[1][1] and seen[0][1] is not seen[2][1]


def test_a_failing_before_hook_still_flushes_and_goes_to_the_loop_under_asyncio(
    store: Any,
) -> None:
    root = make_two_rounds(store)
    reported: list[Any] = []

    def fail(group: Any) -> None:
        raise ValueError(f"hook refused {group!r}")

    get_scheduler().on_before_batch_flush.subscribe(fail)

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: reported.append(context))
        return await root.asyncio()

    # The batches were flushed, so no waiter is stranded; a round has no caller
    # to raise in: its error goes to the loop's exception handler.
    assert run(main()) == [4, 8]
    assert store.flushes == [[1, 2], [2, 4]]
    assert [type(context["exception"]) for context in reported] == [ValueError, ValueError]
    assert "flush round" in reported[0]["message"]


def test_collect_perf_stats_records_tasks_and_flushes_under_asyncio(store: Any) -> None:
    from asynq_core import debug

    root = make_two_rounds(store)
    debug.options.COLLECT_PERF_STATS = True
    root()
    synchronous = profiler.flush()
    run(root.asyncio())
    under_asyncio = profiler.flush()
    assert len(under_asyncio) == len(synchronous) == 5  # three tasks, two flushes

    def what(entry: dict[str, Any]) -> str:  # the name without its number and addresses
        return re.sub(r"^\d{6}\.| at 0x[0-9a-f]+", "", entry["name"])

    assert [what(entry) for entry in under_asyncio] == [what(entry) for entry in synchronous]
    assert [entry.get("batch_size") for entry in under_asyncio if "batch_size" in entry] == [
        2,
        2,
    ]


def test_dump_flush_batch_prints_under_asyncio(store: Any, debug_output: Any) -> None:
    from asynq_core import debug

    debug.options.DUMP_FLUSH_BATCH = True
    run(make_two_rounds(store).asyncio())
    assert debug_output.getvalue().count("asynq: flush") == 2


# -- synchronous waits, run_task and resolve_awaitables ----------------------


def test_value_of_an_uncomputed_task_is_refused_in_asyncio_mode() -> None:
    @asynq()
    def inner() -> Any:
        yield None
        return 1

    @asynq()
    def careless() -> Any:
        yield None
        return inner.asynq().value()

    with pytest.raises(RuntimeError, match=r"inner\(\).*\.value\(\) inside an asyncio"):
        run(careless.asyncio())


def test_refuse_sync_wait_refuses_only_in_asyncio_mode() -> None:
    task = Future(lambda: 1)
    asynq_to_async.refuse_sync_wait(task)  # not in asyncio mode: nothing to refuse

    @asynq()
    def checks() -> Any:
        yield None
        asynq_to_async.refuse_sync_wait(task)

    with pytest.raises(RuntimeError, match="would block the event loop"):
        run(checks.asyncio())


def test_run_task_computes_any_future(store: Any) -> None:
    assert run(run_task(Future(lambda: 1))) == 1
    assert run(run_task(store.get(3))) == 6
    assert run(resolve_awaitables({"a": store.get(1), "b": [Future(lambda: 2), None]})) == {
        "a": 2,
        "b": [2, None],
    }


def test_run_task_of_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"run_task\(\) takes an asynq future .*got 42"):
        run(run_task(42))


def test_a_cycle_of_tasks_across_concurrent_calls_is_an_error_not_a_hang() -> None:
    store = SlowStore()

    @asynq()
    def first() -> Any:
        yield store.get(1)
        return (yield shared_second())

    @asynq()
    def second() -> Any:
        yield store.get(2)
        return (yield shared_first())

    shared_first, shared_second = Shared(first), Shared(second)

    @asynq()
    def request(start: Any) -> Any:
        return (yield start())

    async def main() -> Any:
        return await asyncio.gather(
            request.asyncio(shared_first), request.asyncio(shared_second), return_exceptions=True
        )

    errors = run(main())
    assert [type(error).__name__ for error in errors] == ["AsyncTaskError", "AsyncTaskError"]
    assert all("dependency cycle" in str(error) for error in errors)


def test_concurrent_calls_share_rounds_and_a_recording_counts_what_reached_the_store(
    store: Any,
) -> None:
    root = make_two_rounds(store)

    async def two_requests() -> Any:
        return await asyncio.gather(root.asyncio(), root.asyncio())

    with record() as recording:
        assert run(two_requests()) == [[4, 8], [4, 8]]
    # Both calls' keys went out together: two rounds, one flush each.
    assert store.flushes == [[1, 2, 1, 2], [2, 4, 2, 4]]
    assert recording.rounds == 2
    assert [(flush.items, flush.round) for flush in recording.flushes] == [(4, 0), (4, 1)]


def test_assert_max_rounds_holds_around_concurrent_asyncio_calls(store: Any) -> None:
    from asynq_core.tracing import TooManyRoundsError, assert_max_rounds

    root = make_two_rounds(store)

    async def two_requests() -> Any:
        return await asyncio.gather(root.asyncio(), root.asyncio())

    with assert_max_rounds(2):
        run(two_requests())
    with pytest.raises(TooManyRoundsError), assert_max_rounds(1):
        run(two_requests())
