"""@asynq(), @async_proxy() and the helpers that tell and convert asynq functions."""

from __future__ import annotations

import pickle
from typing import Any
from unittest import mock

import pytest
import qcore

from asynq_core import (
    AsyncTask,
    ConstFuture,
    Future,
    FutureBase,
    async_call,
    async_proxy,
    asynq,
    get_active_task,
    get_async_fn,
    get_async_or_sync_fn,
    has_async_fn,
    is_async_fn,
    is_pure_async_fn,
    lazy,
    make_async_decorator,
)
from asynq_core.decorators import (
    AsyncAndSyncPairDecorator,
    AsyncAndSyncPairProxyDecorator,
    AsyncDecorator,
    AsyncWrapper,
    AsyncWrapperDecorator,
    PureAsyncDecorator,
)


@asynq()
def add(a: int, b: int = 0) -> Any:
    """Adds two numbers, asynchronously."""
    yield None
    return a + b


@asynq()
def plain_square(x: int) -> int:
    """A plain function made asynq."""
    return x * x


@asynq(pure=True)
def pure_negate(x: int) -> Any:
    yield None
    return -x


@async_proxy()
def proxy_const(x: Any) -> FutureBase[Any]:
    """Returns a future of x."""
    return ConstFuture(x)


class Calculator:
    factor = 3

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calculator) and other.offset == self.offset

    __hash__ = object.__hash__

    @asynq()
    def shifted(self, x: int) -> Any:
        """Adds the offset."""
        value = yield add.asynq(x, self.offset)
        return value

    @asynq()
    @classmethod
    def scaled(cls, x: int) -> Any:
        yield None
        return x * cls.factor

    @asynq()
    @staticmethod
    def halved(x: int) -> Any:
        yield None
        return x / 2

    @async_proxy()
    def proxied(self, x: int) -> FutureBase[int]:
        return ConstFuture(x + self.offset)

    @asynq(pure=True)
    def pure_method(self, x: int) -> Any:
        yield None
        return x - self.offset


class BigCalculator(Calculator):
    factor = 100


class TaggedTask(AsyncTask[Any]):
    """A task class taking an extra keyword, for cls= and pure kwargs."""

    __slots__ = ("tag",)

    def __init__(self, generator: Any, fn: Any, args: Any, kwargs: Any, tag: str = "") -> None:
        super().__init__(generator, fn, args, kwargs)
        self.tag = tag


# -- @asynq() -----------------------------------------------------------------


def test_a_call_runs_synchronously_and_asynq_returns_a_task() -> None:
    assert add(1, 2) == 3
    assert add(1, b=5) == 6
    task = add.asynq(2, b=3)
    assert isinstance(task, AsyncTask)
    assert not task.is_computed()
    assert task.value() == 5


def test_a_plain_function_becomes_asynq() -> None:
    assert plain_square(4) == 16
    task = plain_square.asynq(5)
    assert isinstance(task, AsyncTask)
    assert task.value() == 25

    @asynq()
    def uses_it() -> Any:
        return (yield [plain_square.asynq(2), plain_square.asynq(3)])

    assert uses_it() == [4, 9]


def test_a_plain_function_error_fails_its_task() -> None:
    @asynq()
    def broken(x: int) -> int:
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 1"):
        broken(1)
    assert isinstance(broken.asynq(2).error(), ValueError)


def test_name_doc_and_module_are_kept() -> None:
    assert add.__name__ == "add"
    assert add.__qualname__ == "add"
    assert add.__doc__ == "Adds two numbers, asynchronously."
    assert add.__module__ == __name__
    assert plain_square.__doc__ == "A plain function made asynq."
    assert proxy_const.__name__ == "proxy_const"
    assert proxy_const.__doc__ == "Returns a future of x."
    assert Calculator.shifted.__name__ == "shifted"
    assert Calculator.shifted.__qualname__ == "Calculator.shifted"
    assert Calculator.shifted.__doc__ == "Adds the offset."
    assert Calculator(0).shifted.__name__ == "shifted"
    assert "add" in repr(add)
    assert add.is_decorator() and Calculator(0).shifted.is_decorator()
    assert add.name() == Calculator(0).shifted.name() == "@asynq()"
    assert proxy_const.name() == "@async_proxy()"


def test_on_a_method() -> None:
    calc = Calculator(10)
    assert calc.shifted(1) == 11
    task = calc.shifted.asynq(2)
    assert isinstance(task, AsyncTask)
    assert task.value() == 12
    assert task.args == (calc, 2)
    assert Calculator.shifted(calc, 3) == 13  # unbound, through the class
    assert Calculator.shifted.asynq(calc, 4).value() == 14
    assert calc.shifted == calc.shifted
    # Bound methods of equal instances are equal, as in asynq 1.x.
    assert calc.shifted == Calculator(10).shifted
    assert calc.shifted != Calculator(11).shifted


