"""AsyncScopedValue and async_override: a value overridden for one task's scope
keeps its value per task across interleavings and exceptions."""

from __future__ import annotations

from typing import Any

import pytest

from asynq_contexts import AsyncContext, AsyncScopedValue, async_override, scoped_value
from asynq_contexts import contexts as contexts_module
from asynq_core import asynq


def test_get_set_and_call() -> None:
    value = AsyncScopedValue(1)
    assert value.get() == 1
    assert value() == 1
    value.set(2)
    assert value.get() == 2
    assert value() == 2


def test_str_and_repr_show_the_value() -> None:
    value = AsyncScopedValue("text")
    assert str(value) == "AsyncScopedValue(text)"
    assert repr(value) == "AsyncScopedValue('text')"


def test_override_returns_an_async_context() -> None:
    value = AsyncScopedValue(0)
    override = value.override(1)
    assert isinstance(override, AsyncContext)
    with override:
        assert value.get() == 1
    assert value.get() == 0


def test_overrides_nest() -> None:
    value = AsyncScopedValue("default")
    with value.override("outer"):
        with value.override("inner"):
            assert value() == "inner"
        assert value() == "outer"
    assert value() == "default"


def test_each_task_keeps_its_own_value_across_interleavings(store: Any) -> None:
    value = AsyncScopedValue("default")
    seen: dict[str, list[str]] = {}

    @asynq()
    def overriding(name: str) -> Any:
        saw = seen.setdefault(name, [])
        with value.override(name):
            for key in range(3):
                saw.append(value.get())
                yield store.get(key)
            saw.append(value.get())
        saw.append(value.get())

    @asynq()
    def bystander() -> Any:
        saw = seen.setdefault("bystander", [])
        for key in range(3):
            saw.append(value.get())
            yield store.get(key)
        saw.append(value.get())

    @asynq()
    def main() -> Any:
        yield overriding.asynq("a"), bystander.asynq(), overriding.asynq("b")

    main()
    assert seen == {
        "a": ["a"] * 4 + ["default"],
        "b": ["b"] * 4 + ["default"],
        "bystander": ["default"] * 4,
    }
    assert len(store.flushes) == 3  # the three tasks interleaved at every step
    assert value.get() == "default"


def test_tasks_called_inside_an_override_see_it(store: Any) -> None:
    value = AsyncScopedValue(0)

    @asynq()
    def read() -> Any:
        before = value.get()
        yield store.get(1)
        return before, value.get()

    @asynq()
    def parent() -> Any:
        with value.override(5):
            async_result = yield read.asynq()
            sync_result = read()
        outside = yield read.asynq()
        return async_result, sync_result, outside

    assert parent() == ((5, 5), (5, 5), (0, 0))


def test_an_exception_inside_an_override_restores_the_value(store: Any) -> None:
    value = AsyncScopedValue("default")
    seen: list[str] = []

    @asynq()
    def failing() -> Any:
        with value.override("failing"):
            yield store.get(1)
            raise ValueError("inside the override")

    @asynq()
    def other() -> Any:
        with value.override("other"):
            yield store.get(2)
            yield store.get(3)
            seen.append(value.get())
        seen.append(value.get())

    @asynq()
    def main() -> Any:
        yield failing.asynq(), other.asynq()

    with pytest.raises(ValueError, match="inside the override"):
        main()
    assert seen == ["other", "default"]
    assert value.get() == "default"


def test_set_inside_an_override_belongs_to_that_task(store: Any) -> None:
    value = AsyncScopedValue(0)
    seen: dict[str, list[int]] = {"setter": [], "other": []}

    @asynq()
    def setter() -> Any:
        with value.override(1):
            value.set(2)
            yield store.get(1)
            seen["setter"].append(value.get())
        seen["setter"].append(value.get())

    @asynq()
    def other() -> Any:
        seen["other"].append(value.get())
        yield store.get(2)
        seen["other"].append(value.get())

    @asynq()
    def main() -> Any:
        yield setter.asynq(), other.asynq()

    main()
    assert seen == {"setter": [2, 0], "other": [0, 0]}


def test_set_outside_an_override_is_seen_by_everyone(store: Any) -> None:
    value = AsyncScopedValue(0)
    seen: list[int] = []

    @asynq()
    def setter() -> Any:
        value.set(7)
        yield store.get(1)

    @asynq()
    def overriding() -> Any:
        with value.override(1):
            yield store.get(2)
            yield store.get(3)
        seen.append(value.get())

    @asynq()
    def main() -> Any:
        yield overriding.asynq(), setter.asynq()

    main()
    # overriding's exit restores what was there when it last resumed: the 7.
    assert seen == [7]
    assert value.get() == 7


def test_async_override_sets_an_attribute_for_its_task_only(store: Any) -> None:
    class Config:
        mode = "normal"

    seen: dict[str, list[str]] = {"debugging": [], "other": []}

    @asynq()
    def debugging() -> Any:
        with async_override(Config, "mode", "debug"):
            seen["debugging"].append(Config.mode)
            yield store.get(1)
            seen["debugging"].append(Config.mode)
        seen["debugging"].append(Config.mode)

    @asynq()
    def other() -> Any:
        seen["other"].append(Config.mode)
        yield store.get(2)
        seen["other"].append(Config.mode)

    @asynq()
    def main() -> Any:
        yield debugging.asynq(), other.asynq()

    main()
    assert seen == {"debugging": ["debug", "debug", "normal"], "other": ["normal", "normal"]}
    assert Config.mode == "normal"


def test_async_override_rejects_bad_arguments_when_entered() -> None:
    class Config:
        mode = "normal"

    # As in asynq 1.x, the attribute is read when the override is entered.
    missing = async_override(Config, "missing", 1)
    not_a_name = async_override(Config, 3, 1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        with missing:
            pass
    with pytest.raises(TypeError, match="async_override"):
        with not_a_name:
            pass
    Config.missing = 0  # type: ignore[attr-defined]
    with missing:
        assert Config.missing == 1  # type: ignore[attr-defined]
    assert Config.missing == 0  # type: ignore[attr-defined]


def test_overrides_may_be_entered_again_while_active() -> None:
    class Config:
        mode = "normal"

    value = AsyncScopedValue("normal")
    for override, read in (
        (async_override(Config, "mode", "test"), lambda: Config.mode),
        (value.override("test"), value.get),
    ):
        with override:
            with override:
                assert read() == "test"
            assert read() == "test"
        assert read() == "normal"
        override.__exit__(None, None, None)  # not entered: nothing to restore
        assert read() == "normal"


def test_async_override_is_exported_by_both_modules() -> None:
    assert scoped_value.async_override is contexts_module.async_override
