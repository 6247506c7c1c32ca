"""Inputs asynq 1.6 accepts and runs, which our checks of misuse must accept too.

Issue 13: strictness never breaks 1.6 code. Each case below feeds one odd
input to the 1.x API and asserts what asynq 1.6 does with it (a working
result, or a decoration that is accepted because 1.6 fails only when the
function is called). The file uses nothing but 1.6's API and passes, as it
is, against asynq 1.6 itself (``python -m pytest`` in an environment with
``asynq==1.6.0``): it needs no fixture and no other file.

Inputs where 1.6 fails later anyway and ours fails earlier, on purpose, are
not here (see tests/reliability/test_bad_input.py for our errors).
"""

from __future__ import annotations

import asyncio
import decimal
import enum
import fractions
import functools
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any
from unittest import mock as unittest_mock

import pytest

from asynq import (
    AsyncContext,
    AsyncScopedValue,
    BatchBase,
    BatchItemBase,
    ConstFuture,
    NonAsyncContext,
    Value,
    async_call,
    async_generator,
    async_override,
    async_proxy,
    asynq,
    list_of_generator,
    make_async_decorator,
    take_first,
)
from asynq.batching import sync
from asynq.mock_ import patch
from asynq.tools import (
    AsyncEventHook,
    AsyncTimer,
    acached_per_instance,
    afilter,
    afilterfalse,
    alazy_constant,
    alru_cache,
    amap,
    aretry,
    asift,
    asorted,
    deduplicate,
)

#: True on our umbrella (its parts are separate distributions), False on 1.6.
OURS = importlib.util.find_spec("asynq_core") is not None

CASES: list[Any] = []


def case(fn: Callable[[], None]) -> Callable[[], None]:
    CASES.append(pytest.param(fn, id=fn.__name__))
    return fn


@asynq()
def double(x: int) -> int:
    return x * 2


class Recorder(AsyncContext):
    def __init__(self) -> None:
        self.log: list[str] = []

    def resume(self) -> None:
        self.log.append("resume")

    def pause(self) -> None:
        self.log.append("pause")


def run_two_tasks(task: Any) -> Any:
    """Runs ``task(1)`` and ``task(2)`` concurrently (they interleave at sync())."""

    @asynq()
    def both() -> Any:
        return (yield task.asynq(1), task.asynq(2))

    return both()


# -- tools: the builtin look-alikes ------------------------------------------------------


@case
def element_function_not_callable_with_an_empty_sequence() -> None:
    assert amap(None, []) == []
    assert afilter(5, []) == []
    assert afilterfalse(5, []) == []
    assert asift(5, []) == ([], [])
    assert asorted([], key=5) == []


@case
def element_function_bound_asynq_with_an_empty_sequence() -> None:
    assert amap(double.asynq, []) == []


@case
def event_hook_handler_subscribed_as_its_asynq() -> None:
    calls: list[int] = []

    @asynq()
    def handler(x: int) -> None:
        calls.append(x)

    hook = AsyncEventHook()
    hook.subscribe(handler.asynq)
    hook.trigger(1)
    hook.safe_trigger(2)
    AsyncEventHook([handler.asynq]).trigger(3)
    assert calls == []  # 1.6 calls handler.asynq(x) as a plain handler: its task never runs


# -- tools: the decorators ----------------------------------------------------------------


@case
def alazy_constant_negative_ttl_recomputes_every_time() -> None:
    calls: list[int] = []

    @alazy_constant(ttl=-1)
    @asynq()
    def constant() -> int:
        calls.append(1)
        return len(calls)

    assert [constant(), constant(), constant()] == [1, 2, 3]


@case
def alazy_constant_ttl_of_any_number() -> None:
    for ttl in (True, decimal.Decimal(10**9), fractions.Fraction(10**9, 3), 2.5):

        @alazy_constant(ttl=ttl)
        @asynq()
        def constant() -> int:
            return 1

        assert constant() == 1
        assert constant() == 1


@case
def alazy_constant_ttl_none_computes_the_first_value() -> None:
    @alazy_constant(ttl=None)
    @asynq()
    def constant() -> int:
        return 1

    assert constant() == 1


@case
def alazy_constant_of_a_plain_function_decorates() -> None:
    @alazy_constant()
    def constant() -> int:
        return 1


@case
def alru_cache_maxsize_true_keeps_one_value() -> None:
    calls: list[int] = []

    @alru_cache(maxsize=True)
    @asynq()
    def cached(x: int) -> int:
        calls.append(x)
        return x

    assert [cached(1), cached(1), cached(2), cached(1)] == [1, 1, 2, 1]
    assert calls == [1, 2, 1]