def test_on_a_classmethod() -> None:
    assert Calculator.scaled(2) == 6
    assert Calculator(0).scaled(2) == 6
    assert Calculator.scaled.asynq(3).value() == 9
    assert BigCalculator.scaled(2) == 200
    assert BigCalculator(0).scaled.asynq(1).value() == 100


def test_on_a_staticmethod() -> None:
    assert Calculator.halved(3) == 1.5
    assert Calculator(0).halved(4) == 2
    assert Calculator.halved.asynq(5).value() == 2.5


def test_methods_can_be_yielded_together() -> None:
    @asynq()
    def combine() -> Any:
        calc = Calculator(1)
        return (
            yield [
                calc.shifted.asynq(1),
                Calculator.scaled.asynq(1),
                calc.halved.asynq(1),
                calc.proxied.asynq(1),
                calc.pure_method(1),
            ]
        )

    assert combine() == [2, 3, 0.5, 2, 0]


def test_module_level_functions_pickle_by_reference() -> None:
    for fn in (add, plain_square, pure_negate, proxy_const):
        assert pickle.loads(pickle.dumps(fn)) is fn
    # A method reached through its class is an unbound binder, as in 1.x.
    assert pickle.loads(pickle.dumps(Calculator.shifted)) == Calculator.shifted
    restored = pickle.loads(pickle.dumps(add))
    assert restored(1, 1) == 2


def test_bound_methods_pickle_with_their_instance() -> None:
    bound = Calculator(7).shifted
    restored = pickle.loads(pickle.dumps(bound))
    assert restored.instance == Calculator(7)
    assert restored(1) == 8
    assert pickle.loads(pickle.dumps(Calculator.scaled))(1) == 3


def test_pure_calls_return_a_task_and_have_no_asynq() -> None:
    task = pure_negate(3)
    assert isinstance(task, AsyncTask)
    assert not task.is_computed()
    assert task.value() == -3
    assert not hasattr(pure_negate, "asynq")
    with pytest.raises(AttributeError):
        Calculator(1).pure_method.asynq(1)
    assert Calculator(1).pure_method(5).value() == 4


def test_pure_passes_extra_keyword_arguments_to_the_task_class() -> None:
    @asynq(pure=True, cls=TaggedTask, tag="important")
    def tagged(x: int) -> Any:
        yield None
        return x + 1

    task = tagged(1)
    assert type(task) is TaggedTask
    assert task.tag == "important"
    assert task.value() == 2


def test_cls_is_the_task_class_created() -> None:
    created = []

    class RecordingTask(AsyncTask[Any]):
        __slots__ = ()

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            created.append(self)

    @asynq(cls=RecordingTask)
    def recorded(x: int) -> Any:
        yield None
        return x

    task = recorded.asynq(1)
    assert type(task) is RecordingTask
    assert recorded(2) == 2
    assert len(created) == 2


def test_sync_fn_is_used_for_the_synchronous_call_only() -> None:
    calls = []

    def sync_version(x: int) -> str:
        calls.append(x)
        return f"sync {x}"

    @asynq(sync_fn=sync_version)
    def both(x: int) -> Any:
        yield None
        return f"async {x}"

    assert both(1) == "sync 1"
    assert both.asynq(2).value() == "async 2"
    assert calls == [1]


def test_async_proxy_returns_the_future_and_its_value() -> None:
    future = Future(lambda: "lazy")

    @async_proxy()
    def give(f: FutureBase[Any]) -> FutureBase[Any]:
        return f

    assert give.asynq(future) is future
    assert not future.is_computed()
    assert give(future) == "lazy"
    assert proxy_const(5) == 5
    assert Calculator(1).proxied(1) == 2
    assert Calculator(1).proxied.asynq(2).value() == 3


def test_async_proxy_sync_fn_and_pure() -> None:
    @async_proxy(sync_fn=lambda x: ("sync", x))
    def with_sync(x: int) -> FutureBase[Any]:
        return ConstFuture(("async", x))

    assert with_sync(1) == ("sync", 1)
    assert with_sync.asynq(1).value() == ("async", 1)

    def returns_future() -> FutureBase[int]:
        return ConstFuture(1)

    assert async_proxy(pure=True)(returns_future) is returns_future


def test_async_proxy_wrapping_a_task_can_be_yielded() -> None:
    @async_proxy()
    def delegating(x: int) -> FutureBase[Any]:
        return add.asynq(x, 100)

    @asynq()
    def user() -> Any:
        return (yield delegating.asynq(1))

    assert user() == 101


