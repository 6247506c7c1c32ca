"""Tasks that can never finish get a clear error naming them, at once: never a hang.

Every program here runs in a thread joined with a timeout (``run_with_timeout``),
so a hang fails the test instead of blocking the suite; each error must also
come quickly (well under a second) and name the tasks (or the future) at fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

from asynq_core import AsyncTaskError, ConstFuture, DeferredFuture, FutureBase, asynq

PROMPTLY = 2.0  # seconds: far more than any of these needs, far less than a hang


def fails_promptly(run_with_timeout: Callable[..., Any], fn: Callable[[], Any]) -> BaseException:
    start = time.perf_counter()
    kind, error = run_with_timeout(fn, timeout=10.0)
    elapsed = time.perf_counter() - start
    assert kind == "error", f"expected an error, got the value {error!r}"
    assert elapsed < PROMPTLY, f"the error took {elapsed:.1f} s"
    return error  # type: ignore[no-any-return]


class Tasks:
    """Tasks by name, so that functions can wait on tasks created after them."""

    def __init__(self) -> None:
        self.by_name: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def __setitem__(self, name: str, task: Any) -> None:
        self.by_name[name] = task


@asynq()
def waits_on(tasks: Tasks, name: str, wrap: str = "plain") -> Generator[Any, Any, Any]:
    target = tasks[name]
    if wrap == "nested":
        return (yield [ConstFuture(1), {"key": (None, target)}])
    return (yield target)


def test_two_tasks_waiting_on_each_other(run_with_timeout) -> None:
    tasks = Tasks()

    def program() -> Any:
        tasks["a"] = waits_on.asynq(tasks, "b")
        tasks["b"] = waits_on.asynq(tasks, "a")
        return tasks["a"].value()

    error = fails_promptly(run_with_timeout, program)
    assert isinstance(error, AsyncTaskError)
    message = str(error)
    assert message.startswith("dependency cycle: ")
    assert message.count("waits_on(") == 3  # a -> b -> a
    assert "'b'" in message and "'a'" in message


def test_a_longer_cycle_through_nested_structures(run_with_timeout) -> None:
    tasks = Tasks()

    def program() -> Any:
        tasks["a"] = waits_on.asynq(tasks, "b", "nested")
        tasks["b"] = waits_on.asynq(tasks, "c")
        tasks["c"] = waits_on.asynq(tasks, "a", "nested")
        return tasks["a"].value()

    error = fails_promptly(run_with_timeout, program)
    assert isinstance(error, AsyncTaskError)
    assert str(error).startswith("dependency cycle: ")
    assert str(error).count(" -> ") == 3


def test_a_task_yielding_itself_gets_the_error_at_its_yield(run_with_timeout) -> None:
    tasks = Tasks()

    @asynq()
    def yields_itself() -> Generator[Any, Any, Any]:
        try:
            yield tasks["self"]
        except AsyncTaskError as error:
            return f"caught: {error}"
        return "not reached"

    def program() -> Any:
        tasks["self"] = yields_itself.asynq()
        return tasks["self"].value()

    kind, value = run_with_timeout(program)
    assert kind == "ok"
    assert value.startswith("caught: <AsyncTask ")
    assert "yields_itself() (running)> yielded itself" in value


def test_a_task_asking_for_its_own_value(run_with_timeout) -> None:
    tasks = Tasks()

    @asynq()
    def asks_itself() -> Any:
        return tasks["self"].value()

    def program() -> Any:
        tasks["self"] = asks_itself.asynq()
        return tasks["self"].value()

    error = fails_promptly(run_with_timeout, program)
    assert isinstance(error, AsyncTaskError)
    assert "asks_itself() (running)> waits for itself" in str(error)


def test_a_cycle_through_a_synchronous_call(run_with_timeout) -> None:
    tasks = Tasks()

    @asynq()
    def calls_synchronously() -> Any:
        return waits_on(tasks, "outer")

    def program() -> Any:
        tasks["outer"] = calls_synchronously.asynq()
        return tasks["outer"].value()

    error = fails_promptly(run_with_timeout, program)
    assert isinstance(error, AsyncTaskError)
    message = str(error)
    assert message.startswith("dependency cycle: <AsyncTask waits_on(")
    assert "calls_synchronously() (running)>, which asked synchronously" in message


def test_a_cycle_inside_a_synchronous_call_can_be_caught_by_its_caller(
    run_with_timeout,
) -> None:
    tasks = Tasks()

    @asynq()
    def catches() -> Generator[Any, Any, Any]:
        try:
            waits_on(tasks, "catcher")
        except AsyncTaskError as error:
            caught = type(error).__name__
        return caught, (yield ConstFuture("went on"))

    def program() -> Any:
        tasks["catcher"] = catches.asynq()
        return tasks["catcher"].value()

    assert run_with_timeout(program) == ("ok", ("AsyncTaskError", "went on"))


class _NeverGroup:
    """A flush group whose flush forgets its futures (a broken batch)."""

    def __init__(self) -> None:
        self.flushes = 0

    def get_priority(self) -> int:
        return 0

    def flush(self) -> None:
        self.flushes += 1


class _NeverItem(DeferredFuture[Any]):
    def __init__(self, group: _NeverGroup, key: str) -> None:
        super().__init__()
        self.group = group
        self.key = key

    def flush_group(self) -> _NeverGroup:
        return self.group

    def __repr__(self) -> str:
        return f"<NeverItem {self.key}>"


class _NobodyComputes(FutureBase[Any]):
    """A future whose _compute does nothing."""

    def _compute(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<NobodyComputes>"


@pytest.mark.parametrize("what", ["batch item", "plain future"])
def test_a_future_that_is_never_computed_is_named(run_with_timeout, what: str) -> None:
    group = _NeverGroup()

    @asynq()
    def inner() -> Generator[Any, Any, Any]:
        if what == "batch item":
            return (yield [ConstFuture(0), _NeverItem(group, "lost")])
        return (yield _NobodyComputes())

    @asynq()
    def outer() -> Generator[Any, Any, Any]:
        return (yield inner.asynq())

    error = fails_promptly(run_with_timeout, outer)
    assert isinstance(error, AsyncTaskError)
    message = str(error)
    assert message.startswith("<AsyncTask ") and "outer() (not computed)> can never be" in message
    assert "waiting chain: " in message and "inner() (not computed)>" in message
    culprit = "<NeverItem lost>" if what == "batch item" else "<NobodyComputes>"
    assert message.endswith(f"{culprit} is never set")
    assert group.flushes == (1 if what == "batch item" else 0)


def test_a_cycle_under_asyncio_is_an_error_too(run_with_timeout) -> None:
    tasks = Tasks()

    def program() -> Any:
        tasks["a"] = waits_on.asynq(tasks, "b")
        tasks["b"] = waits_on.asynq(tasks, "a")

        @asynq()
        def root() -> Generator[Any, Any, Any]:
            return (yield tasks["a"])

        return asyncio.run(root.asyncio())

    error = fails_promptly(run_with_timeout, program)
    assert isinstance(error, AsyncTaskError)
    assert str(error).startswith("dependency cycle: ")


def test_the_scheduler_works_after_a_cycle(run_with_timeout) -> None:
    tasks = Tasks()

    @asynq()
    def double(value: int) -> int:
        return value * 2

    def program() -> Any:
        tasks["a"] = waits_on.asynq(tasks, "b")
        tasks["b"] = waits_on.asynq(tasks, "a")
        try:
            tasks["a"].value()
        except AsyncTaskError:
            pass
        return double(21)

    assert run_with_timeout(program) == ("ok", 42)
