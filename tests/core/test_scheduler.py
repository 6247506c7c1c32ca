"""The per-thread scheduler: synchronous calls, flushing groups, recursion, cycles, contexts."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

import asynq_core
from asynq_core import (
    AsyncTask,
    AsyncTaskError,
    TaskScheduler,
    asynq,
    get_active_task,
    get_scheduler,
)
from asynq_core._debug import options


@asynq()
def identity(value: Any) -> Any:
    return value


# -- one scheduler per thread ---------------------------------------------


def test_get_scheduler_is_per_thread() -> None:
    mine = get_scheduler()
    assert isinstance(mine, TaskScheduler)
    assert get_scheduler() is mine

    seen: dict[str, Any] = {}

    @asynq()
    def in_thread() -> Any:
        seen["active"] = get_active_task()
        seen["scheduler"] = get_scheduler()
        value = yield identity.asynq("from thread")
        return value

    def run() -> None:
        seen["before"] = get_active_task()
        seen["result"] = in_thread()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen["result"] == "from thread"
    assert seen["scheduler"] is not mine
    assert isinstance(seen["active"], AsyncTask)
    assert seen["before"] is None
    assert get_active_task() is None


def test_threads_run_their_tasks_independently() -> None:
    # Each thread blocks inside its own task until both are inside: with a
    # shared scheduler one of them could never get in.
    barrier = threading.Barrier(2, timeout=10)
    results: dict[int, Any] = {}

    @asynq()
    def meet(n: int) -> Any:
        barrier.wait()
        value = yield identity.asynq(n * 10)
        return (value, get_active_task().args)

    def run(n: int) -> None:
        results[n] = meet(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {1: (10, (1,)), 2: (20, (2,))}


def test_get_active_task_is_the_running_task_or_none() -> None:
    seen = []

    @asynq()
    def inner() -> Any:
        seen.append(("inner", get_active_task()))
        yield None

    @asynq()
    def outer() -> Any:
        me = get_active_task()
        seen.append(("outer", me))
        inner()  # a synchronous call nests a loop; the inner task is active in it
        seen.append(("outer again", get_active_task() is me))
        yield None

    assert get_active_task() is None
    task = outer.asynq()
    task.value()
    assert seen[0] == ("outer", task)
    assert seen[1][0] == "inner" and seen[1][1] is not task
    assert seen[1][1].creator is task
    assert seen[2] == ("outer again", True)
    assert get_active_task() is None
    assert get_scheduler().active_task is None


# -- synchronous calls ------------------------------------------------------


def test_synchronous_calls_nest_inside_tasks() -> None:
    @asynq()
    def leaf(x: int) -> Any:
        yield None
        return x + 1

    @asynq()
    def middle(x: int) -> Any:
        return leaf(x) * 10  # synchronous call inside a task

    @asynq()
    def outer() -> Any:
        first = middle(1)
        values = yield [middle.asynq(2), leaf.asynq(3)]
        return first, values

    assert outer() == (20, [30, 4])


def test_synchronous_call_of_a_queued_sibling_runs_it_once() -> None:
    runs = []
    handles: dict[str, AsyncTask[Any]] = {}

    @asynq()
    def sibling() -> Any:
        runs.append("sibling")
        yield None
        return "sibling value"

    @asynq()
    def impatient() -> Any:
        runs.append("impatient")
        # The sibling is queued but has not run: ask for it synchronously.
        return handles["sibling"].value()

    @asynq()
    def parent() -> Any:
        handles["sibling"] = sibling.asynq()
        return (yield [impatient.asynq(), handles["sibling"]])

    assert parent() == ["sibling value", "sibling value"]
    assert runs == ["impatient", "sibling"]


def test_task_wait_for_runs_a_task() -> None:
    task = identity.asynq("waited")
    get_scheduler().wait_for(task)
    assert task.is_computed()
    assert task.value() == "waited"
    get_scheduler().wait_for(task)  # already computed: nothing to do


# -- flushing groups of deferred futures ------------------------------------


def test_the_highest_priority_pending_group_is_flushed_first(make_batch, flush_log) -> None:
    low = make_batch("low", priority=1, compute=lambda key: key * 10)
    high = make_batch("high", priority=5, compute=lambda key: key * 100)
    events = []

    @asynq()
    def fetch(item: Any) -> Any:
        events.append(("start", item.key))
        value = yield item
        events.append(("got", item.key))
        return value

    @asynq()
    def main() -> Any:
        return (
            yield [fetch.asynq(low.item(1)), fetch.asynq(high.item(2)), fetch.asynq(low.item(3))]
        )

    assert main() == [10, 200, 30]
    # Every task runs until it waits before anything is flushed; then the
    # batches are flushed by priority, each once, with all of its items.
    assert events[:3] == [("start", 1), ("start", 2), ("start", 3)]
    assert flush_log == [("high", [2]), ("low", [1, 3])]
    assert events.index(("got", 2)) < min(events.index(("got", 1)), events.index(("got", 3)))
    assert (low.flush_count, high.flush_count) == (1, 1)


def test_tasks_run_before_a_flush_and_can_add_to_the_batch(make_batch, flush_log) -> None:
    batch = make_batch("one")

    @asynq()
    def lookup(key: str) -> Any:
        yield None  # let other tasks run first
        return (yield batch.item(key))

    @asynq()
    def main() -> Any:
        return (yield [lookup.asynq(key) for key in "abc"])

    assert main() == ["a", "b", "c"]
    assert flush_log == [("one", ["a", "b", "c"])]


def test_the_values_of_a_yielded_dict_run_last_to_first_as_in_asynq_1x(
    make_batch, flush_log
) -> None:
    batch = make_batch("one")

    @asynq()
    def lookup(key: str) -> Any:
        return (yield batch.item(key))

    @asynq()
    def main() -> Any:
        return (yield {key: lookup.asynq(key) for key in "abc"})

    assert main() == {"a": "a", "b": "b", "c": "c"}
    assert flush_log == [("one", ["c", "b", "a"])]


def test_flush_hooks_are_called_with_the_group_around_each_flush(make_batch) -> None:
    first = make_batch("first", priority=2)
    second = make_batch("second", priority=1)
    events = []
    scheduler = get_scheduler()

    def before(group: Any) -> None:
        events.append(("before", group.name, group.flush_count))

    def after(group: Any) -> None:
        events.append(("after", group.name, group.flush_count))

    scheduler.on_before_batch_flush.subscribe(before)
    scheduler.on_after_batch_flush.subscribe(after)

    @asynq()
    def main() -> Any:
        return (yield [first.item("x"), second.item("y")])

    assert main() == ["x", "y"]
    assert events == [
        ("before", "first", 0),
        ("after", "first", 1),
        ("before", "second", 0),
        ("after", "second", 1),
    ]


def test_a_failing_before_flush_hook_still_flushes_the_group(make_batch) -> None:
    batch = make_batch("b")
    item = batch.item("k")

    def broken_hook(group: Any) -> None:
        raise RuntimeError("hook failed")

    get_scheduler().on_before_batch_flush.subscribe(broken_hook)

    @asynq()
    def main() -> Any:
        return (yield item)

    with pytest.raises(RuntimeError, match="hook failed"):
        main()
    assert batch.flush_count == 1
    assert item.value() == "k"


def test_a_deferred_future_asked_for_outside_a_task_flushes_its_group(
    make_batch, flush_log
) -> None:
    batch = make_batch("direct", compute=str.upper)
    a, b = batch.item("a"), batch.item("b")
    assert not a.is_computed()
    assert a.value() == "A"
    assert b.is_computed()
    assert b.value() == "B"
    assert flush_log == [("direct", ["a", "b"])]


def test_errors_of_a_group_go_to_its_items(make_batch) -> None:
    def compute(key: int) -> int:
        if key < 0:
            raise ValueError(f"negative {key}")
        return key

    batch = make_batch("mixed", compute=compute)

    @asynq()
    def fetch(key: int) -> Any:
        try:
            return (yield batch.item(key))
        except ValueError as error:
            return str(error)

    @asynq()
    def main() -> Any:
        return (yield [fetch.asynq(1), fetch.asynq(-2), fetch.asynq(3)])

    assert main() == [1, "negative -2", 3]


def test_a_nested_synchronous_call_may_flush_a_group_pending_outside(make_batch, flush_log) -> None:
    batch = make_batch("shared")

    @asynq()
    def sync_lookup(key: str) -> Any:
        return batch.item(key).value()

    @asynq()
    def uses_sync_call() -> Any:
        yield None  # lets the sibling put its item in the batch first
        return sync_lookup(key="inner") + "!"

    @asynq()
    def main() -> Any:
        return (yield [batch.item("outer"), uses_sync_call.asynq()])

    assert main() == ["outer", "inner!"]
    assert flush_log == [("shared", ["outer", "inner"])]


def test_pending_groups_lists_what_will_be_flushed(make_batch) -> None:
    batch = make_batch("p")
    seen = []

    @asynq()
    def waiter() -> Any:
        return (yield batch.item(1))

    @asynq()
    def observer() -> Any:
        yield None
        seen.append(get_scheduler().pending_groups())

    @asynq()
    def main() -> Any:
        yield [waiter.asynq(), observer.asynq()]

    main()
    assert seen == [[batch]]
    assert get_scheduler().pending_groups() == []


def test_a_deferred_future_that_is_never_set_is_a_clear_error(make_batch) -> None:
    batch = make_batch("forgetful")
    batch.flush = lambda: None  # a broken group: flushing sets nothing

    @asynq()
    def stuck() -> Any:
        return (yield batch.item("lost"))

    with pytest.raises(AsyncTaskError, match=r"stuck\(\).*can never be computed"):
        stuck()


# -- reset and dump -----------------------------------------------------------


def test_reset_forgets_queued_tasks_and_pending_groups(make_batch) -> None:
    scheduler = get_scheduler()
    batch = make_batch("left")
    batch.item("x")
    identity.asynq(1)._schedule_computation(scheduler)  # queued, never run
    scheduler.add_pending_group(batch)
    assert scheduler._ready
    assert scheduler.pending_groups() == [batch]
    scheduler.reset()
    assert scheduler._ready == []
    assert scheduler.pending_groups() == []
    assert scheduler.active_task is None
    assert identity("still works") == "still works"


def test_module_reset_replaces_this_threads_scheduler() -> None:
    before = get_scheduler()
    asynq_core.scheduler.reset()
    after = get_scheduler()
    assert after is not before
    assert isinstance(after, TaskScheduler)
    assert identity(3) == 3


def test_dump_shows_ready_tasks_and_pending_groups(make_batch, debug_output) -> None:
    batch = make_batch("dumped")

    @asynq()
    def waiter() -> Any:
        return (yield batch.item(1))

    @asynq()
    def dumper() -> Any:
        yield None
        get_scheduler().dump()

    @asynq()
    def later() -> Any:
        yield None

    @asynq()
    def main() -> Any:
        yield [waiter.asynq(), dumper.asynq(), later.asynq()]

    main()
    text = debug_output.getvalue()
    assert "TaskScheduler" in text
    assert "ready: <AsyncTask" in text and "later()" in text
    assert "pending: <TinyBatch dumped>" in text
    assert "active: <AsyncTask" in text and "dumper()" in text


# -- recursion ---------------------------------------------------------------


@asynq()
def countdown(n: int) -> Any:
    if n == 0:
        return 0
    below = yield countdown.asynq(n - 1)
    return below + 1


def test_a_ten_thousand_deep_chain_does_not_hit_the_recursion_limit() -> None:
    assert sys.getrecursionlimit() < 10_000
    assert countdown(10_000) == 10_000


def test_an_error_at_the_bottom_of_a_deep_chain_reaches_the_top() -> None:
    @asynq()
    def fails_at_bottom(n: int) -> Any:
        if n == 0:
            raise KeyError("bottom")
        yield fails_at_bottom.asynq(n - 1)

    with pytest.raises(KeyError, match="bottom"):
        fails_at_bottom(5_000)


def test_infinite_recursion_ends_with_a_clear_runtime_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(options, "MAX_TASK_STACK_SIZE", 200)
    calls = []

    @asynq()
    def forever(n: int) -> Any:
        calls.append(n)
        yield forever.asynq(n + 1)

    with pytest.raises(RuntimeError, match="MAX_TASK_STACK_SIZE") as info:
        forever(0)
    assert "forever(" in str(info.value)
    assert "infinite recursion" in str(info.value)
    assert 190 <= len(calls) <= 210
    # The scheduler is usable afterwards.
    assert countdown(10) == 10


# -- tasks waiting on themselves --------------------------------------------


def test_a_task_yielding_itself_gets_a_clear_error() -> None:
    @asynq()
    def narcissus() -> Any:
        yield get_active_task()

    with pytest.raises(AsyncTaskError, match=r"narcissus\(\).*yielded itself"):
        narcissus()


def test_a_task_asking_for_its_own_value_gets_a_clear_error() -> None:
    @asynq()
    def impatient() -> Any:
        get_active_task().value()
        yield None

    with pytest.raises(AsyncTaskError, match=r"impatient\(\).*waits for itself"):
        impatient()


def test_a_task_yielding_itself_inside_a_list_gets_a_clear_error() -> None:
    @asynq()
    def in_list() -> Any:
        yield [identity.asynq(1), get_active_task()]

    with pytest.raises(AsyncTaskError, match=r"in_list\(\).*yielded itself"):
        in_list()


@pytest.mark.parametrize("wait", ["yield", "value()"])
def test_a_cycle_of_tasks_is_a_clear_error_naming_them(wait: str) -> None:
    handles: dict[str, AsyncTask[Any]] = {}

    @asynq()
    def task_a() -> Any:
        handles["a"] = get_active_task()
        yield task_b.asynq()

    if wait == "yield":

        @asynq()
        def task_b() -> Any:
            yield handles["a"]

    else:

        @asynq()
        def task_b() -> Any:
            return handles["a"].value()  # a synchronous call closes the cycle

    with pytest.raises(AsyncTaskError, match="dependency cycle") as info:
        task_a()
    message = str(info.value)
    assert message.index("task_a()") < message.index("task_b()") < message.rindex("task_a()")
    assert "task_b()" in str(info.value)


# -- the contexts seam ----------------------------------------------------------


class RecordingContext:
    """An object of the task-context protocol that logs pause/resume."""

    def __init__(self, name: str, log: list[str], fail_on: str | None = None) -> None:
        self.name = name
        self.log = log
        self.fail_on = fail_on

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")
        if self.fail_on == "resume":
            raise ValueError(f"resume {self.name} failed")

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")
        if self.fail_on == "pause":
            raise ValueError(f"pause {self.name} failed")


def test_contexts_resume_in_entry_order_and_pause_in_reverse() -> None:
    log: list[str] = []

    @asynq()
    def other() -> Any:
        log.append("other runs")
        yield None

    @asynq()
    def with_contexts() -> Any:
        task = get_active_task()
        # Created before entering: a task created inside inherits the contexts.
        dependency = other.asynq()
        first, second = RecordingContext("1", log), RecordingContext("2", log)
        task._enter_context(first)
        task._enter_context(second)
        log.append("entered")
        yield dependency
        log.append("back")
        task._leave_context(second)
        task._leave_context(first)
        log.append("left")

    with_contexts()
    assert log == [
        "entered",
        "pause 2",
        "pause 1",
        "other runs",
        "resume 1",
        "resume 2",
        "back",
        "left",
    ]


def test_contexts_are_paused_during_a_synchronous_call() -> None:
    log: list[str] = []

    @asynq()
    def inner() -> Any:
        log.append("inner runs")
        yield None

    @asynq()
    def outer() -> Any:
        inner_task = inner.asynq()
        context = RecordingContext("c", log)
        get_active_task()._enter_context(context)
        inner_task.value()
        log.append("after call")
        get_active_task()._leave_context(context)

    outer()
    assert log == ["pause c", "inner runs", "resume c", "after call"]


def test_a_context_left_entered_is_paused_when_the_task_ends() -> None:
    log: list[str] = []

    @asynq()
    def leaves_it() -> Any:
        dependency = identity.asynq(1)
        get_active_task()._enter_context(RecordingContext("c", log))
        yield dependency
        log.append("end")

    leaves_it()
    assert log == ["pause c", "resume c", "end", "pause c"]


def test_a_resume_error_is_raised_at_the_yield_and_others_still_resume() -> None:
    log: list[str] = []

    @asynq()
    def task() -> Any:
        me = get_active_task()
        dependency = identity.asynq(1)
        me._enter_context(RecordingContext("ok1", log))
        me._enter_context(RecordingContext("bad", log, fail_on="resume"))
        me._enter_context(RecordingContext("ok2", log))
        try:
            yield dependency
        except ValueError as error:
            log.append(f"caught {error}")

    task()
    assert log[:3] == ["pause ok2", "pause bad", "pause ok1"]
    assert log[3:7] == ["resume ok1", "resume bad", "resume ok2", "caught resume bad failed"]


def test_a_pause_error_fails_the_task_after_its_dependencies_finish() -> None:
    log: list[str] = []

    @asynq()
    def dependency() -> Any:
        log.append("dependency runs")
        yield None
        log.append("dependency done")

    @asynq()
    def task() -> Any:
        me = get_active_task()
        created = dependency.asynq()
        me._enter_context(RecordingContext("bad", log, fail_on="pause"))
        me._enter_context(RecordingContext("ok", log))
        yield created
        log.append("not reached")

    with pytest.raises(ValueError, match="pause bad failed"):
        task()
    assert log[:2] == ["pause ok", "pause bad"]
    assert "dependency done" in log
    assert "not reached" not in log


def test_a_pause_error_when_the_task_ends_fails_it() -> None:
    log: list[str] = []

    @asynq()
    def task() -> Any:
        get_active_task()._enter_context(RecordingContext("bad", log, fail_on="pause"))
        log.append("body")
        return "value"
        yield

    created = task.asynq()
    with pytest.raises(ValueError, match="pause bad failed"):
        created.value()
    assert log == ["body", "pause bad"]
    assert isinstance(created.error(), ValueError)


def test_a_task_created_inside_a_context_inherits_a_copy_of_the_contexts() -> None:
    log: list[str] = []

    @asynq()
    def child(name: str) -> Any:
        log.append(f"{name} runs")
        yield None

    @asynq()
    def parent() -> Any:
        me = get_active_task()
        context = RecordingContext("c", log)
        me._enter_context(context)
        inside = child.asynq("inside")
        me._leave_context(context)
        outside = child.asynq("outside")
        log.append("left")
        yield [inside, outside]

    parent()
    # The child created inside runs inside the context (resumed for it, paused
    # after); leaving it in the parent does not take it from the child.
    assert log == ["left", "resume c", "inside runs", "pause c", "outside runs"]


def test_leaving_a_context_that_was_not_entered_is_an_error() -> None:
    @asynq()
    def task() -> Any:
        get_active_task()._leave_context(RecordingContext("never", []))
        yield None

    with pytest.raises(AsyncTaskError, match="was not entered"):
        task()