# -- telling asynq functions apart --------------------------------------------


def plain(x: int) -> int:
    return x


@pytest.mark.parametrize(
    ("fn", "has_async", "is_async", "is_pure"),
    [
        (add, True, True, False),
        (plain_square, True, True, False),
        (pure_negate, False, True, True),
        (proxy_const, True, True, False),
        (async_call, True, True, False),
        (Calculator(1).shifted, True, True, False),
        (Calculator.scaled, True, True, False),
        (Calculator.halved, True, True, False),
        (Calculator(1).pure_method, False, True, True),
        (plain, False, False, False),
        (lazy(plain), False, True, True),
        (get_async_fn(plain, wrap_if_none=True), False, True, True),
        (lambda: None, False, False, False),
        (len, False, False, False),
        (mock.MagicMock(), False, False, False),
        (42, False, False, False),
    ],
)
def test_has_is_and_is_pure_async_fn(fn: Any, has_async: bool, is_async: bool, is_pure: bool):
    assert has_async_fn(fn) is has_async
    assert is_async_fn(fn) is is_async
    assert is_pure_async_fn(fn) is is_pure


def test_get_async_fn() -> None:
    assert get_async_fn(add) == add.asynq
    assert get_async_fn(add)(1, 2).value() == 3
    assert get_async_fn(pure_negate) is pure_negate
    bound = Calculator(2).shifted
    assert get_async_fn(bound)(1).value() == 3
    assert get_async_fn(plain) is None
    assert get_async_fn(plain, wrap_if_none=False) is None
    assert get_async_fn(42) is None


def test_get_async_fn_wraps_a_sync_function_in_a_const_future() -> None:
    wrapped = get_async_fn(plain, wrap_if_none=True)
    assert wrapped is not None
    future = wrapped(9)
    assert isinstance(future, ConstFuture)
    assert future.value() == 9
    assert wrapped.__name__ == "plain"
    assert get_async_fn(add, wrap_if_none=True) == add.asynq
    assert get_async_fn(wrapped) is wrapped  # it is a pure async function itself


def test_get_async_or_sync_fn() -> None:
    assert get_async_or_sync_fn(add) == add.asynq
    assert get_async_or_sync_fn(plain) is plain
    assert get_async_or_sync_fn(pure_negate) is pure_negate


def test_async_call_works_with_async_and_sync_functions() -> None:
    assert async_call(add, 1, b=2) == 3
    assert async_call(plain, 4) == 4
    assert async_call(pure_negate, 4) == -4
    sync_future = async_call.asynq(plain, 5)
    assert isinstance(sync_future, ConstFuture)
    assert sync_future.value() == 5
    assert isinstance(async_call.asynq(add, 1), AsyncTask)

    @asynq()
    def mixed() -> Any:
        return (
            yield [
                async_call.asynq(add, 1, 1),
                async_call.asynq(plain, 2),
                async_call.asynq(pure_negate, 3),
                async_call.asynq(Calculator(1).shifted, 1),
            ]
        )

    assert mixed() == [2, 2, -3, 2]


