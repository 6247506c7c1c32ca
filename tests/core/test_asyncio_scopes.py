"""Asyncio scopes: calls that end early, tasks shared between calls, observation, run_task.

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


async def _never_done() -> None:
    await asyncio.Event().wait()


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
        # The load waits on a pending batch, never flushed: the native call is busy.
        value, _ = yield [shared_load(key), never_done.asynq()]
        return value

    return request, stuck_request


# -- a call that ends before its task is computed ----------------------------


def test_a_timed_out_call_leaves_no_shared_task_stuck_a_later_call_runs_afresh(
    store: Any,
) -> None:
    closed: list[Any] = []
    request, stuck_request = make_shared_load(store, closed)

    async def main() -> Any:
        first = stuck_request.asynq(1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(run_task(first), timeout=0.05)
        # The abandoned tasks failed (their generators closed): nothing waits for good.
        assert closed == [1]
        with pytest.raises(AsyncTaskCancelledError, match=r"stuck_request\(1\).* was abandoned"):
            await run_task(first)
        # The shared load is computed, so a later call starts it afresh.
        return await request.asyncio(1)

    assert run(main()) == 2
    # The abandoned call's batch was forgotten, not cancelled: the later call flushed it.
    assert store.flushes == [[1, 1]]


def test_a_call_waiting_on_a_task_of_a_cancelled_call_gets_a_clear_error(store: Any) -> None:
    request, stuck_request = make_shared_load(store)

    async def main() -> None:
        first = asyncio.ensure_future(stuck_request.asyncio(1))
        second = asyncio.ensure_future(request.asyncio(1))
        await asyncio.sleep(0.01)  # both wait on the load the first call started
        first.cancel()
        with pytest.raises(AsyncTaskCancelledError, match=r"load\(1\).* was abandoned"):
            await second
        with pytest.raises(asyncio.CancelledError):
            await first

    run(main())
    assert store.flushes == []


def test_a_call_that_fails_fails_its_waiting_tasks() -> None:
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


def test_a_failing_before_hook_still_flushes_under_asyncio(store: Any) -> None:
    root = make_two_rounds(store)

    def fail(group: Any) -> None:
        raise ValueError(f"hook refused {group!r}")

    get_scheduler().on_before_batch_flush.subscribe(fail)
    task = root.asynq()
    with pytest.raises(ValueError, match="hook refused"):
        run(run_task(task))
    # The batch was flushed, so its waiters are not stranded; the call then failed them.
    assert store.flushes == [[1, 2]]
    assert isinstance(task.error(), AsyncTaskCancelledError)


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
    assert sorted(type(error).__name__ for error in errors) == [
        "AsyncTaskCancelledError",
        "AsyncTaskError",
    ]
    assert any("dependency cycle" in str(error) for error in errors)