@case
def alru_cache_without_parentheses_or_with_a_bad_key_fn_decorates() -> None:
    @alru_cache
    @asynq()
    def without_parentheses(x: int) -> int:
        return x

    @alru_cache(key_fn=5)
    @asynq()
    def bad_key_fn(x: int) -> int:
        return x


@case
def deduplicate_with_a_bad_keygetter_decorates() -> None:
    @deduplicate(keygetter=5)
    @asynq()
    def deduplicated(x: int) -> int:
        return x


@case
def deduplicate_synchronous_call_with_unhashable_arguments() -> None:
    @deduplicate()
    @asynq()
    def total(values: list[int]) -> int:
        return sum(values)

    assert total([1, 2]) == 3


@case
def acached_per_instance_of_a_method_taking_args() -> None:
    calls: list[Any] = []

    class Box:
        @acached_per_instance()
        @asynq()
        def count(*args: Any) -> int:  # the instance is args[0]
            calls.append(args[1:])
            return len(args)

    box = Box()
    assert [box.count(1, 2), box.count(1, 2), box.count(3)] == [3, 3, 2]
    assert calls == [(1, 2), (3,)]


@case
def acached_per_instance_of_a_function_without_self_decorates() -> None:
    @acached_per_instance()
    @asynq()
    def no_arguments() -> int:
        return 1

    @acached_per_instance()
    @asynq()
    def keyword_only(*, x: int) -> int:
        return x


@case
def aretry_of_an_empty_tuple_retries_nothing() -> None:
    calls: list[int] = []

    @aretry(())
    @asynq()
    def fails() -> None:
        calls.append(1)
        raise KeyError("down")

    assert aretry(())(double)(2) == 4
    with pytest.raises(KeyError):
        fails()
    assert calls == [1]


@case
def aretry_of_what_except_refuses_while_nothing_is_raised() -> None:
    for exception_cls in (int, None, [ValueError], (ValueError, (KeyError,))):
        assert aretry(exception_cls)(double)(2) == 4


@case
def aretry_max_tries_of_a_bool_or_an_int_like() -> None:
    class Two:  # as numpy's ints
        def __index__(self) -> int:
            return 2

        def __gt__(self, other: int) -> bool:
            return other < 2

    attempts: list[int] = []

    @aretry(KeyError, max_tries=Two(), sleep=0)
    @asynq()
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 2:
            raise KeyError("not yet")
        return len(attempts)

    assert flaky() == 2
    assert aretry(KeyError, max_tries=True)(double)(3) == 6


@case
def aretry_bad_sleep_or_max_tries_while_nothing_is_retried() -> None:
    for sleep in (None, -1, decimal.Decimal("0.1")):
        assert aretry(KeyError, sleep=sleep)(double)(2) == 4

    @aretry(KeyError, max_tries=2.0)
    @asynq()
    def float_max_tries() -> int:
        return 1


# -- contexts ---------------------------------------------------------------------------------


@case
def context_exited_without_being_entered_is_paused() -> None:
    context = Recorder()
    context.__exit__(None, None, None)
    assert context.log == ["pause"]


@case
def context_whose_enter_does_not_call_the_base_class() -> None:
    class SelfResuming(Recorder):
        def __enter__(self) -> SelfResuming:
            self.resume()
            return self

    outside = SelfResuming()
    with outside:
        pass
    inside = SelfResuming()

    @asynq()
    def task() -> Any:
        with inside:
            yield double.asynq(1)

    task()
    assert outside.log == inside.log == ["resume", "pause"]


@case
def context_entered_again_while_active() -> None:
    outside = Recorder()
    with outside:
        with outside:
            pass
    inside = Recorder()

    @asynq()
    def task() -> Any:
        with inside:
            with inside:
                pass
        return 1
        yield

    assert task() == 1
    assert outside.log == inside.log == ["resume", "resume", "pause", "pause"]


@case
def context_exited_again() -> None:
    context = Recorder()
    with context:
        pass
    context.__exit__(None, None, None)
    assert context.log == ["resume", "pause", "pause"]


@case
def context_shared_by_two_tasks_at_once() -> None:
    shared = Recorder()

    @asynq()
    def task(key: int) -> Any:
        with shared:
            yield sync()
            yield sync()
        return key

    assert run_two_tasks(task) == (1, 2)