def test_make_async_decorator_builds_a_wrapping_asynq_function() -> None:
    calls = []

    def counting(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            calls.append(args)
            return fn.asynq(*args, **kwargs)

        return make_async_decorator(fn, wrapper, "counting")

    counted_add = counting(add)
    assert counted_add(1, 2) == 3
    task = counted_add.asynq(3, 4)
    assert isinstance(task, AsyncTask)
    assert task.value() == 7
    assert calls == [(1, 2), (3, 4)]
    assert has_async_fn(counted_add)
    assert counted_add.__name__ == "add"
    assert "@counting()" in repr(counted_add)

    @asynq()
    def user() -> Any:
        return (yield counted_add.asynq(5))

    assert user() == 5


def test_make_async_decorator_wrapper_must_return_a_future() -> None:
    broken = make_async_decorator(add, lambda *args: "not a future", "broken")
    with pytest.raises(TypeError, match=r"@broken\(\).*add.*'not a future'"):
        broken(1)


def test_lazy_returns_a_future_computed_when_needed() -> None:
    calls = []

    @lazy
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 2

    future = expensive(21)
    assert isinstance(future, Future)
    assert calls == []
    assert future.value() == 42
    assert future.value() == 42
    assert calls == [21]
    assert expensive.__name__ == "expensive"

    @asynq()
    def user() -> Any:
        return (yield [expensive(1), expensive(2)])

    assert user() == [2, 4]


def test_a_task_created_by_a_decorator_records_the_original_function() -> None:
    seen = []

    @asynq()
    def who_am_i() -> Any:
        seen.append(get_active_task().fn)
        yield None

    who_am_i()
    assert seen[0] is who_am_i.fn
    assert seen[0].__name__ == "who_am_i"


# -- code built on the decorator classes (as asynq 1.x code bases do) ------------


class Doubling(AsyncDecorator[Any, Any]):
    """A decorator of a code base of its own, wrapping an asynq function."""

    def __init__(self, fn: Any, task_cls: Any, kwargs: Any = None) -> None:
        super().__init__(fn, task_cls, kwargs)

    def asynq(self, *args: Any, **kwargs: Any) -> Any:
        return double_task.asynq(self.fn, args, kwargs)


@asynq()
def double_task(fn: Any, args: Any, kwargs: Any) -> Any:
    return 2 * (yield fn.asynq(*args, **kwargs))


def test_a_subclass_of_a_decorator_class_may_wrap_an_asynq_function() -> None:
    doubled_add = qcore.decorators.decorate(Doubling, AsyncTask)(add)
    assert doubled_add.fn is add
    assert doubled_add.asynq(1, 2).value() == 6
    assert is_async_fn(doubled_add) and not is_pure_async_fn(doubled_add)
    assert qcore.inspection.get_original_fn(doubled_add) is add.fn
    # @asynq() itself is refused over an asynq function, as in 1.x.
    with pytest.raises(AssertionError, match="already an asynq function"):
        asynq()(add)


class CountingCache(AsyncDecorator[Any, Any]):
    """The 1.x way to build a cache: override _call_pure, which every call takes."""

    def __init__(self, fn: Any, task_cls: Any) -> None:
        super().__init__(fn, task_cls)
        self.cache: dict[Any, Any] = {}

    def _call_pure(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args not in self.cache:
            self.cache[args] = ConstFuture(super()._call_pure(args, kwargs).value())
        return self.cache[args]


def test_a_subclass_overriding_call_pure_gets_every_call() -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    cached = qcore.decorators.decorate(CountingCache, AsyncTask)(square)
    assert cached(3) == 9
    assert cached.asynq(3).value() == 9
    assert add.asynq(0, 0).value() == 0  # other decorators are untouched

    @asynq()
    def caller() -> Any:
        return (yield cached.asynq(4)), (yield cached.asynq(3))

    assert caller() == (16, 9)
    assert calls == [3, 4]


def test_a_wrapper_of_an_asynq_classmethod_binds_like_it() -> None:
    class Shop:
        @asynq()
        @classmethod
        def label(cls, x: int) -> Any:
            return f"{cls.__name__}:{x}"
            yield

    def shout(fn: Any) -> Any:
        @asynq(pure=True)
        def louder(*args: Any) -> Any:
            return (yield fn.asynq(*args)).upper()

        return make_async_decorator(fn, louder, "shout")

    Shop.loud = shout(Shop.__dict__["label"])  # type: ignore[attr-defined]
    assert Shop.loud(3) == "SHOP:3"  # type: ignore[attr-defined]
    assert Shop().loud.asynq(4).value() == "SHOP:4"  # type: ignore[attr-defined]


def test_a_decorated_method_accessed_on_its_class_is_an_unbound_binder() -> None:
    assert Calculator.shifted.decorator is Calculator.__dict__["shifted"]
    assert Calculator.shifted.instance is None


def test_sync_fn_may_be_a_classmethod_or_staticmethod_object_of_the_class_body() -> None:
    class Pair:
        @classmethod
        def sync_kind(cls) -> str:
            return f"sync {cls.__name__}"

        @asynq(sync_fn=sync_kind)
        @classmethod
        def kind(cls) -> Any:
            return f"async {cls.__name__}"
            yield

        @staticmethod
        def sync_static() -> str:
            return "sync static"

        @asynq(sync_fn=sync_static)
        @staticmethod
        def static() -> Any:
            return "async static"
            yield

    assert Pair.kind() == "sync Pair"
    assert Pair.kind.asynq().value() == "async Pair"
    assert Pair.static() == "sync static"
    assert Pair.static.asynq().value() == "async static"


def test_the_1x_decorator_class_names_take_1x_arguments() -> None:
    def generator() -> Any:
        return "value"
        yield

    paired = AsyncAndSyncPairDecorator(generator, AsyncTask, lambda: "sync")
    assert paired() == "sync" and paired.asynq().value() == "value"
    proxy = AsyncAndSyncPairProxyDecorator(lambda: ConstFuture("future"), lambda: "sync")
    assert proxy() == "sync" and proxy.asynq().value() == "future"
    assert AsyncWrapper is AsyncWrapperDecorator
    assert PureAsyncDecorator(generator, AsyncTask).name() == "@asynq(pure=True)"
