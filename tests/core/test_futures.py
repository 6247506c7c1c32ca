"""Futures: computing once, errors, the on_computed hook, repr, pickling."""

from __future__ import annotations

import pickle

import pytest

from asynq_core import (
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    none_future,
)
from asynq_core._debug import options


def test_future_calls_its_provider_once_when_first_needed() -> None:
    calls = []

    def provide() -> int:
        calls.append(1)
        return 42

    future = Future(provide)
    assert not future.is_computed()
    assert calls == []
    assert future.value() == 42
    assert future() == 42  # calling a future is value()
    assert future.error() is None
    assert future.is_computed()
    assert calls == [1]


def test_future_provider_error_is_stored_and_raised() -> None:
    calls = []

    def provide() -> int:
        calls.append(1)
        raise KeyError("missing")

    future = Future(provide)
    error = future.error()
    assert isinstance(error, KeyError)
    with pytest.raises(KeyError, match="missing"):
        future.value()
    with pytest.raises(KeyError):
        future()
    assert calls == [1]


def test_set_value_and_set_error_refuse_a_computed_future() -> None:
    future = Future(lambda: 1)
    future.set_value(2)
    with pytest.raises(FutureIsAlreadyComputed):
        future.set_value(3)
    with pytest.raises(FutureIsAlreadyComputed):
        future.set_error(ValueError())
    assert future.value() == 2

    failed = ErrorFuture(ValueError("first"))
    with pytest.raises(FutureIsAlreadyComputed):
        failed.set_error(ValueError("second"))
    assert str(failed.error()) == "first"


def test_const_and_error_futures_are_computed_at_once() -> None:
    const = ConstFuture([1, 2])
    assert const.is_computed()
    assert const.value() == [1, 2]
    assert const.error() is None

    error = ValueError("bad")
    failed = ErrorFuture(error)
    assert failed.is_computed()
    assert failed.error() is error
    with pytest.raises(ValueError, match="bad"):
        failed.value()


def test_none_future_is_a_shared_const_future_of_none() -> None:
    assert isinstance(none_future, ConstFuture)
    assert none_future.is_computed()
    assert none_future.value() is None


def test_const_future_pickles_with_its_value() -> None:
    restored = pickle.loads(pickle.dumps(ConstFuture({"a": (1, 2)})))
    assert isinstance(restored, ConstFuture)
    assert restored.is_computed()
    assert restored.value() == {"a": (1, 2)}


def test_error_future_pickles_with_its_error() -> None:
    restored = pickle.loads(pickle.dumps(ErrorFuture(KeyError("k"))))
    assert isinstance(restored, ErrorFuture)
    assert isinstance(restored.error(), KeyError)
    assert restored.error().args == ("k",)


def test_on_computed_fires_once_with_the_future() -> None:
    future = Future(lambda: 5)
    seen = []
    future.on_computed.subscribe(seen.append)
    assert seen == []
    assert future.value() == 5
    assert future.value() == 5
    assert seen == [future]


def test_on_computed_fires_on_error_too() -> None:
    future: Future[int] = Future(lambda: 0)
    seen = []
    future.on_computed.subscribe(lambda f: seen.append(f.error()))
    error = RuntimeError("x")
    future.set_error(error)
    assert seen == [error]


def test_a_failing_on_computed_subscriber_is_reported_and_stops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future = Future(lambda: 1)
    seen = []

    def failing(_: FutureBase[int]) -> None:
        seen.append("failing")
        raise ZeroDivisionError("subscriber")

    future.on_computed.subscribe(lambda f: seen.append("first"))
    future.on_computed.subscribe(failing)
    future.on_computed.subscribe(lambda f: seen.append("last"))
    # As in asynq 1.x: the error is reported (logged with its traceback), every
    # subscriber runs, and the future keeps its value.
    future.set_value(7)
    assert seen == ["first", "failing", "last"]
    assert future.value() == 7
    [record] = [r for r in caplog.records if r.name == "asynq"]
    assert "on_computed subscriber" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ZeroDivisionError)


def test_a_base_exception_of_a_subscriber_reaches_the_caller_after_the_others() -> None:
    future = Future(lambda: 4)
    seen = []

    def interrupt(_: FutureBase[int]) -> None:
        raise KeyboardInterrupt

    future.on_computed.subscribe(interrupt)
    future.on_computed.subscribe(lambda f: seen.append("after"))
    with pytest.raises(KeyboardInterrupt):
        future.value()
    assert seen == ["after"]
    assert future.is_computed() and future.value() == 4


def test_bool_of_a_future_is_a_type_error_about_yield() -> None:
    future = ConstFuture(True)
    with pytest.raises(TypeError, match="yield") as info:
        bool(future)
    assert "ConstFuture" in str(info.value)
    with pytest.raises(TypeError):
        if Future(lambda: 1):
            pass


def test_repr_shows_computed_or_not_and_the_value() -> None:
    future = Future(lambda: "hello")
    assert "not computed" in repr(future)
    assert "Future" in repr(future)
    future.value()
    assert "'hello'" in repr(future)
    assert "not computed" not in repr(future)
    assert "KeyError('gone')" in repr(ErrorFuture(KeyError("gone")))
    assert str(future) == repr(future)


def test_repr_is_cut_to_the_debug_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, "DEBUG_STR_REPR_MAX_LENGTH", 20)
    text = repr(ConstFuture("x" * 1000))
    # The value's repr (quotes included) is cut to 20 characters.
    assert "(value: '" + "x" * 16 + "...)" in text


def test_repr_survives_a_value_with_a_broken_repr() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert "unprintable Broken" in repr(ConstFuture(Broken()))


def test_reset_unsafe_lets_a_future_be_computed_again() -> None:
    counter = iter(range(10))
    future = Future(lambda: next(counter))
    assert future.value() == 0
    future.reset_unsafe()
    assert not future.is_computed()
    assert future.value() == 1
    future.reset_unsafe()
    future.set_value("set again")
    assert future.value() == "set again"


def test_raise_if_error_computes_and_raises_only_errors() -> None:
    ok = Future(lambda: 1)
    ok.raise_if_error()
    assert ok.is_computed()

    def fail() -> int:
        raise IndexError("out")

    failed = Future(fail)
    with pytest.raises(IndexError, match="out"):
        failed.raise_if_error()


def test_dump_writes_the_repr_indented(debug_output) -> None:
    future = ConstFuture(3)
    future.dump(4)
    assert debug_output.getvalue() == "  " * 4 + repr(future) + "\n"  # 4 levels


def test_future_base_needs_a_compute_method() -> None:
    class Incomplete(FutureBase[int]):
        __slots__ = ()

    with pytest.raises(NotImplementedError, match="Incomplete"):
        Incomplete().value()


def test_subclass_with_compute_is_computed_lazily() -> None:
    class Doubling(FutureBase[int]):
        __slots__ = ("base",)

        def __init__(self, base: int) -> None:
            super().__init__()
            self.base = base

        def _compute(self) -> None:
            self.set_value(self.base * 2)

    future = Doubling(21)
    assert not future.is_computed()
    assert future.value() == 42
