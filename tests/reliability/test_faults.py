"""Faults: a broken batch fails only its waiters; a broken hook or context has a
defined effect; the scheduler is always clean afterwards.

What is defined (and tested here):
- A batch whose ``_flush`` raises, leaves items unset, or that is cancelled:
  only the tasks waiting on its items fail (with the flush's error, an
  AssertionError naming the item, or BatchCancelledError / the given error);
  every other task finishes with its value.
- An ``on_computed`` subscriber raising an Exception: reported (logged), as
  in asynq 1.x; nothing fails, the future keeps its value.
- A flush hook, a BaseException (KeyboardInterrupt, ...) of an
  ``on_computed`` subscriber, a flush group that breaks the protocol (its
  ``flush()`` raises), and KeyboardInterrupt out of a batch: the error
  reaches the synchronous caller after the group was flushed (or the task
  computed). When that caller is the outermost one, the
  run is abandoned: the tasks it left queued are cancelled (their ``finally``
  blocks run, they fail with AsyncTaskCancelledError) and never run later.
  Inside a task, a synchronous call's caller gets the error and may go on.
- A context's ``pause``/``resume`` raising (KeyboardInterrupt included): the
  error is thrown into its task at the ``yield`` (or raised by the ``with``
  statement on exit, or by a synchronous call once it is done); the other
  contexts are still paused and resumed and the other tasks finish.
After each, a second run works and the scheduler holds nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from asynq_batching import BatchCancelledError, sync
from asynq_contexts import AsyncContext, AsyncScopedValue
from asynq_core import (
    AsyncTaskCancelledError,
    ConstFuture,
    DeferredFuture,
    Future,
    FutureBase,
    asynq,
    get_scheduler,
)

ROWS = {key: f"row{key}" for key in range(10)}


@asynq()
def read(table: Any, key: int) -> Generator[Any, Any, Any]:
    return (yield table.lookup(key))


@asynq()
def compute(value: int) -> int:
    return value * 2


@asynq()
def read_twice(table: Any, key: int) -> Generator[Any, Any, Any]:
    first = yield table.lookup(key)
    second = yield table.lookup(key + 1)
    return first, second


def outcome(task: FutureBase[Any]) -> tuple[Any, ...]:
    error = task.error()
    if error is None:
        return ("value", task.value())
    return ("error", type(error).__name__, str(error))


@asynq()
def gather(tasks: list[FutureBase[Any]]) -> Generator[Any, Any, list[tuple[Any, ...]]]:
    """Waits for every task, whatever fails, and returns what became of each."""
    try:
        yield tasks
    except Exception:
        pass
    return [outcome(task) for task in tasks]


def assert_clean_scheduler() -> None:
    scheduler = get_scheduler()
    assert scheduler.active_task is None
    assert [task for task in scheduler._ready if not task.is_computed()] == []
    assert scheduler.pending_groups() == []


def second_run_works(table: Any) -> None:
    assert gather([read.asynq(table, 1), compute.asynq(4), read_twice.asynq(table, 2)]) == [
        ("value", "row1"),
        ("value", 8),
        ("value", ("row2", "row3")),
    ]
    assert_clean_scheduler()


# -- broken batches ---------------------------------------------------------------


def test_a_flush_that_raises_fails_only_the_tasks_waiting_on_its_items(make_table) -> None:
    good, bad = make_table("good", ROWS), make_table("bad", ROWS)
    bad.fail_with = ConnectionError("store down")
    tasks = [
        read.asynq(bad, 1),
        read.asynq(good, 2),
        compute.asynq(3),
        read_twice.asynq(good, 4),
        read_twice.asynq(bad, 6),
    ]
    assert gather(tasks) == [
        ("error", "ConnectionError", "store down"),
        ("value", "row2"),
        ("value", 6),
        ("value", ("row4", "row5")),
        ("error", "ConnectionError", "store down"),
    ]
    assert tasks[0].error() is tasks[4].error(), "one failed request, one error"
    assert bad.log == [("bad", [1, 6])]
    assert good.log == [("good", [2, 4]), ("good", [5])]
    assert_clean_scheduler()
    bad.fail_with = None
    second_run_works(bad)


def test_a_flush_that_leaves_items_unset_fails_only_their_waiters(make_table) -> None:
    table = make_table("forgetful", ROWS)
    table.leave_unset = frozenset({3})
    tasks = [read.asynq(table, 2), read.asynq(table, 3), read_twice.asynq(table, 2)]
    results = gather(tasks)
    assert results[0] == ("value", "row2")
    assert results[2] == ("error", "AssertionError", results[1][2])
    kind, error_type, message = results[1]
    assert (kind, error_type) == ("error", "AssertionError")
    assert "TableBatch._flush() did not compute" in message and "forgetful[3]" in message
    assert_clean_scheduler()
    table.leave_unset = frozenset()
    second_run_works(table)


@pytest.mark.parametrize("error", [None, TimeoutError("gave up")], ids=["default", "given"])
def test_a_cancelled_batch_fails_only_the_tasks_waiting_on_its_items(
    make_table, error: BaseException | None
) -> None:
    doomed, other = make_table("doomed", ROWS), make_table("other", ROWS)

    @asynq()
    def cancel_active_batch() -> str:
        doomed.active.cancel(error)
        return "cancelled"

    tasks = [
        read.asynq(doomed, 1),
        read.asynq(other, 2),
        read_twice.asynq(doomed, 3),
        cancel_active_batch.asynq(),  # runs last: the items above are in the batch
    ]
    results = gather(tasks)
    expected_type = "BatchCancelledError" if error is None else "TimeoutError"
    assert [result[:2] for result in results] == [
        ("error", expected_type),
        ("value", "row2"),
        ("error", expected_type),
        ("value", "cancelled"),
    ]
    if error is None:
        assert isinstance(tasks[0].error(), BatchCancelledError)
        assert "was cancelled" in str(tasks[0].error())
    else:
        assert tasks[0].error() is error
    assert doomed.log == [], "a cancelled batch is never flushed"
    assert_clean_scheduler()
    second_run_works(doomed)


def test_keyboard_interrupt_out_of_a_flush_stops_the_run_and_leaves_nothing_behind(
    make_table,
) -> None:
    good, bad, later = (make_table(name, ROWS) for name in ("good", "bad", "later"))
    bad.fail_with = KeyboardInterrupt()
    ran_after: list[str] = []
    closed: list[str] = []

    @asynq()
    def reader_then_more(table: Any, key: int) -> Generator[Any, Any, Any]:
        try:
            value = yield table.lookup(key)
            ran_after.append(table.name)
            return value
        finally:
            closed.append(table.name)

    # Flush order: good (two items, the highest priority), then bad, then later.
    tasks = [
        reader_then_more.asynq(bad, 1),
        reader_then_more.asynq(good, 2),
        reader_then_more.asynq(good, 3),
        reader_then_more.asynq(later, 4),
    ]
    root = gather.asynq(tasks)
    with pytest.raises(KeyboardInterrupt):
        root.value()
    assert [task.value() for task in tasks[1:3]] == ["row2", "row3"]
    assert ran_after == ["good", "good"]
    # The reader woken by the interrupted flush, and the one whose batch was
    # still pending (that batch is cancelled, never flushed), are cancelled.
    for task in (tasks[0], tasks[3], root):
        assert isinstance(task.error(), AsyncTaskCancelledError)
        assert "KeyboardInterrupt" in str(task.error())
    assert later.log == []
    assert sorted(closed) == ["bad", "good", "good", "later"], "every finally block ran"
    assert_clean_scheduler()
    bad.fail_with = None
    second_run_works(bad)
    second_run_works(later)
    assert ran_after == ["good", "good"], "nothing of the abandoned run ran in the second one"


class _BrokenGroup:
    """A flush group that breaks the protocol: its flush() raises."""

    def __init__(self) -> None:
        self.flushes = 0

    def get_priority(self) -> tuple[int, int]:
        return (1, 0)  # before any TableBatch

    def flush(self) -> None:
        self.flushes += 1
        raise OSError("broken group")


class _BrokenItem(DeferredFuture[Any]):
    def __init__(self, group: _BrokenGroup) -> None:
        super().__init__()
        self.group = group

    def flush_group(self) -> _BrokenGroup:
        return self.group


def test_a_flush_group_that_raises_reaches_the_caller_and_the_run_is_abandoned(
    make_table,
) -> None:
    group = _BrokenGroup()
    table = make_table("rows", ROWS)

    @asynq()
    def waits_on_broken() -> Generator[Any, Any, Any]:
        return (yield _BrokenItem(group))

    tasks = [waits_on_broken.asynq(), read.asynq(table, 1)]
    with pytest.raises(OSError, match="broken group"):
        gather(tasks)
    assert group.flushes == 1
    assert_clean_scheduler()
    second_run_works(table)


# -- hooks and subscribers ---------------------------------------------------------


@pytest.mark.parametrize("hook_name", ["on_before_batch_flush", "on_after_batch_flush"])
@pytest.mark.parametrize("error_cls", [RuntimeError, KeyboardInterrupt])
def test_a_failing_flush_hook_reaches_the_caller_after_the_flush(
    make_table, hook_name: str, error_cls: type[BaseException]
) -> None:
    table = make_table("rows", ROWS)
    hook = getattr(get_scheduler(), hook_name)
    resumed: list[int] = []

    def broken_hook(group: Any) -> None:
        raise error_cls("hook broke")

    @asynq()
    def reader(key: int) -> Generator[Any, Any, Any]:
        value = yield table.lookup(key)
        resumed.append(key)
        return value

    hook.subscribe(broken_hook)
    tasks = [reader.asynq(1), reader.asynq(2), compute.asynq(5)]
    with pytest.raises(error_cls, match="hook broke"):
        gather(tasks)
    assert table.log == [("rows", [1, 2])], "the group was flushed once, hook or not"
    assert tasks[2].value() == 10
    # The readers were woken by the flush, then cancelled with the run.
    assert resumed == []
    for task in tasks[:2]:
        assert isinstance(task.error(), AsyncTaskCancelledError)
        assert "hook broke" in str(task.error())
    assert_clean_scheduler()
    hook.unsubscribe(broken_hook)
    second_run_works(table)
    assert resumed == [], "nothing of the abandoned run ran in the second one"


def test_a_failing_flush_hook_inside_a_synchronous_call_reaches_that_call(
    make_table,
) -> None:
    table = make_table("rows", ROWS)
    scheduler = get_scheduler()
    failures = [RuntimeError("hook broke once")]

    def breaks_once(group: Any) -> None:
        if failures:
            raise failures.pop()

    @asynq()
    def calls_synchronously() -> Generator[Any, Any, Any]:
        try:
            return read(table, 1)
        except RuntimeError as error:
            caught = str(error)
        # The nested loop stopped at the error; the outer run goes on.
        return caught, (yield table.lookup(2))

    scheduler.on_after_batch_flush.subscribe(breaks_once)
    tasks = [calls_synchronously.asynq(), read.asynq(table, 3)]
    assert gather(tasks) == [
        ("value", ("hook broke once", "row2")),
        ("value", "row3"),
    ]
    assert_clean_scheduler()


class Interrupt(BaseException):
    """A BaseException a subscriber raises (as KeyboardInterrupt would)."""


def test_an_exception_of_an_on_computed_subscriber_of_a_task_is_reported(
    make_table, caplog: pytest.LogCaptureFixture
) -> None:
    table = make_table("rows", ROWS)
    seen: list[Any] = []

    def broken_subscriber(task: Any) -> None:
        raise ValueError("subscriber broke")

    tasks = [read.asynq(table, 1), read.asynq(table, 2), compute.asynq(3)]
    tasks[0].on_computed.subscribe(broken_subscriber)
    tasks[0].on_computed.subscribe(seen.append)
    assert gather(tasks) == [("value", "row1"), ("value", "row2"), ("value", 6)]
    assert seen == [tasks[0]], "every subscriber ran"
    assert "subscriber broke" in caplog.text
    assert_clean_scheduler()
    second_run_works(table)


def test_a_base_exception_of_an_on_computed_subscriber_of_a_task_reaches_the_caller(
    make_table,
) -> None:
    table = make_table("rows", ROWS)
    seen: list[Any] = []

    def broken_subscriber(task: Any) -> None:
        raise Interrupt("subscriber broke")

    tasks = [read.asynq(table, 1), read.asynq(table, 2), compute.asynq(3)]
    tasks[0].on_computed.subscribe(broken_subscriber)
    tasks[0].on_computed.subscribe(seen.append)
    with pytest.raises(Interrupt, match="subscriber broke"):
        gather(tasks)
    assert seen == [tasks[0]], "every subscriber ran"
    assert tasks[0].value() == "row1", "the task keeps its value"
    assert tasks[2].value() == 6
    assert_clean_scheduler()
    second_run_works(table)


def test_a_base_exception_of_a_subscriber_of_a_lazy_future_reaches_the_caller(
    make_table,
) -> None:
    table = make_table("rows", ROWS)
    lazy = Future(lambda: "computed when first waited on")

    def broken_subscriber(future: Any) -> None:
        raise Interrupt("subscriber broke")

    lazy.on_computed.subscribe(broken_subscriber)

    @asynq()
    def waits_on_lazy() -> Generator[Any, Any, Any]:
        return (yield lazy)

    tasks = [waits_on_lazy.asynq(), read.asynq(table, 1)]
    with pytest.raises(Interrupt):
        gather(tasks)
    assert lazy.value() == "computed when first waited on"
    assert isinstance(tasks[0].error(), AsyncTaskCancelledError)
    assert_clean_scheduler()
    second_run_works(table)


def test_a_base_exception_of_a_subscriber_of_a_batch_item(make_table) -> None:
    # The subscriber's error interrupts the batch's _flush: the item it was
    # fired for keeps its value, the items not set yet fail, and the error
    # reaches the synchronous caller, like a KeyboardInterrupt out of a batch.
    table = make_table("rows", ROWS)
    items = [table.lookup(key) for key in (1, 2, 3)]

    def broken_subscriber(item: Any) -> None:
        raise Interrupt("subscriber broke")

    items[1].on_computed.subscribe(broken_subscriber)

    @asynq()
    def root() -> Generator[Any, Any, Any]:
        return (yield items)

    with pytest.raises(Interrupt, match="subscriber broke"):
        root()
    assert [outcome(item)[:2] for item in items] == [
        ("value", "row1"),
        ("value", "row2"),
        ("error", "Interrupt"),
    ]
    assert_clean_scheduler()
    second_run_works(table)


# -- contexts -----------------------------------------------------------------------


class FlakyContext(AsyncContext):
    """Logs its pauses and resumes; raises ``error`` at the ``fail_at``-th call of
    ``fail_in`` ("pause" or "resume")."""

    def __init__(
        self, name: str, log: list[str], fail_in: str = "", fail_at: int = 0, error: Any = None
    ) -> None:
        self.name = name
        self.log = log
        self.fail_in = fail_in
        self.fail_at = fail_at
        self.error = error
        self.calls = {"pause": 0, "resume": 0}

    def _record(self, what: str) -> None:
        self.calls[what] += 1
        self.log.append(f"{what} {self.name}")
        if what == self.fail_in and self.calls[what] == self.fail_at:
            raise self.error

    def resume(self) -> None:
        self._record("resume")

    def pause(self) -> None:
        self._record("pause")


@pytest.mark.parametrize("error_cls", [ValueError, KeyboardInterrupt])
@pytest.mark.parametrize("fail_in", ["pause", "resume"])
def test_a_failing_context_fails_its_task_at_the_yield_and_nothing_else(
    make_table, fail_in: str, error_cls: type[BaseException]
) -> None:
    table = make_table("rows", ROWS)
    log: list[str] = []
    # The second call: the first pause is at the yield, the first resume at enter.
    inner = FlakyContext("inner", log, fail_in, 2, error_cls(f"{fail_in} broke"))
    outer = FlakyContext("outer", log)

    @asynq()
    def in_contexts() -> Generator[Any, Any, Any]:
        with outer, inner:
            first = yield table.lookup(1)
            second = yield table.lookup(2)
        return first, second

    tasks = [in_contexts.asynq(), read_twice.asynq(table, 4), compute.asynq(1)]

    @asynq()
    def root() -> Generator[Any, Any, Any]:
        try:
            yield tasks
        except error_cls:
            pass
        return [outcome(task) for task in tasks]

    results = root()
    assert results[0] == ("error", error_cls.__name__, f"{fail_in} broke")
    assert results[1:] == [("value", ("row4", "row5")), ("value", 2)]
    # The other context was still paused and resumed around the failing one, in order.
    assert log[:6] == [
        "resume outer",
        "resume inner",
        "pause inner",
        "pause outer",
        "resume outer",
        "resume inner",
    ]
    assert log[-2:] == ["pause inner", "pause outer"]
    assert log.count("pause outer") == log.count("resume outer")
    assert_clean_scheduler()
    second_run_works(table)


def test_a_context_failing_on_exit_fails_the_with_statement(make_table) -> None:
    table = make_table("rows", ROWS)
    log: list[str] = []
    # Pauses: at the yield (1st), then on exit (2nd).
    context = FlakyContext("ctx", log, "pause", 2, KeyboardInterrupt("exit broke"))

    @asynq()
    def exits_badly() -> Generator[Any, Any, Any]:
        try:
            with context:
                value = yield table.lookup(1)
        except KeyboardInterrupt as error:
            return value, str(error)
        return value, None

    assert exits_badly() == ("row1", "exit broke")
    assert log == ["resume ctx", "pause ctx", "resume ctx", "pause ctx"]
    assert_clean_scheduler()
    second_run_works(table)


def test_a_context_failing_during_a_synchronous_call_reaches_the_caller_after_it(
    make_table,
) -> None:
    table = make_table("rows", ROWS)
    log: list[str] = []
    # Pauses: when the synchronous call starts (1st).
    context = FlakyContext("ctx", log, "pause", 1, ValueError("pause broke"))

    @asynq()
    def calls_inside_context() -> Generator[Any, Any, Any]:
        callee = read.asynq(table, 1)
        with context:
            try:
                callee.value()
            except ValueError as error:
                return callee.value(), str(error)
        return None

    assert calls_inside_context() == ("row1", "pause broke")
    assert log == ["resume ctx", "pause ctx", "resume ctx", "pause ctx"]
    assert_clean_scheduler()


def test_an_abandoned_task_is_not_resumed_by_a_later_flush(make_table) -> None:
    # A task queued when the run was abandoned is cancelled, so even a later
    # flush of a batch it was waiting on cannot bring it back.
    table = make_table("rows", ROWS)
    resumed: list[str] = []

    def abort(group: Any) -> None:
        raise RuntimeError("abort")

    @asynq()
    def first_reader() -> Generator[Any, Any, Any]:
        yield table.lookup(1)
        resumed.append("first")
        return (yield table.lookup(2))

    get_scheduler().on_after_batch_flush.subscribe(abort)
    task = first_reader.asynq()
    with pytest.raises(RuntimeError, match="abort"):
        task.value()
    get_scheduler().on_after_batch_flush.unsubscribe(abort)
    assert isinstance(task.error(), AsyncTaskCancelledError)
    assert read(table, 3) == "row3"
    assert resumed == []
    assert gather([ConstFuture(1)]) == [("value", 1)]


def test_contexts_of_abandoned_tasks_are_left_paused(make_table) -> None:
    # Closing an abandoned task's generator exits its with blocks; the
    # scheduler paused the contexts already, so they are not paused twice.
    table = make_table("rows", ROWS)
    scoped = AsyncScopedValue("outside")
    log: list[str] = []
    context = FlakyContext("ctx", log)

    def abort(group: Any) -> None:
        raise RuntimeError("abort")

    @asynq()
    def reader_in_contexts(key: int) -> Generator[Any, Any, Any]:
        with scoped.override(f"task {key}"), context:
            return (yield table.lookup(key))

    get_scheduler().on_after_batch_flush.subscribe(abort)
    task = reader_in_contexts.asynq(1)
    with pytest.raises(RuntimeError, match="abort"):
        task.value()
    get_scheduler().on_after_batch_flush.unsubscribe(abort)
    assert isinstance(task.error(), AsyncTaskCancelledError)
    assert scoped.get() == "outside"
    assert log == ["resume ctx", "pause ctx"]
    second_run_works(table)


def test_a_finally_block_of_an_abandoned_task_may_call_synchronously(make_table) -> None:
    table = make_table("rows", ROWS)
    resumed: list[int] = []
    cleaned: list[str] = []

    def abort(group: Any) -> None:
        get_scheduler().on_after_batch_flush.unsubscribe(abort)  # once
        raise RuntimeError("abort")

    @asynq()
    def cleanup(key: int) -> Generator[Any, Any, str]:
        yield sync()  # its run must wait, hence look for other ready tasks
        return f"cleaned {key}"

    @asynq()
    def reader_with_cleanup(key: int) -> Generator[Any, Any, Any]:
        try:
            value = yield table.lookup(key)
            resumed.append(key)
            return value
        finally:
            cleaned.append(cleanup(key))

    get_scheduler().on_after_batch_flush.subscribe(abort)
    tasks = [reader_with_cleanup.asynq(key) for key in (1, 2, 3)]
    with pytest.raises(RuntimeError, match="abort"):
        gather(tasks)
    # The cleanup's own synchronous run resumed none of the abandoned readers.
    assert resumed == []
    assert sorted(cleaned) == ["cleaned 1", "cleaned 2", "cleaned 3"]
    assert all(isinstance(task.error(), AsyncTaskCancelledError) for task in tasks)
    assert_clean_scheduler()
    second_run_works(table)