@case
def async_timer_entered_again_and_shared() -> None:
    timer = AsyncTimer()
    with timer:
        with timer:
            pass

    @asynq()
    def task(key: int) -> Any:
        with timer:
            yield sync()
        return key

    assert run_two_tasks(task) == (1, 2)


@case
def scoped_value_override_entered_again_and_shared() -> None:
    value = AsyncScopedValue(1)
    override = value.override(2)
    with override:
        with override:
            assert value() == 2
        assert value() == 2

    value = AsyncScopedValue(1)
    override = value.override(2)

    @asynq()
    def task(key: int) -> Any:
        with override:
            yield sync()
        return key

    assert run_two_tasks(task) == (1, 2)
    assert value() == 1


@case
def async_override_entered_again_and_shared() -> None:
    class Config:
        mode = "normal"

    override = async_override(Config, "mode", "test")
    with override:
        with override:
            assert Config.mode == "test"
        assert Config.mode == "test"

    Config.mode = "normal"

    @asynq()
    def task(key: int) -> Any:
        with override:
            yield sync()
        return key

    assert run_two_tasks(task) == (1, 2)
    assert Config.mode == "normal"


@case
def async_override_of_an_attribute_set_after_it_is_made() -> None:
    class Config:
        pass

    override = async_override(Config, "mode", "test")
    async_override(Config, 5, "test")  # made, never entered
    Config.mode = "normal"  # type: ignore[attr-defined]
    with override:
        assert Config.mode == "test"  # type: ignore[attr-defined]
    assert Config.mode == "normal"  # type: ignore[attr-defined]


@case
def non_async_context_entered_again_outside_a_task() -> None:
    class Strict(NonAsyncContext):
        pass

    context = Strict()
    with context:
        with context:
            pass


# -- batching -----------------------------------------------------------------------------


class Table(BatchBase):
    """A batch whose _flush runs ``script``."""

    def __init__(self, script: Callable[[Table], None]) -> None:
        BatchBase.__init__(self)
        self.script = script

    def _try_switch_active_batch(self) -> None:
        pass

    def _flush(self) -> None:
        self.script(self)


class Key(BatchItemBase):
    def __init__(self, batch: BatchBase, key: Any) -> None:
        BatchItemBase.__init__(self, batch)
        self.key = key


@case
def batch_cancelled_by_its_own_flush() -> None:
    def store_down(batch: Table) -> None:
        batch.cancel(ConnectionError("store down"))

    batch = Table(store_down)
    item = Key(batch, 1)

    @asynq()
    def task() -> Any:
        try:
            return (yield item)
        except ConnectionError as error:
            return f"caught {error}"

    assert task() == "caught store down"
    assert batch.is_cancelled()
    with pytest.raises(ConnectionError):
        Key(Table(store_down), 2).value()


@case
def batch_item_added_by_its_batchs_own_flush() -> None:
    added: list[Key] = []

    def expand(batch: Table) -> None:
        if len(batch.items) == 1:
            added.append(Key(batch, 2))
        for item in batch.items:
            item.set_value(item.key * 10)

    assert Key(Table(expand), 1).value() == 10
    assert [item.value() for item in added] == [20]


# -- generator -----------------------------------------------------------------------------


@async_generator()
def three() -> Any:
    yield Value(1)
    yield double.asynq(1)
    yield Value(2)
    yield Value(3)


@case
def take_first_of_any_number() -> None:
    class Count(enum.IntEnum):
        TWO = 2

    assert take_first(three(), True) == [1]
    assert take_first(three(), 2.0) == [1, 2]
    assert take_first(three(), Count.TWO) == [1, 2]
    # Never reached: no limit.
    assert take_first(three(), -1) == [1, 2, 3]
    assert take_first(three(), 1.5) == [1, 2, 3]
    # Not a number: 1.6 fails at the first item, so not without one.
    assert take_first(iter([]), "3") == []


@case
def async_generator_of_a_function_returning_a_generator() -> None:
    def counting(limit: int) -> Any:
        for value in range(limit):
            yield Value(value)

    @async_generator()
    def checked(limit: int) -> Any:
        assert limit >= 0
        return counting(limit)

    @async_generator()
    def not_a_generator() -> int:  # decorated, never called
        return 1

    assert list_of_generator(checked(2)) == [0, 1]


@case
def list_of_generator_of_what_a_task_may_yield() -> None:
    steps = iter([ConstFuture(1), None, [ConstFuture(2), None], {"a": ConstFuture(3)}])
    assert list_of_generator(steps) == [1, None, [2, None], {"a": 3}]


# -- mock -----------------------------------------------------------------------------------

