"""Bad input: each mistake gets a clear error naming the function and the offending value."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asynq_core import (
    AsyncTask,
    AsyncTaskError,
    ConstFuture,
    ErrorFuture,
    Future,
    async_call,
    async_proxy,
    asynq,
    get_active_task,
    get_async_fn,
    lazy,
    make_async_decorator,
    result,
)


@asynq()
def identity(value: Any) -> Any:
    return value


def test_yielding_a_non_future_is_a_type_error_naming_the_function_and_type() -> None:
    @asynq()
    def yields_int() -> Any:
        yield 42

    with pytest.raises(TypeError) as info:
        yields_int()
    message = str(info.value)
    assert "yields_int" in message
    assert "42" in message and "int" in message
    assert "futures" in message


def test_a_bad_value_nested_in_a_structure_is_found() -> None:
    @asynq()
    def yields_nested_str() -> Any:
        yield [ConstFuture(1), {"key": ("fine", None)}]

    with pytest.raises(TypeError, match=r"yields_nested_str.*'fine'.*type str"):
        yields_nested_str()


def test_a_bad_yield_is_raised_at_the_yield_so_the_task_can_catch_it() -> None:
    @asynq()
    def recovers() -> Any:
        try:
            yield {1, 2}
        except TypeError as error:
            assert "set" in str(error)
        return (yield identity.asynq("recovered"))

    assert recovers() == "recovered"


def test_yielding_a_generator_hints_at_asynq() -> None:
    def undecorated() -> Any:
        yield None

    @asynq()
    def forgot_decorator() -> Any:
        yield undecorated()

    with pytest.raises(TypeError, match=r"forgot_decorator.*generator.*\.asynq\(\)"):
        forgot_decorator()


def test_yielding_a_coroutine_says_it_is_an_awaitable() -> None:
    async def native() -> None:
        return None

    coroutines = []

    @asynq()
    def yields_coroutine() -> Any:
        coroutine = native()
        coroutines.append(coroutine)
        yield coroutine

    try:
        with pytest.raises(TypeError, match=r"yields_coroutine.*coroutine.*awaitable"):
            yields_coroutine()
    finally:
        for coroutine in coroutines:
            coroutine.close()


def test_bool_of_a_future_is_a_forgotten_yield() -> None:
    @asynq()
    def forgot_yield() -> Any:
        if identity.asynq(False):
            return "truthy"
        return "falsy"
        yield

    with pytest.raises(TypeError, match=r"bool\(\) of <AsyncTask .*identity\(False\).*yield"):
        forgot_yield()


def test_result_of_a_future_is_a_forgotten_yield() -> None:
    with pytest.raises(TypeError, match=r"result\(<ConstFuture.*value: 1.*forgot to 'yield'"):
        result(ConstFuture(1))


def test_applying_asynq_twice_is_an_error_naming_the_function() -> None:
    def twice() -> Any:
        yield None

    once = asynq()(twice)
    with pytest.raises(TypeError, match=r"@asynq\(\) applied to .*twice.*once"):
        asynq()(once)
    with pytest.raises(TypeError, match=r"@asynq\(\) applied to .*twice"):
        asynq(pure=True)(once)
    with pytest.raises(TypeError, match=r"applied to .*twice"):
        asynq()(classmethod(once))


def test_asynq_without_parentheses_is_an_error() -> None:
    def no_parens() -> Any:
        yield None

    with pytest.raises(TypeError, match=r"no_parens.*@asynq\(\) with parentheses"):
        asynq(no_parens)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"no_parens.*@async_proxy\(\) with parentheses"):
        async_proxy(no_parens)  # type: ignore[arg-type]


def test_asynq_on_a_non_callable_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"@asynq\(\) needs a function, got 42"):
        asynq()(42)


def test_bad_decorator_options_are_errors() -> None:
    with pytest.raises(TypeError, match=r"asynq\(cls=<class 'int'>\)"):
        asynq(cls=int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\['tag'\].*pure=True"):
        asynq(tag="x")


def test_get_async_fn_of_a_non_callable_with_wrap_if_none_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"get_async_fn\(\) needs a callable, got 'text'"):
        get_async_fn("text", True)


def test_async_call_and_lazy_of_a_non_callable_are_errors() -> None:
    with pytest.raises(TypeError, match=r"async_call\(\) needs a callable, got 3"):
        async_call(3)
    with pytest.raises(TypeError, match=r"lazy\(\) needs a callable, got None"):
        lazy(None)  # type: ignore[arg-type]


def test_an_async_proxy_returning_a_non_future_is_an_error() -> None:
    @async_proxy()
    def returns_plain() -> Any:
        return 5

    # Accepted at decoration and by .asynq() (as in asynq 1.6); a synchronous
    # call, which needs a future's value, names what was returned.
    assert returns_plain.asynq() == 5
    with pytest.raises(TypeError, match=r"function of .*returns_plain returned 5, not a future"):
        returns_plain()


def test_a_wrapper_returning_a_non_future_is_an_error() -> None:
    wrapped = make_async_decorator(identity, lambda value: value, "plain_wrapper")
    with pytest.raises(TypeError, match=r"@plain_wrapper\(\) wrapper of identity returned 7"):
        wrapped(7)


def test_futures_refuse_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"Future\(\) takes a callable, got 1"):
        Future(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ErrorFuture\(\) takes an exception, got 'oops'"):
        ErrorFuture("oops")  # type: ignore[arg-type]
    future: Future[int] = Future(lambda: 1)
    with pytest.raises(TypeError, match=r"set_error\(\) takes an exception, got 'oops'"):
        future.set_error("oops")  # type: ignore[arg-type]
    assert not future.is_computed()


def test_a_task_that_waits_on_itself_is_an_error_naming_it() -> None:
    @asynq()
    def yields_itself() -> Any:
        yield get_active_task()

    @asynq()
    def asks_itself() -> Any:
        return get_active_task().value()

    with pytest.raises(AsyncTaskError, match=r"yields_itself\(\)"):
        yields_itself()
    with pytest.raises(AsyncTaskError, match=r"asks_itself\(\)"):
        asks_itself()


def test_pure_functions_have_no_asynq_attribute() -> None:
    @asynq(pure=True)
    def pure() -> Any:
        yield None

    with pytest.raises(AttributeError):
        pure.asynq()
    task = pure()
    assert task.value() is None


def test_a_non_future_yielded_in_asyncio_mode_is_a_type_error() -> None:
    @asynq()
    def yields_str() -> Any:
        yield "text"

    with pytest.raises(TypeError, match=r"'text' of type str"):
        asyncio.run(yields_str.asyncio())


def test_asynq_of_an_async_def_function_is_a_plain_function_returning_its_coroutine() -> None:
    # As in asynq 1.6 (code that does this must keep working): the call
    # returns the coroutine, which the caller awaits.
    async def fetch(key: int) -> int:
        return key

    assert asyncio.run(asynq()(fetch)(3)) == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: asynq(sync_fn=42), r"asynq\(sync_fn=42\): sync_fn must be a function"),
        (lambda: asynq(asyncio_fn="nope"), r"asynq\(asyncio_fn='nope'\): asyncio_fn must be"),
        (lambda: async_proxy(sync_fn=42), r"async_proxy\(sync_fn=42\): sync_fn must be"),
    ],
)
def test_decorator_options_that_are_not_functions_fail_when_used(make: Any, message: str) -> None:
    # asynq 1.6 accepts them and fails only where the option is called, so
    # a decorated function that never uses it keeps working.
    def plain(value: int) -> int:
        return value

    decorated = make()(plain)
    with pytest.raises(TypeError, match=message):
        decorated(1) if "asyncio_fn" not in message else asyncio.run(decorated.asyncio(1))


def test_a_task_made_of_something_else_than_a_generator_names_it() -> None:
    def fn() -> None:
        pass

    task = AsyncTask(5, fn, (), {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"fn\(\).* was created with 5, not a generator"):
        task.value()
