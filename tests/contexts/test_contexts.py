"""AsyncContext and NonAsyncContext: active exactly while their task (and what it
calls inside the block) runs, whatever the scheduler interleaves."""

from __future__ import annotations

import gc
import io
import warnings
from typing import Any

import pytest

from asynq_contexts import AsyncContext, NonAsyncContext, contexts
from asynq_core import (
    AsyncTaskError,
    ConstFuture,
    DeferredFuture,
    asynq,
    debug,
    get_active_task,
)


class Recorder(AsyncContext):
    """Logs its resumes and pauses, and says whether it is active right now."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.active = False

    def resume(self) -> None:
        assert not self.active, f"{self.name} resumed twice"
        self.active = True
        self.log.append(f"resume {self.name}")

    def pause(self) -> None:
        assert self.active, f"{self.name} paused twice"
        self.active = False
        self.log.append(f"pause {self.name}")


class catch_warnings(AsyncContext):  # the README's example, made real
    """Ignores warnings while its task runs."""

    def resume(self) -> None:
        self._inner = warnings.catch_warnings()
        self._inner.__enter__()
        warnings.simplefilter("ignore")

    def pause(self) -> None:
        self._inner.__exit__(None, None, None)


def shown_warnings(fn: Any) -> list[str]:
    """Runs ``fn()`` and returns the messages of the warnings it shows."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(warning.message) for warning in caught]


# -- outside any task ---------------------------------------------------------


def test_outside_a_task_it_is_a_plain_context_manager() -> None:
    log: list[str] = []
    ctx = Recorder("c", log)
    with ctx as entered:
        assert entered is ctx
        assert ctx.active
    assert log == ["resume c", "pause c"]


def test_pause_and_resume_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError, match="resume"):
        with AsyncContext():
            pass


class Counter(AsyncContext):
    """Counts how many times it is resumed beyond paused (1.x contexts may nest)."""

    def __init__(self) -> None:
        self.depth = 0
        self.log: list[str] = []

    def resume(self) -> None:
        self.depth += 1
        self.log.append("resume")

    def pause(self) -> None:
        self.depth -= 1
        self.log.append("pause")


def test_a_context_may_be_entered_again_while_active_as_in_asynq_1x() -> None:
    ctx = Counter()
    with ctx:
        with ctx:
            assert ctx.depth == 2
        assert ctx.depth == 1
    assert ctx.log == ["resume", "resume", "pause", "pause"]
    with ctx:  # and again after exit
        assert ctx.depth == 1
    assert ctx.depth == 0


def test_a_context_exited_without_being_entered_is_paused_as_in_asynq_1x() -> None:
    # A subclass whose __enter__ does not call ours (and resumes itself).
    class SelfResuming(Counter):
        def __enter__(self) -> SelfResuming:
            self.resume()
            return self

    @asynq()
    def task(ctx: Counter) -> Any:
        with ctx:
            yield ConstFuture(1)
        return ctx.log

    assert task(SelfResuming()) == ["resume", "pause"]
    ctx = Counter()
    ctx.__exit__(None, None, None)
    assert ctx.log == ["pause"]


def test_a_context_entered_again_in_its_task_stays_until_the_last_exit(store: Any) -> None:
    ctx = Counter()

    @asynq()
    def task() -> Any:
        with ctx:
            with ctx:
                yield store.get(1)
                assert ctx.depth == 2
            yield store.get(2)
            assert ctx.depth == 1
        return get_active_task()._contexts

    assert task() == {}
    assert ctx.depth == 0


def test_a_context_shared_by_two_tasks_is_active_in_each(store: Any) -> None:
    ctx = Counter()
    seen: list[tuple[int, int]] = []

    @asynq()
    def task(key: int) -> Any:
        with ctx:
            seen.append((key, ctx.depth))
            yield store.get(key)
            seen.append((key, ctx.depth))
        seen.append((key, ctx.depth))

    @asynq()
    def both() -> Any:
        yield task.asynq(1), task.asynq(2)

    both()
    assert seen == [(1, 1), (2, 1), (1, 1), (1, 0), (2, 1), (2, 0)]
    assert ctx.depth == 0
    assert store.flushes == [[1, 2]]