target = types.ModuleType("strictness_target")
sys.modules["strictness_target"] = target


@asynq()
def fetch(uid: int) -> str:
    return f"user {uid}"


class Service:
    @asynq()
    def get(self, key: int) -> int:
        return key


target.fetch = fetch  # type: ignore[attr-defined]
target.Service = Service  # type: ignore[attr-defined]


@case
def patch_with_mocksignature() -> None:
    with patch("strictness_target.fetch", new=lambda uid: "new", mocksignature=False):
        assert target.fetch.asynq(1).value() == "new"  # type: ignore[attr-defined]
    with patch.object(target, "fetch", mocksignature=False) as mocked:
        mocked.return_value = "mocked"
        assert target.fetch.asynq(1).value() == "mocked"  # type: ignore[attr-defined]


@case
def patch_then_replace_asynq_of_the_mock() -> None:
    with patch("strictness_target.fetch") as mocked:
        mocked.asynq = unittest_mock.MagicMock(return_value=ConstFuture("replaced"))
        assert target.fetch.asynq(1).value() == "replaced"  # type: ignore[attr-defined]
        mocked.asynq.assert_called_once_with(1)


@case
def patch_autospec_of_an_asynq_function_records_any_call() -> None:
    with patch("strictness_target.fetch", autospec=True) as mocked:
        mocked.return_value = "spec'd"
        assert target.fetch(1, 2, 3) == "spec'd"  # type: ignore[attr-defined]
        assert target.fetch.asynq(id=1).value() == "spec'd"  # type: ignore[attr-defined]
        assert mocked.call_args_list == [unittest_mock.call(1, 2, 3), unittest_mock.call(id=1)]
    with patch.object(Service, "get", autospec=True) as get:
        get.return_value = 7
        assert Service().get(4, 5) == 7
        get.assert_called_once_with(4, 5)


@case
def patch_object_of_a_name_or_a_bad_attribute_is_made() -> None:
    patch.object("strictness_target", "fetch")
    patch.object(target, 5)

    @patch.object("strictness_target", "fetch")
    def never_run() -> None:
        pass


# -- asynq-core ---------------------------------------------------------------------------------


@case
def core_asynq_of_an_async_def_function() -> None:
    @asynq()
    async def native(x: int) -> int:
        return x

    @asynq(pure=True)
    async def pure_native(x: int) -> int:
        return x

    assert asyncio.run(native(1)) == 1  # 1.6: the call returns the coroutine
    assert asyncio.run(pure_native(2).value()) == 2


@case
def core_asynq_sync_fn_of_a_partialmethod() -> None:
    class Store:
        def _load(self, key: int) -> str:
            return f"sync {key}"

        @asynq(sync_fn=functools.partialmethod(_load))
        def load(self, key: int) -> str:
            return f"async {key}"

    assert Store().load(1) == "sync 1"
    assert Store().load.asynq(2).value() == "async 2"


@case
def core_options_not_callable_but_never_used() -> None:
    @asynq(asyncio_fn=5)
    def plain_call(x: int) -> int:
        return x

    @async_proxy(asyncio_fn=5)
    def proxy(x: int) -> Any:
        return ConstFuture(x)

    @async_proxy(sync_fn=5)
    def proxy_asynq(x: int) -> Any:
        return ConstFuture(x)

    @asynq(sync_fn=5)
    def asynq_call(x: int) -> int:
        return x

    assert (plain_call(1), proxy(2), proxy_asynq.asynq(3).value()) == (1, 2, 3)
    assert asynq_call.asynq(4).value() == 4


@case
def core_async_proxy_returning_what_is_not_a_future() -> None:
    class DuckFuture:
        def value(self) -> int:
            return 7

    @async_proxy()
    def duck() -> Any:
        return DuckFuture()

    assert duck() == 7
    assert async_proxy()(double).asynq(3) == 6  # the function's value itself


@case
def core_make_async_decorator_lenient() -> None:
    wrapped = make_async_decorator(42, lambda x: ConstFuture(x), "wrapper")
    assert wrapped.asynq(3).value() == 3
    returns_value = make_async_decorator(double, lambda x: x, "wrapper")
    assert returns_value.asynq(3) == 3


@case
def core_async_call_of_a_bound_asynq() -> None:
    task = async_call(double.asynq, 2)  # 1.6: the value is the (unrun) task
    assert task.value() == 4


@pytest.mark.parametrize("check", CASES)
def test_accepted_as_by_asynq_16(check: Callable[[], None]) -> None:
    check()
