"""The asyncio bridge: f.asyncio(...), asyncio_fn=, is_asyncio_mode(), sync calls refused."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import pytest

from asynq_core import (
    ConstFuture,
    Future,
    FutureBase,
    async_proxy,
    asynq,
    is_asyncio_mode,
    result,
)


def run(coroutine: Any) -> Any:
    """Runs a coroutine with a timeout, so a deadlock fails the test instead of hanging."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout=5)

    return asyncio.run(bounded())


@asynq()
def square(x: int) -> Any:
    yield None
    return x * x


@asynq()
def fails(message: str) -> Any:
    yield None
    raise ValueError(message)


def test_asyncio_returns_a_coroutine_running_the_generator() -> None:
    coroutine = square.asyncio(3)
    assert inspect.iscoroutine(coroutine)
    assert run(coroutine) == 9


def test_yielded_structures_are_awaited_and_come_back_in_place() -> None:
    @asynq()
    def gather_all() -> Any:
        as_list = yield [square.asynq(1), square.asynq(2), None, ConstFuture("c")]
        as_dict = yield {"a": square.asynq(3), "nested": (square.asynq(4), [None])}
        single = yield square.asynq(5)
        nothing = yield None
        return as_list, as_dict, single, nothing

    assert run(gather_all.asyncio()) == (
        [1, 4, None, "c"],
        {"a": 9, "nested": (16, [None])},
        25,
        None,
    )


def make_rendezvous() -> tuple[Any, Any]:
    """Two asynq functions whose native coroutines each wait for the other:
    they finish only if run concurrently."""
    events: dict[str, asyncio.Event] = {}

    def event(name: str) -> asyncio.Event:
        if name not in events:
            events[name] = asyncio.Event()
        return events[name]

    async def meet_native(me: str, other: str) -> str:
        event(me).set()
        await event(other).wait()
        return f"{me} met {other}"

    @asynq(asyncio_fn=meet_native)
    def meet(me: str, other: str) -> Any:
        raise AssertionError("the generator must not run in asyncio mode")
        yield

    return meet, events


def test_lists_and_dicts_are_awaited_concurrently() -> None:
    meet, _ = make_rendezvous()

    @asynq()
    def both() -> Any:
        as_list = yield [meet.asynq("a", "b"), meet.asynq("b", "a")]
        as_dict = yield {"x": meet.asynq("x", "y"), "y": meet.asynq("y", "x")}
        return as_list, as_dict

    assert run(both.asyncio()) == (
        ["a met b", "b met a"],
        {"x": "x met y", "y": "y met x"},
    )


def test_asyncio_fn_is_used_by_asyncio_and_for_yielded_tasks() -> None:
    async def native(x: int) -> tuple[str, int]:
        await asyncio.sleep(0)
        return ("native", x)

    @asynq(asyncio_fn=native)
    def dual(x: int) -> Any:
        yield None
        return ("generator", x)

    @asynq()
    def caller() -> Any:
        return (yield dual.asynq(2))

    assert dual(1) == ("generator", 1)
    assert dual.asynq(1).value() == ("generator", 1)
    assert run(dual.asyncio(1)) == ("native", 1)
    assert run(caller.asyncio()) == ("native", 2)


def test_every_element_finishes_even_if_one_fails() -> None:
    finished = []

    async def slow_native(name: str) -> str:
        for _ in range(3):
            await asyncio.sleep(0)
        finished.append(name)
        return name

    @asynq(asyncio_fn=slow_native)
    def slow(name: str) -> Any:
        yield None
        return name

    @asynq()
    def mixed() -> Any:
        try:
            yield [fails.asynq("first"), slow.asynq("slow"), fails.asynq("second")]
        except ValueError as error:
            return f"caught {error}", list(finished)

    assert run(mixed.asyncio()) == ("caught first", ["slow"])


def test_the_first_error_in_structure_order_is_raised() -> None:
    async def late_failure() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        raise KeyError("late but first")

    @asynq(asyncio_fn=late_failure)
    def late() -> Any:
        yield None

    @asynq()
    def both() -> Any:
        yield {"late": late.asynq(), "early": fails.asynq("early but second")}

    with pytest.raises(KeyError, match="late but first"):
        run(both.asyncio())


def test_a_task_yielded_in_two_branches_runs_once() -> None:
    runs = []

    @asynq()
    def shared_work() -> Any:
        runs.append(1)
        yield None
        return "shared"

    @asynq()
    def user(task: Any) -> Any:
        return (yield task)

    @asynq()
    def root() -> Any:
        shared = shared_work.asynq()
        return (yield [user.asynq(shared), user.asynq(shared), shared])

    assert run(root.asyncio()) == ["shared", "shared", "shared"]
    assert runs == [1]


def test_is_asyncio_mode_is_true_only_inside_such_coroutines() -> None:
    seen = []

    @asynq()
    def report() -> Any:
        seen.append(is_asyncio_mode())
        yield None
        seen.append(is_asyncio_mode())

    assert not is_asyncio_mode()
    run(report.asyncio())
    assert seen == [True, True]
    assert not is_asyncio_mode()
    report()
    assert seen == [True, True, False, False]


def test_a_synchronous_call_in_asyncio_mode_is_refused() -> None:
    @asynq()
    def blocking() -> Any:
        yield None
        return "blocked"

    @asynq()
    def careless() -> Any:
        yield None
        return blocking()

    with pytest.raises(RuntimeError, match=r"synchronous call of .*blocking") as info:
        run(careless.asyncio())
    assert "asyncio" in str(info.value)