def test_a_non_async_context_may_be_entered_again_while_active() -> None:
    ctx = NonAsyncContext()

    @asynq()
    def task() -> Any:
        with ctx:
            with ctx:
                pass
        yield ConstFuture(1)
        with ctx:
            yield ConstFuture(2)

    with ctx, ctx:
        pass
    with pytest.raises(AssertionError, match="forbids yielding"):
        task()
    with pytest.raises(RuntimeError, match="without being entered"):
        ctx.__exit__(None, None, None)


# -- inside tasks ------------------------------------------------------------


def test_a_context_is_active_exactly_while_its_task_runs(store: Any) -> None:
    log: list[str] = []
    ctx = Recorder("c", log)
    inside_saw: list[bool] = []
    other_saw: list[bool] = []

    @asynq()
    def inside() -> Any:
        with ctx:
            inside_saw.append(ctx.active)
            yield store.get(1)
            inside_saw.append(ctx.active)
            yield store.get(2)
            inside_saw.append(ctx.active)
        inside_saw.append(ctx.active)

    @asynq()
    def other() -> Any:
        other_saw.append(ctx.active)
        yield store.get(3)
        other_saw.append(ctx.active)
        yield store.get(4)
        other_saw.append(ctx.active)

    @asynq()
    def main() -> Any:
        yield inside.asynq(), other.asynq()

    main()
    assert inside_saw == [True, True, True, False]
    assert other_saw == [False, False, False]
    # Entered, stopped at two yields, exited: three resume/pause pairs.
    assert log == ["resume c", "pause c"] * 3
    # The two tasks really interleaved: each batch holds a lookup of both.
    assert [sorted(keys) for keys in store.flushes] == [[1, 3], [2, 4]]


def test_nested_contexts_resume_in_entry_order_and_pause_in_reverse(store: Any) -> None:
    log: list[str] = []

    @asynq()
    def task() -> Any:
        with Recorder("outer", log):
            with Recorder("inner", log):
                log.append("yield")
                yield store.get(1)
                log.append("back")
        return "done"

    assert task() == "done"
    assert log == [
        "resume outer",
        "resume inner",
        "yield",
        "pause inner",
        "pause outer",
        "resume outer",
        "resume inner",
        "back",
        "pause inner",
        "pause outer",
    ]


def test_readme_warnings_example_shows_exactly_one_warning(store: Any) -> None:
    # The README's example: two calls of show_warning run concurrently, only
    # the one called inside suppress_warning is within catch_warnings.
    @asynq()
    def do_something_that_creates_a_warning(key: int) -> Any:
        yield store.get(key)  # both calls wait on one batch: they interleave
        warnings.warn(f"warning {key}", stacklevel=1)

    @asynq()
    def show_warning(key: int) -> Any:
        yield do_something_that_creates_a_warning.asynq(key)

    @asynq()
    def suppress_warning() -> Any:
        with catch_warnings():
            yield show_warning.asynq(2)

    @asynq()
    def caller() -> Any:
        yield show_warning.asynq(1), suppress_warning.asynq()

    assert shown_warnings(caller) == ["warning 1"]
    assert store.flushes == [[1, 2]]


def test_warnings_of_two_interleaved_tasks_only_one_in_the_context(store: Any) -> None:
    @asynq()
    def quiet() -> Any:
        with catch_warnings():
            yield store.get(1)
            warnings.warn("from quiet", stacklevel=1)

    @asynq()
    def loud() -> Any:
        yield store.get(2)
        warnings.warn("from loud", stacklevel=1)

    @asynq()
    def both() -> Any:
        yield quiet.asynq(), loud.asynq()

    assert shown_warnings(both) == ["from loud"]


class plain_catch_warnings:
    """warnings.catch_warnings ignoring everything: on for as long as the block lasts."""

    def __enter__(self) -> None:
        self._inner = warnings.catch_warnings()
        self._inner.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc_info: Any) -> None:
        self._inner.__exit__(*exc_info)


@pytest.mark.parametrize(
    ("context_cls", "expected"),
    [(catch_warnings, ["warning 1"]), (plain_catch_warnings, [])],
)
def test_only_an_async_context_keeps_out_of_interleaved_tasks(
    store: Any, context_cls: type, expected: list[str]
) -> None:
    # suppress_warning is still inside its block when the other show_warning
    # warns: a plain context manager hides that warning too.
    @asynq()
    def show_warning(key: int) -> Any:
        yield store.get(key)
        warnings.warn(f"warning {key}", stacklevel=1)

    @asynq()
    def suppress_warning() -> Any:
        with context_cls():
            yield show_warning.asynq(2)
            yield store.get(3)

    @asynq()
    def caller() -> Any:
        yield show_warning.asynq(1), suppress_warning.asynq()

    assert shown_warnings(caller) == expected


