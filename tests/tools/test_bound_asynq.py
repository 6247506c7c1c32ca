"""Passing ``f.asynq`` where ``f`` is expected is an error, not a task that never runs
(except where asynq 1.x accepts it: an event hook's handler, an empty sequence,
``async_call``, whose value is then the task)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from asynq_core import async_call, asynq
from asynq_tools import (
    AsyncEventHook,
    afilter,
    afilterfalse,
    amap,
    amax,
    amin,
    asift,
    asorted,
    call_with_context,
)

calls: list[int] = []


@asynq()
def plain_body(x: int) -> int:
    calls.append(x)
    return x


@asynq()
def generator_body(x: int) -> Any:
    calls.append(x)
    yield None
    return x


class Service:
    @asynq()
    def method(self, x: int) -> Any:
        calls.append(x)
        yield None
        return x


@pytest.fixture(autouse=True)
def _no_calls() -> Any:
    calls.clear()
    yield
    assert calls == []  # rejected before anything ran


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (plain_body, "plain_body"),
        (generator_body, "generator_body"),
        (Service().method, "Service.method"),
        (Service.method, "Service.method"),
    ],
)
@pytest.mark.parametrize(
    ("tool", "call"),
    [
        ("amap", lambda fn: amap(fn, [1])),
        ("afilter", lambda fn: afilter(fn, [1])),
        ("afilterfalse", lambda fn: afilterfalse(fn, [1])),
        ("asift", lambda fn: asift(fn, [1])),
        ("asorted", lambda fn: asorted([1], key=fn)),
        ("amax", lambda fn: amax([1], key=fn)),
        ("amin", lambda fn: amin([1], key=fn)),
        ("call_with_context", lambda fn: call_with_context(contextlib.nullcontext(), fn, 1)),
    ],
)
def test_a_bound_asynq_is_rejected(
    fn: Any, name: str, tool: str, call: Callable[[Any], Any]
) -> None:
    message = f"{tool}() got {name}.asynq: pass {name}, not {name}.asynq"
    with pytest.raises(TypeError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        call(fn.asynq)


def test_the_async_function_itself_and_other_bound_methods_still_work() -> None:
    hook = AsyncEventHook()
    hook.subscribe(generator_body)
    hook.subscribe([].append)  # a bound method, of a plain object
    hook.trigger(1)
    assert amap(Service().method, [2]) == [2]
    assert async_call(str.upper, "a") == "A"
    assert call_with_context(contextlib.nullcontext(), plain_body, 3) == 3
    assert calls == [1, 2, 3]
    calls.clear()


def test_where_asynq_1x_accepts_a_bound_asynq_it_is_accepted() -> None:
    # An empty sequence: the function is never called.
    assert amap(plain_body.asynq, []) == []
    assert asorted([], key=plain_body.asynq) == []
    # A handler: asynq 1.x calls f.asynq(...) as a plain handler, so its task
    # is made but never run (the handler does not run).
    hook = AsyncEventHook()
    hook.subscribe(plain_body.asynq)
    hook.subscribe(Service().method.asynq)
    hook.trigger(1)
    hook.safe_trigger(2)
    assert AsyncEventHook([generator_body.asynq]).trigger(3) is None
