"""What 1.6 code and its tests observe beyond values: the exceptions of misuse
(types and messages), repr/str of futures and tasks, and pickling."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import compat_app as app
import pytest

from asynq import (
    AsyncTaskError,
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    async_proxy,
    asynq,
    get_active_task,
    none_future,
    result,
)

# -- misuse -------------------------------------------------------------------------------


def test_bool_of_a_future_is_a_type_error_pointing_to_the_forgotten_yield() -> None:
    @asynq()
    def forgot_yield(uid: int) -> Any:
        if app.fetch_score.asynq(uid):
            return "truthy"
        return "falsy"
        yield

    with pytest.raises(TypeError, match="yield"):
        forgot_yield(1)
    with pytest.raises(TypeError):
        bool(ConstFuture(True))


def test_result_of_a_future_is_an_assertion_error_as_in_1x_and_a_type_error() -> None:
    @asynq()
    def forgot_yield() -> Any:
        result(app.fetch_score.asynq(1))
        return
        yield

    with pytest.raises(AssertionError, match="forgot to 'yield'"):
        forgot_yield()
    with pytest.raises(TypeError, match=r"result\(<AsyncTask .*fetch_score"):
        forgot_yield()


def test_applying_asynq_twice_is_an_assertion_error_as_in_1x_and_a_type_error() -> None:
    with pytest.raises(AssertionError, match="mc_get"):
        asynq()(app.mc_get)
    with pytest.raises(TypeError, match="once"):
        asynq()(app.mc_get)
    with pytest.raises(AssertionError):
        asynq(pure=True)(app.mc_get)
    # 1.6 accepts @async_proxy() over an asynq function: .asynq() returns what
    # the function returns (its value), and a synchronous call, which needs a
    # future, fails (1.6: AttributeError; ours names what was returned).
    proxied = async_proxy()(app.mc_get)
    assert not isinstance(proxied.asynq("k"), FutureBase)
    with pytest.raises(TypeError, match="not a future"):
        proxied("k")


def test_decorator_arguments_that_cannot_go_together() -> None:
    def gen() -> Any:
        yield None

    with pytest.raises(AssertionError, match="pure=True"):
        asynq(tag="x")
    with pytest.raises(AssertionError, match="sync_fn"):
        asynq(pure=True, sync_fn=gen)
    with pytest.raises(AssertionError, match="sync_fn"):
        async_proxy(pure=True, sync_fn=gen)
    with pytest.raises(TypeError, match=r"@asynq\(\) with parentheses"):
        asynq(gen)  # type: ignore[arg-type]


def test_yielding_a_value_instead_of_a_task_names_its_type() -> None:
    app.store.data["score:1"] = 5

    @asynq()
    def forgot_asynq() -> Any:
        return (yield app.fetch_score(1))  # a synchronous call: yields 5

    with pytest.raises(TypeError, match=r"forgot_asynq.*5 of type int"):
        forgot_asynq()

    def undecorated() -> Any:
        yield None

    @asynq()
    def forgot_decorator() -> Any:
        yield undecorated()

    with pytest.raises(TypeError, match=r"of type generator.*@asynq\(\)"):
        forgot_decorator()

    @asynq()
    def yields_a_set() -> Any:
        yield {ConstFuture(1)}

    with pytest.raises(TypeError, match="of type set"):
        yields_a_set()


def test_the_bad_yield_error_is_raised_at_the_yield_and_can_be_caught_there() -> None:
    @asynq()
    def recovers() -> Any:
        try:
            yield "not a future"
        except TypeError:
            return "recovered"

    assert recovers() == "recovered"


def test_setting_a_computed_future_again() -> None:
    future = ConstFuture(1)
    with pytest.raises(FutureIsAlreadyComputed):
        future.set_value(2)
    with pytest.raises(FutureIsAlreadyComputed):
        future.set_error(ValueError())
    assert future.value() == 1


def test_pure_functions_have_no_asynq_attribute() -> None:
    @asynq(pure=True)
    def pure() -> Any:
        return 1
        yield

    with pytest.raises(AttributeError):
        pure.asynq()


def test_tasks_waiting_on_each_other_are_reported() -> None:
    tasks: dict[str, Any] = {}

    @asynq()
    def first() -> Any:
        yield tasks["second"]

    @asynq()
    def second() -> Any:
        yield tasks["first"]

    tasks["first"], tasks["second"] = first.asynq(), second.asynq()
    with pytest.raises(AsyncTaskError, match="cycle"):
        tasks["first"].value()


def test_a_synchronous_call_under_asyncio_is_refused() -> None:
    @asynq()
    def calls_synchronously() -> Any:
        return app.fetch_score(1)
        yield

    with pytest.raises(RuntimeError):
        asyncio.run(calls_synchronously.asyncio())


# -- repr and str ---------------------------------------------------------------------------


def test_repr_of_futures_shows_whether_computed_and_the_value_or_error() -> None:
    assert "ConstFuture" in repr(ConstFuture(42)) and "42" in repr(ConstFuture(42))
    assert "None" in repr(none_future)
    pending = Future(lambda: "later")
    assert "not computed" in repr(pending)
    pending.value()
    assert "'later'" in repr(pending) and "not computed" not in repr(pending)
    failed = ErrorFuture(KeyError("k"))
    assert "ErrorFuture" in repr(failed) and "KeyError" in repr(failed)
    for future in (ConstFuture(42), pending, failed):
        assert str(future) == repr(future)


def test_repr_of_tasks_shows_the_call_and_its_state() -> None:
    app.store.data["score:7"] = 70
    task = app.fetch_score.asynq(7)
    before = repr(task)
    assert "fetch_score(7)" in before and "not computed" in before
    task.value()
    after = repr(task)
    assert "fetch_score(7)" in after and "70" in after and "not computed" not in after

    method_task = app.User(3).describe.asynq()
    assert "describe" in repr(method_task) and "User(3)" in repr(method_task)

    kw_task = app.mc_set.asynq("k", value=[1, 2])
    assert "mc_set('k', value=[1, 2])" in repr(kw_task)

    failing = ErrorFuture(ValueError("bad"))

    @asynq()
    def fails() -> Any:
        yield failing

    failed_task = fails.asynq()
    with pytest.raises(ValueError):
        failed_task.value()
    assert "ValueError" in repr(failed_task) and "bad" in repr(failed_task)


def test_repr_of_a_running_task() -> None:
    seen: list[str] = []

    @asynq()
    def running() -> Any:
        seen.append(repr(get_active_task()))
        return None
        yield

    running()
    assert "running" in seen[0]


def test_repr_of_decorated_functions_names_them() -> None:
    assert "mc_get" in repr(app.mc_get)
    assert "User.describe" in repr(app.User.describe)
    assert app.mc_get.__name__ == "mc_get"
    assert app.mc_get.__doc__ is None
    assert vars(app.Model)["get"].__doc__ == "Loads the object, or None when it is not stored."
    assert app.Model.get.__name__ == "get"


# -- pickling ---------------------------------------------------------------------------------


@asynq()
def module_level(x: int) -> Any:
    return x + (yield ConstFuture(1))


@async_proxy()
def module_proxy(x: int) -> Any:
    return ConstFuture(x)


@asynq(pure=True)
def module_pure(x: int) -> Any:
    return x
    yield


DECORATED = [
    module_level,
    module_proxy,
    module_pure,
    app.mc_get,
    app.fetch_score,  # deduplicate
    app.double_score,  # make_async_decorator
    app.Model.key_for,  # staticmethod
]

# Methods reached through their class: unbound binders, made at each access (1.x).
UNBOUND = [app.User.describe, app.User.name]  # a method, an acached_per_instance method


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("fn", DECORATED, ids=lambda fn: fn.__qualname__)
def test_decorated_functions_pickle_by_reference(fn: Any, protocol: int) -> None:
    assert pickle.loads(pickle.dumps(fn, protocol)) is fn


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("fn", UNBOUND, ids=lambda fn: fn.__qualname__)
def test_unbound_methods_pickle_to_equal_objects(fn: Any, protocol: int) -> None:
    restored = pickle.loads(pickle.dumps(fn, protocol))
    assert restored == fn and restored.decorator is fn.decorator


def test_classmethods_and_bound_methods_pickle_to_equal_objects() -> None:
    app.seed_user("user", 1, "ann")
    get = pickle.loads(pickle.dumps(app.User.get))
    assert get == app.User.get
    assert get(1) == app.User(1)
    user = app.User(1)
    describe = pickle.loads(pickle.dumps(user.describe))
    assert describe() == "User 1 (ann)"


def test_unpickled_functions_still_work() -> None:
    copy = pickle.loads(pickle.dumps({"fn": module_level, "args": (2,)}))
    assert copy["fn"](*copy["args"]) == 3
    assert copy["fn"].asynq(2).value() == 3


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_const_and_error_futures_pickle_with_their_value(protocol: int) -> None:
    value = {"nested": [1, (2, 3)], "user": app.User(5)}
    copy = pickle.loads(pickle.dumps(ConstFuture(value), protocol))
    assert isinstance(copy, ConstFuture)
    assert copy.is_computed() and copy.value() == value
    none_copy = pickle.loads(pickle.dumps(none_future, protocol))
    assert none_copy.value() is None
    error_copy = pickle.loads(pickle.dumps(ErrorFuture(KeyError("k")), protocol))
    assert isinstance(error_copy.error(), KeyError)