def test_tasks_called_inside_the_block_run_in_the_context(store: Any) -> None:
    log: list[str] = []
    ctx = Recorder("c", log)
    seen: dict[str, bool] = {}

    @asynq()
    def child(name: str) -> Any:
        seen[name + " before"] = ctx.active
        yield store.get(1)
        seen[name + " after"] = ctx.active

    @asynq()
    def parent() -> Any:
        with ctx:
            yield child.asynq("async child")
            child("sync child")
        yield child.asynq("child after the block")

    parent()
    assert seen == {
        "async child before": True,
        "async child after": True,
        "sync child before": True,
        "sync child after": True,
        "child after the block before": False,
        "child after the block after": False,
    }
    assert not ctx.active


def test_during_a_synchronous_call_other_ready_tasks_do_not_see_the_context(
    store: Any,
) -> None:
    ctx = Recorder("c", [])
    seen: dict[str, bool] = {}

    @asynq()
    def child() -> Any:
        yield store.get(1)
        seen["child"] = ctx.active

    @asynq()
    def with_sync_call() -> Any:
        with ctx:
            child()  # runs a nested scheduler loop, where `bystander` runs too
            seen["caller after the call"] = ctx.active
        yield None

    @asynq()
    def bystander() -> Any:
        seen["bystander before"] = ctx.active
        yield store.get(2)
        seen["bystander after"] = ctx.active

    @asynq()
    def main() -> Any:
        yield with_sync_call.asynq(), bystander.asynq()

    main()
    assert seen == {
        "child": True,
        "caller after the call": True,
        "bystander before": False,
        "bystander after": False,
    }


# -- failures of pause() and resume() --------------------------------------------


class Failing(Recorder):
    """Raises ``error`` from the ``fail_on``-th call of ``method``."""

    def __init__(
        self, name: str, log: list[str], method: str, error: BaseException, fail_on: int = 1
    ) -> None:
        super().__init__(name, log)
        self.method = method
        self.error = error
        self.calls_left = fail_on

    def _maybe_fail(self, method: str) -> None:
        if method == self.method:
            self.calls_left -= 1
            if self.calls_left == 0:
                raise self.error

    def resume(self) -> None:
        super().resume()
        self._maybe_fail("resume")

    def pause(self) -> None:
        super().pause()
        self._maybe_fail("pause")


@pytest.mark.parametrize("method", ["pause", "resume"])
@pytest.mark.parametrize("error_cls", [ValueError, KeyboardInterrupt])
def test_an_error_in_pause_or_resume_fails_the_task_and_releases_the_others(
    store: Any, method: str, error_cls: type[BaseException]
) -> None:
    log: list[str] = []
    first = Recorder("first", log)
    last = Recorder("last", log)
    # The 2nd call: resume on enter and pause at the yield succeed, then the
    # scheduler's resume (or the pause on exit) fails.
    broken = Failing("broken", log, method, error_cls("broken context"), fail_on=2)
    sibling_done: list[bool] = []

    @asynq()
    def task() -> Any:
        with first, broken, last:
            yield store.get(1)
            yield store.get(2)
        return "not reached"

    @asynq()
    def sibling() -> Any:
        yield store.get(3)
        yield store.get(4)
        sibling_done.append(True)

    @asynq()
    def main() -> Any:
        yield task.asynq(), sibling.asynq()

    with pytest.raises(error_cls, match="broken context"):
        main()
    assert sibling_done == [True]  # nothing is lost
    for ctx in (first, broken, last):
        assert not ctx.active
        assert log.count(f"resume {ctx.name}") == log.count(f"pause {ctx.name}")


def test_an_error_in_resume_on_enter_leaves_the_context_out(store: Any) -> None:
    log: list[str] = []
    broken = Failing("broken", log, "resume", ValueError("no"), fail_on=1)

    @asynq()
    def task() -> Any:
        with pytest.raises(ValueError, match="no"):
            with broken:
                raise AssertionError("the body must not run")
        yield store.get(1)  # the task stops: a registered context would be paused
        return get_active_task()._contexts

    assert not task()
    assert log == ["resume broken"]


