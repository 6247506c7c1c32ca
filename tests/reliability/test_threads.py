"""Eight threads running asynq programs with batches at once: each gets its own results
and nothing of one thread's state shows in another's.

Per-thread state checked: the scheduler (every task runs in the thread that
asked for it, flush hooks see only that thread's batches), debug batches (a
flush holds only items of its own thread), profiler entries, overrides of a
shared AsyncScopedValue, and the in-flight tasks of a shared ``deduplicate``.
Where a leak would only show under an unlucky interleaving, the threads meet
at a barrier while each is inside the state in question, which forces it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

from asynq_batching import DebugBatch, DebugBatchItem, sync
from asynq_contexts import AsyncScopedValue
from asynq_core import _debug, asynq, get_scheduler, profiler
from asynq_tools import alru_cache, deduplicate

THREADS = 8
RUNS_PER_THREAD = 25
BARRIER_TIMEOUT = 10.0


def run_threads(worker: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """Runs ``worker(index, barrier)`` in THREADS threads started together;
    returns their results in index order (re-raising the first error)."""
    barrier = threading.Barrier(THREADS, timeout=BARRIER_TIMEOUT)
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = worker(index, barrier)
        except BaseException as error:
            errors.append(error)
            barrier.abort()  # the others must not wait for this one

    threads = [threading.Thread(target=target, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BARRIER_TIMEOUT * 3)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs"
    if errors:
        raise errors[0]
    return results


def _named(name: str, fn: Callable[..., Any]) -> Any:
    """``@asynq()`` of ``fn`` under a name of its own (profiler entries show it)."""
    fn.__name__ = fn.__qualname__ = name
    return asynq()(fn)


def test_threads_running_batched_programs_keep_their_own_state(table_cls) -> None:
    _debug.options.COLLECT_PERF_STATS = True  # every thread profiles (restored by the fixture)

    def worker(index: int, barrier: threading.Barrier) -> dict[str, Any]:
        table = table_cls(f"t{index}", {key: (index, key) for key in range(20)})
        scheduler = get_scheduler()
        flushed: list[Any] = []
        scheduler.on_before_batch_flush.subscribe(flushed.append)

        def meet_at_first_debug_flush(group: Any) -> None:
            # Every thread has items in its debug batch of that name by now.
            if isinstance(group, DebugBatch) and not any(
                isinstance(earlier, DebugBatch) for earlier in flushed[:-1]
            ):
                barrier.wait()

        scheduler.on_before_batch_flush.subscribe(meet_at_first_debug_flush)
        ran_in: set[int] = set()

        def leaf(key: int) -> Generator[Any, Any, Any]:
            ran_in.add(threading.get_ident())
            row = yield table.lookup(key)
            tagged = yield DebugBatchItem("shared-name", result=(index, key))
            yield sync()
            return row, tagged

        leaf_task = _named(f"leaf_{index}", leaf)

        def root(offset: int) -> Generator[Any, Any, Any]:
            ran_in.add(threading.get_ident())
            return (yield [leaf_task.asynq(key) for key in range(offset, offset + 5)])

        root_task = _named(f"root_{index}", root)
        values = [root_task(run % 10) for run in range(RUNS_PER_THREAD)]
        return {
            "scheduler": scheduler,
            "values": values,
            "ran_in": ran_in,
            "flushed": flushed,
            "ident": threading.get_ident(),
            "profile": profiler.flush(),
            "table_flushes": table.flush_count(),
        }

    results = run_threads(worker)
    assert len({id(result["scheduler"]) for result in results}) == THREADS
    for index, result in enumerate(results):
        for run, value in enumerate(result["values"]):
            offset = run % 10
            expected = [((index, key), (index, key)) for key in range(offset, offset + 5)]
            assert value == expected
        assert result["ran_in"] == {result["ident"]}
        # Three rounds per run (table, debug batch, sync), each one flush.
        assert result["table_flushes"] == RUNS_PER_THREAD
        debug_batches = [group for group in result["flushed"] if isinstance(group, DebugBatch)]
        assert len(debug_batches) == 2 * RUNS_PER_THREAD
        assert len(result["flushed"]) == 3 * RUNS_PER_THREAD
        for batch in debug_batches:
            assert all(item.result is None or item.result[0] == index for item in batch.items)
        task_entries = [e for e in result["profile"] if "batch_size" not in e]
        task_names = {e["name"].rsplit(".", 1)[-1].split("(")[0] for e in task_entries}
        assert task_names == {f"leaf_{index}", f"root_{index}"}
        assert len(task_entries) == RUNS_PER_THREAD * 6  # a root and five leaves per run
        batch_entries = [e for e in result["profile"] if "batch_size" in e]
        assert {type(group).__name__ for group in result["flushed"]} == {"DebugBatch", "TableBatch"}
        assert len(batch_entries) == 3 * RUNS_PER_THREAD
        table_entries = [e for e in batch_entries if "TableBatch" in e["name"]]
        assert sum(entry["batch_size"] for entry in table_entries) == 5 * RUNS_PER_THREAD


def test_overrides_of_a_shared_scoped_value_stay_in_their_thread() -> None:
    shared = AsyncScopedValue("default")

    def worker(index: int, barrier: threading.Barrier) -> list[Any]:
        seen: list[Any] = []

        @asynq()
        def inside_override() -> Generator[Any, Any, None]:
            with shared.override(f"thread {index}"):
                seen.append(shared.get())
                barrier.wait()  # every thread is inside its override now
                seen.append(shared.get())
                yield sync()
                seen.append(shared())
                shared.set(f"thread {index}, set")
                barrier.wait()
                seen.append(shared.get())
            seen.append(shared.get())

        inside_override()
        return seen

    for index, seen in enumerate(run_threads(worker)):
        mine = f"thread {index}"
        assert seen == [mine, mine, mine, f"{mine}, set", "default"]
    assert shared.get() == "default"


def test_a_shared_deduplicate_shares_tasks_within_a_thread_only() -> None:
    calls: list[tuple[int, Any]] = []

    @deduplicate()
    @asynq()
    def load(key: str) -> Generator[Any, Any, Any]:
        calls.append((threading.get_ident(), key))
        yield sync()
        return key, threading.get_ident()

    def worker(index: int, barrier: threading.Barrier) -> list[Any]:
        @asynq()
        def root() -> Generator[Any, Any, Any]:
            first = load.asynq("same key")
            barrier.wait()  # every thread has its call of "same key" in flight
            second = load.asynq("same key")
            assert second is first, "identical calls of one thread share a task"
            return (yield [first, second])

        return root()

    idents = set()
    for values in run_threads(worker):
        (key, ident), again = values
        assert key == "same key" and again == values[0]
        idents.add(ident)
    assert len(idents) == THREADS, "each thread ran its own task"
    assert len(calls) == THREADS


def test_a_shared_alru_cache_gives_every_thread_correct_values() -> None:
    @alru_cache(maxsize=64)
    @asynq()
    def square(value: int) -> Generator[Any, Any, int]:
        yield sync()
        return value * value

    def worker(index: int, barrier: threading.Barrier) -> list[int]:
        @asynq()
        def root() -> Generator[Any, Any, Any]:
            return (yield [square.asynq(value) for value in range(index, index + 20)])

        return [value for _ in range(5) for value in root()]

    for index, values in enumerate(run_threads(worker)):
        assert values == [value * value for value in range(index, index + 20)] * 5
