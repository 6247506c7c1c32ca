"""AsyncContext subclasses, AsyncScopedValue, async_override and NonAsyncContext
as 1.6 code uses them: state that is active only while its own task runs."""

from __future__ import annotations

import warnings
from typing import Any

import compat_app as app
import pytest

from asynq import AsyncContext, AsyncScopedValue, NonAsyncContext, async_override, asynq
from asynq.debug import sync


@asynq()
def warn(message: str) -> Any:
    yield sync()  # lets the other tasks run in between
    warnings.warn(message, stacklevel=1)


@asynq()
def suppressing(context: app.catch_warnings) -> Any:
    with context:
        yield warn.asynq("inside")


def test_the_readme_catch_warnings_example_sees_only_its_own_task() -> None:
    context = app.catch_warnings()

    @asynq()
    def caller() -> Any:
        yield warn.asynq("outside"), suppressing.asynq(context)

    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        caller()
    assert context.recorded == ["inside"]
    assert [str(w.message) for w in outside] == ["outside"]


class Recorder(AsyncContext):
    """Logs its resumes and pauses."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")


def test_contexts_resume_in_entry_order_and_pause_in_reverse_around_each_wait() -> None:
    log: list[str] = []

    @asynq()
    def task() -> Any:
        with Recorder("outer", log), Recorder("inner", log):
            log.append("body 1")
            yield sync()
            log.append("body 2")

    task()
    assert log == [
        "resume outer",
        "resume inner",
        "body 1",
        "pause inner",
        "pause outer",
        "resume outer",
        "resume inner",
        "body 2",
        "pause inner",
        "pause outer",
    ]


def test_an_error_in_pause_fails_the_task_at_its_yield() -> None:
    class Broken(AsyncContext):
        def resume(self) -> None:
            pass

        def pause(self) -> None:
            raise RuntimeError("cannot pause")

    @asynq()
    def task() -> Any:
        with Broken():
            yield sync()

    with pytest.raises(RuntimeError, match="cannot pause"):
        task()


def test_scoped_value_override_is_seen_only_by_the_overriding_task() -> None:
    app.store.data.update({"user:1:name": "ann", "user:2:name": "bob"})

    @asynq()
    def two_viewers() -> Any:
        return (
            yield (
                app.names_seen_by.asynq("ann", [1, 2]),
                app.names_seen_by.asynq("bob", [1, 2]),
                app.visible_name.asynq(1),
            )
        )

    assert two_viewers() == (["you", "bob"], ["ann", "you"], "ann")
    assert app.current_viewer() is None
    assert app.MemcacheBatch.flush_count == 1


def test_scoped_value_get_set_and_override_outside_tasks() -> None:
    value = AsyncScopedValue(1)
    assert value.get() == value() == 1
    with value.override(2):
        assert value() == 2
        value.set(3)
        assert value.get() == 3
    assert value() == 1
    value.set(4)
    assert value() == 4


def test_scoped_value_str_and_repr() -> None:
    assert str(AsyncScopedValue("text")) == "AsyncScopedValue(text)"
    assert repr(AsyncScopedValue("text")) == "AsyncScopedValue('text')"
    assert repr(AsyncScopedValue(None)) == "AsyncScopedValue(None)"


class Settings:
    verbose = False


def test_async_override_sets_an_attribute_for_its_task_only() -> None:
    seen: dict[str, bool] = {}

    @asynq()
    def read(label: str) -> Any:
        seen[f"{label} before"] = Settings.verbose
        yield sync()
        seen[f"{label} after"] = Settings.verbose

    @asynq()
    def verbose_read() -> Any:
        with async_override(Settings, "verbose", True):
            yield read.asynq("inside")

    @asynq()
    def both() -> Any:
        yield verbose_read.asynq(), read.asynq("outside")

    both()
    assert seen == {
        "inside before": True,
        "inside after": True,
        "outside before": False,
        "outside after": False,
    }
    assert Settings.verbose is False


def test_non_async_context_forbids_yielding_with_an_assertion_error() -> None:
    @asynq()
    def yields_inside() -> Any:
        with NonAsyncContext():
            yield sync()

    @asynq()
    def no_yield_inside() -> Any:
        yield sync()
        with NonAsyncContext():
            value = 1
        return value

    with pytest.raises(AssertionError):
        yields_inside()
    assert no_yield_inside() == 1