def test_an_error_in_pause_at_a_yield_is_raised_at_that_yield(store: Any) -> None:
    log: list[str] = []
    broken = Failing("broken", log, "pause", ValueError("pause failed"), fail_on=1)

    @asynq()
    def task() -> Any:
        with broken:
            try:
                yield store.get(1)
            except ValueError as error:
                return f"caught {error}"
        return "not reached"

    assert task() == "caught pause failed"
    assert store.flushes == [[1]]  # what the task waited for was still computed


def test_an_error_in_pause_on_exit_leaves_the_context_out(store: Any) -> None:
    log: list[str] = []
    broken = Failing("broken", log, "pause", ValueError("pause on exit"), fail_on=1)

    @asynq()
    def task() -> Any:
        with pytest.raises(ValueError, match="pause on exit"):
            with broken:
                pass
        yield store.get(1)  # the task stops: a registered context would be paused
        return get_active_task()._contexts

    assert not task()
    assert log == ["resume broken", "pause broken"]


def test_a_context_is_not_paused_twice_when_its_waiting_task_is_abandoned() -> None:
    log: list[str] = []

    class Logging(AsyncContext):
        def resume(self) -> None:
            log.append("resume c")

        def pause(self) -> None:
            log.append("pause c")

        def __exit__(self, *exc_info: Any) -> None:
            log.append("exit c")
            super().__exit__(*exc_info)

    class NeverFlushed:
        def get_priority(self) -> int:
            return 0

        def flush(self) -> None:
            """Computes nothing: the waiting task can never go on."""

    class NeverComputed(DeferredFuture[Any]):
        def flush_group(self) -> NeverFlushed:
            return NeverFlushed()

    @asynq()
    def stuck() -> Any:
        with Logging():
            yield NeverComputed()

    task = stuck.asynq()
    with pytest.raises(AsyncTaskError, match="can never be computed") as stall:
        task.value()
    assert log == ["resume c", "pause c"]
    del task, stall  # the error's traceback refers to the task too
    gc.collect()  # closing the generator exits the block while the task is paused
    assert log == ["resume c", "pause c", "exit c"]


# -- NonAsyncContext --------------------------------------------------------------


def test_non_async_context_allows_code_that_does_not_yield(store: Any) -> None:
    @asynq()
    def task() -> Any:
        with NonAsyncContext():
            total = 1 + 1
        value = yield store.get(total)
        return value

    assert task() == 4
    with NonAsyncContext():  # outside tasks it does nothing
        pass


def test_non_async_context_fails_a_yield_that_waits(store: Any) -> None:
    sibling_done: list[bool] = []

    @asynq()
    def task() -> Any:
        with NonAsyncContext():
            yield store.get(1)

    @asynq()
    def sibling() -> Any:
        yield store.get(2)
        sibling_done.append(True)

    @asynq()
    def main() -> Any:
        yield task.asynq(), sibling.asynq()

    with pytest.raises(AssertionError, match="yielded inside"):
        main()
    assert sibling_done == [True]


def test_non_async_context_fails_a_yield_of_a_computed_future() -> None:
    @asynq()
    def task() -> Any:
        with NonAsyncContext():
            yield ConstFuture(1)

    with pytest.raises(AssertionError, match="yielded inside"):
        task()


def test_non_async_context_failure_can_be_caught_and_the_task_goes_on(store: Any) -> None:
    @asynq()
    def task() -> Any:
        try:
            with NonAsyncContext():
                yield store.get(1)
        except AssertionError:
            pass
        return (yield store.get(2))  # the context is gone: yielding is fine again

    assert task() == 4


# -- debugging --------------------------------------------------------------------


def test_dump_contexts_reports_entering_and_leaving(monkeypatch: Any) -> None:
    out = io.StringIO()
    monkeypatch.setattr(debug, "stdout", out)
    monkeypatch.setattr(debug.options, "DUMP_CONTEXTS", True)
    with Recorder("c", []):
        pass
    assert "+context" in out.getvalue()
    assert "-context" in out.getvalue()


def test_enter_context_outside_a_task_returns_none() -> None:
    ctx = Recorder("c", [])
    assert contexts.enter_context(ctx) is None
    contexts.leave_context(ctx)