def test_a_synchronous_call_of_a_proxy_in_asyncio_mode_is_refused() -> None:
    @async_proxy()
    def proxied() -> FutureBase[int]:
        return ConstFuture(1)

    @asynq()
    def careless() -> Any:
        yield None
        return proxied()

    with pytest.raises(RuntimeError, match="proxied"):
        run(careless.asyncio())


def test_allow_sync_call_logs_a_warning_instead(caplog: pytest.LogCaptureFixture) -> None:
    @asynq(allow_sync_call=True)
    def tolerated() -> Any:
        yield None
        return "ran"

    @asynq()
    def caller() -> Any:
        yield None
        return tolerated()

    with caplog.at_level(logging.WARNING):
        assert run(caller.asyncio()) == "ran"
    messages = [record.getMessage() for record in caplog.records]
    assert any("tolerated" in message and "synchronous call" in message for message in messages)


def test_methods_and_proxies_have_asyncio_too() -> None:
    class Box:
        def __init__(self, value: int) -> None:
            self.value = value

        @asynq()
        def get(self) -> Any:
            yield None
            return self.value

        @async_proxy()
        def get_future(self) -> FutureBase[int]:
            return ConstFuture(self.value + 1)

    box = Box(7)
    assert run(box.get.asyncio()) == 7
    assert run(box.get_future.asyncio()) == 8


def test_pure_functions_have_asyncio() -> None:
    @asynq(pure=True)
    def pure() -> Any:
        value = yield square.asynq(4)
        return value + 1

    assert run(pure.asyncio()) == 17


def test_errors_propagate_out_of_the_coroutine() -> None:
    @asynq()
    def outer() -> Any:
        yield fails.asynq("inside")

    with pytest.raises(ValueError, match="inside"):
        run(outer.asyncio())


def test_a_bad_yield_in_asyncio_mode_is_a_type_error() -> None:
    @asynq()
    def bad() -> Any:
        yield 42

    with pytest.raises(TypeError, match="int"):
        run(bad.asyncio())


def test_a_task_already_run_synchronously_gives_its_value() -> None:
    task = square.asynq(6)
    assert task.value() == 36

    @asynq()
    def reuse() -> Any:
        return (yield task)

    assert run(reuse.asyncio()) == 36


def test_legacy_result_and_plain_futures_work_in_asyncio_mode() -> None:
    @asynq()
    def legacy() -> Any:
        lazy_value = yield Future(lambda: "provided")
        result(lazy_value + "!")
        return

    assert run(legacy.asyncio()) == "provided!"


def test_pure_and_proxy_functions_use_their_asyncio_fn() -> None:
    async def native_pure(x: int) -> str:
        return f"native pure {x}"

    async def native_proxy(x: int) -> str:
        return f"native proxy {x}"

    @asynq(pure=True, asyncio_fn=native_pure)
    def pure(x: int) -> Any:
        yield None
        return f"generator {x}"

    @async_proxy(asyncio_fn=native_proxy)
    def proxy(x: int) -> FutureBase[str]:
        return ConstFuture(f"future {x}")

    @asynq()
    def caller() -> Any:
        return (yield pure(1))

    assert pure(2).value() == "generator 2"
    assert run(pure.asyncio(3)) == "native pure 3"
    assert run(caller.asyncio()) == "native pure 1"
    assert proxy(4) == "future 4"
    assert run(proxy.asyncio(5)) == "native proxy 5"


# -- native awaitables yielded by tasks (asynq 1.x's asyncio mode) -----------


def test_a_task_may_yield_native_awaitables_alone_or_in_structures() -> None:
    async def later(value: Any, delay: float = 0) -> Any:
        await asyncio.sleep(delay)
        return value

    @asynq()
    def mixed() -> Any:
        alone = yield later("coroutine")
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, "future")
        listed = yield [later(1), square.asynq(3), future]
        keyed = yield {"a": later("a"), "none": None}, (later(2),)
        return alone, listed, keyed

    assert run(mixed.asyncio()) == ("coroutine", [1, 9, "future"], ({"a": "a", "none": None}, (2,)))


def test_native_awaitables_yielded_together_run_concurrently() -> None:
    # Each waits for the other to start: they finish only if run concurrently.
    a_started, b_started = asyncio.Event(), asyncio.Event()

    async def a() -> str:
        a_started.set()
        await b_started.wait()
        return "a"

    async def b() -> str:
        b_started.set()
        await a_started.wait()
        return "b"

    @asynq()
    def both() -> Any:
        return (yield [a(), b()])

    assert run(both.asyncio()) == ["a", "b"]


def test_every_native_awaitable_finishes_before_the_first_error_is_raised() -> None:
    finished: list[str] = []

    async def slow_ok() -> None:
        await asyncio.sleep(0.01)
        finished.append("ok")

    async def fast_error() -> None:
        raise KeyError("first")

    @asynq()
    def gather_them() -> Any:
        try:
            yield [fast_error(), slow_ok()]
        except KeyError as error:
            return f"{error.args[0]} after {finished}"

    assert run(gather_them.asyncio()) == "first after ['ok']"


def test_a_native_awaitable_yielded_outside_asyncio_is_a_clear_type_error() -> None:
    async def coroutine() -> None:
        pass

    @asynq()
    def sync_only() -> Any:
        awaitable = coroutine()
        try:
            yield awaitable
        finally:
            awaitable.close()

    with pytest.raises(TypeError, match="awaitable"):
        sync_only()


def test_a_proxy_runs_its_function_inside_the_scope_of_its_asyncio_call() -> None:
    async def native() -> str:
        return "asyncio_fn"

    @asynq(asyncio_fn=native)
    def inner() -> str:
        return "generator"

    @async_proxy()
    def proxy() -> Any:
        return inner.asynq()

    assert proxy() == "generator"
    assert run(proxy.asyncio()) == "asyncio_fn"
