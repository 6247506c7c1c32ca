"""Code built on asynq: decorators of its own over asynq functions, and the
introspection that frameworks and static analyzers (pyanalyze, ...) do at
import time.

Every expectation here is asynq 1.6's behaviour: this file uses only 1.6's
API and passes unchanged with Quora's asynq 1.6.0 installed as ``asynq``
(copy it out of the repository and run pytest on it in a virtualenv with
``asynq==1.6.0 pytest``).
A code base's decorators are classes deriving from the public decorator
classes, built with ``qcore.decorators.decorate`` as asynq 1.6 builds its
own; objects that a decorator of ours cannot build are made inside the tests
that need them, so that one failure does not hide the others.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest
import qcore.decorators
import qcore.inspection

from asynq import (
    AsyncTask,
    ConstFuture,
    async_call,
    async_proxy,
    asynq,
    get_async_fn,
    get_async_or_sync_fn,
    has_async_fn,
    is_async_fn,
    is_pure_async_fn,
    make_async_decorator,
)
from asynq.decorators import (
    AsyncDecorator,
    AsyncDecoratorBinder,
    AsyncProxyDecorator,
    PureAsyncDecorator,
    PureAsyncDecoratorBinder,
    lazy,
)

# -- a code base's own decorators ---------------------------------------------------------


@asynq()
def _store_value(store: dict[Any, Any], key: Any, task: Any) -> Any:
    value = yield task
    store[key] = value
    return value


class CacheBinder(AsyncDecoratorBinder):
    """Bound methods of cached functions can drop a cached value."""

    def dirty(self, *args: Any) -> None:
        if self.instance is None:
            self.decorator.dirty(*args)
        else:
            self.decorator.dirty(self.instance, *args)


class CacheDecorator(AsyncDecorator):
    """``@cached(store)`` above ``@asynq()``: ``.asynq(...)`` answers from the
    store when it can, else runs the asynq function and stores its value."""

    binder_cls = CacheBinder

    def __init__(self, fn: Any, task_cls: Any, store: dict[Any, Any]) -> None:
        AsyncDecorator.__init__(self, fn, task_cls)
        self.store = store

    def name(self) -> str:
        return "@cached()"

    def asynq(self, *args: Any) -> Any:
        if args in self.store:
            return ConstFuture(self.store[args])
        return _store_value.asynq(self.store, args, self.fn.asynq(*args))

    def dirty(self, *args: Any) -> None:
        self.store.pop(args, None)


def cached(store: dict[Any, Any]) -> Any:
    return qcore.decorators.decorate(CacheDecorator, AsyncTask, store)


class LoggedDecorator(AsyncDecorator):
    """An AsyncDecorator of its own over a function that is not yet asynq:
    logs the arguments of every ``.asynq()`` call."""

    def __init__(self, fn: Any, task_cls: Any, log: list[Any]) -> None:
        super().__init__(fn, task_cls)
        self.log = log

    def name(self) -> str:
        return "@logged()"

    def asynq(self, *args: Any, **kwargs: Any) -> Any:
        self.log.append(args)
        return super().asynq(*args, **kwargs)


class TaggedDecorator(PureAsyncDecorator):
    """A pure decorator of its own: calling the function returns its task."""

    def __init__(self, fn: Any, task_cls: Any, tag: str) -> None:
        PureAsyncDecorator.__init__(self, fn, task_cls, {})
        self.tag = tag

    def name(self) -> str:
        return "@tagged()"


class LabelledProxy(AsyncProxyDecorator):
    """An async_proxy of its own, over a function that returns a future."""

    def __init__(self, fn: Any, label: str) -> None:
        AsyncProxyDecorator.__init__(self, fn)
        self.label = label

    def name(self) -> str:
        return "@labelled()"


class TaskWithExtra(AsyncTask):
    def __init__(self, generator: Any, fn: Any, args: Any, kwargs: Any, extra: Any = None) -> None:
        super().__init__(generator, fn, args, kwargs)
        self.extra = extra


# -- the functions and classes introspected -------------------------------------------------


@asynq()
def square(x: int) -> Any:
    """The square of x."""
    yield ConstFuture(None)
    return x * x


@asynq()
def times(x: int, y: int = 2) -> Any:
    """A plain function under @asynq()."""
    return x * y


@asynq(pure=True)
def pure_increment(x: int) -> Any:
    yield ConstFuture(None)
    return x + 1


@async_proxy()
def proxy_tenfold(x: int) -> Any:
    return ConstFuture(x * 10)


def add_plain(x: int, y: int) -> int:
    return x + y


def add_generator(x: int, y: int) -> Any:
    yield ConstFuture(None)
    return x + y


def future_of_double(x: int) -> Any:
    return ConstFuture(x * 2)


def doubled(x: int, y: int) -> Any:
    """Replaced by the make_async_decorator object below (pickled by its name)."""
    yield ConstFuture(None)
    return x + y


undecorated_doubled = doubled
doubled = make_async_decorator(doubled, lambda x, y: ConstFuture(2 * (x + y)), "doubled")


def cached_cube(x: int) -> Any:
    """Replaced by its cached asynq version in test_own_decorator_pickles_by_reference."""
    yield ConstFuture(None)
    return x**3


class Model:
    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Model({self.n})"

    @asynq()
    def plus(self, x: int) -> Any:
        """n + x."""
        yield ConstFuture(None)
        return self.n + x

    @asynq(pure=True)
    def pure_times(self, x: int) -> Any:
        return self.n * x

    @async_proxy()
    def proxy_minus(self, x: int) -> Any:
        return ConstFuture(self.n - x)

    @asynq()
    @classmethod
    def named(cls, x: int) -> Any:
        return (cls.__name__, x)

    @asynq()
    @staticmethod
    def tripled(x: int) -> Any:
        return x * 3

    @staticmethod
    @asynq()
    def quadrupled(x: int) -> Any:
        return x * 4

    @classmethod
    @asynq()
    def named_outside(cls, x: int) -> Any:
        return (cls.__name__, x, "outside")

    def _half(self, x: int) -> Any:
        return ConstFuture((self.n + x) / 2)

    halved = make_async_decorator(_half, lambda self, x: ConstFuture((self.n + x) / 2), "halved")


class SubModel(Model):
    pass


@dataclasses.dataclass(frozen=True)
class Point:
    """Equal points are equal values, as a code base's models often are."""

    x: int

    @asynq()
    def moved(self, dx: int) -> Any:
        return self.x + dx


def make_cached_model(store: dict[Any, Any]) -> type:
    """A model whose asynq methods are cached, the decorator above @asynq()."""

    class CachedModel:
        def __init__(self, n: int) -> None:
            self.n = n

        @cached(store)
        @asynq()
        def doubled(self, x: int) -> Any:
            yield ConstFuture(None)
            return (self.n + x) * 2

        @cached(store)
        @asynq()
        @classmethod
        def label(cls, x: int) -> Any:
            return f"{cls.__name__}:{x}"

        @cached(store)
        @asynq()
        @staticmethod
        def negated(x: int) -> Any:
            return -x

    return CachedModel


# -- a decorator class of one's own over an @asynq() function ------------------------------


def test_own_async_decorator_over_an_asynq_function_calls_through_it() -> None:
    store: dict[Any, Any] = {(4,): "stored"}
    cached_square = cached(store)(square)
    assert cached_square(3) == 9
    assert cached_square.asynq(5).value() == 25
    assert store[(5,)] == 25
    assert cached_square.asynq(4).value() == "stored"
    cached_square.dirty(4)
    assert cached_square.asynq(4).value() == 16


def test_own_async_decorator_over_an_asynq_function_has_the_decorator_attributes() -> None:
    cached_square = cached({})(square)
    assert isinstance(cached_square, CacheDecorator)
    assert isinstance(cached_square, AsyncDecorator)
    assert isinstance(cached_square, PureAsyncDecorator)
    assert cached_square.fn is square
    assert cached_square.task_cls is AsyncTask
    assert cached_square.type is None
    assert cached_square.store == {}
    assert cached_square.is_decorator()
    assert cached_square.name() == "@cached()"
    assert cached_square.__name__ == "square"
    assert cached_square.__module__ == __name__
    assert cached_square.__doc__ == "The square of x."


def test_own_async_decorator_over_an_asynq_function_is_introspected_as_async() -> None:
    cached_square = cached({})(square)
    assert is_async_fn(cached_square)
    assert has_async_fn(cached_square)
    assert not is_pure_async_fn(cached_square)
    assert get_async_fn(cached_square) == cached_square.asynq
    assert get_async_or_sync_fn(cached_square) == cached_square.asynq
    assert qcore.inspection.get_original_fn(cached_square) is square.fn
    assert async_call(cached_square, 6) == 36


def test_own_async_decorator_over_asynq_methods_binds_with_its_binder_class() -> None:
    store: dict[Any, Any] = {}
    cached_model = make_cached_model(store)
    model = cached_model(1)
    assert type(model.doubled) is CacheBinder
    assert model.doubled.decorator is vars(cached_model)["doubled"]
    assert model.doubled.instance is model
    assert model.doubled.asynq(2).value() == 6
    assert store == {(model, 2): 6}
    model.doubled.dirty(2)
    assert store == {}
    assert model.doubled(3) == 8
    assert is_async_fn(model.doubled) and not is_pure_async_fn(model.doubled)


def test_own_async_decorator_over_classmethods_and_staticmethods() -> None:
    store: dict[Any, Any] = {}
    cached_model = make_cached_model(store)
    assert vars(cached_model)["label"].type is classmethod
    assert vars(cached_model)["negated"].type is staticmethod
    assert cached_model.label(1) == "CachedModel:1"
    assert cached_model.label.instance is cached_model
    assert cached_model(0).label.asynq(2).value() == "CachedModel:2"
    assert store == {(cached_model, 2): "CachedModel:2"}
    assert cached_model.negated is vars(cached_model)["negated"]
    assert cached_model.negated(3) == -3
    assert cached_model(0).negated.asynq(4).value() == -4
    assert qcore.inspection.get_original_fn(vars(cached_model)["label"]).__name__ == "label"


def test_own_pure_decorator_over_an_asynq_function() -> None:
    tagged_square = qcore.decorators.decorate(TaggedDecorator, AsyncTask, "sq")(square)
    task = tagged_square(3)
    assert isinstance(task, AsyncTask)
    assert task.value() == 9
    assert tagged_square.fn is square
    assert qcore.inspection.get_original_fn(tagged_square) is square.fn
    assert is_pure_async_fn(tagged_square) and not has_async_fn(tagged_square)
    assert get_async_fn(tagged_square) is tagged_square


# -- decorator classes of one's own over plain functions ----------------------------------


@pytest.mark.parametrize("fn", [add_plain, add_generator], ids=["plain", "generator"])
def test_own_async_decorator_over_a_function_uses_its_own_asynq(fn: Any) -> None:
    log: list[Any] = []
    logged = qcore.decorators.decorate(LoggedDecorator, AsyncTask, log)(fn)
    assert logged.asynq(3, 4).value() == 7
    assert log == [(3, 4)]
    assert logged(1, 2) == 3
    assert logged.fn is fn
    assert logged.name() == "@logged()"
    assert is_async_fn(logged) and has_async_fn(logged) and not is_pure_async_fn(logged)


def test_own_pure_decorator_over_a_generator_function() -> None:
    tagged = qcore.decorators.decorate(TaggedDecorator, AsyncTask, "t")(add_generator)
    task = tagged(1, 2)
    assert isinstance(task, AsyncTask)
    assert task.value() == 3
    assert tagged.tag == "t"
    assert tagged.name() == "@tagged()"
    assert tagged.fn is add_generator
    assert tagged.task_cls is AsyncTask
    assert isinstance(tagged, PureAsyncDecorator) and not isinstance(tagged, AsyncDecorator)
    assert is_pure_async_fn(tagged) and is_async_fn(tagged) and not has_async_fn(tagged)
    assert get_async_fn(tagged) is tagged
    assert not hasattr(tagged, "asynq")


def test_own_async_proxy_decorator_over_a_function_returning_a_future() -> None:
    labelled = qcore.decorators.decorate(LabelledProxy, "L")(future_of_double)
    assert labelled(3) == 6
    assert labelled.asynq(3).value() == 6
    assert labelled.label == "L"
    assert labelled.name() == "@labelled()"
    assert labelled.fn is future_of_double
    assert is_async_fn(labelled) and has_async_fn(labelled) and not is_pure_async_fn(labelled)


def test_decorator_classes_built_the_way_asynq_builds_them() -> None:
    """asynq() builds ``decorate(AsyncDecorator, cls, kwargs, asyncio_fn)``;
    a code base's factory may do the same."""
    impure = qcore.decorators.decorate(AsyncDecorator, AsyncTask, {}, None)(add_generator)
    assert impure(1, 2) == 3
    assert impure.asynq(1, 2).value() == 3
    pure = qcore.decorators.decorate(PureAsyncDecorator, AsyncTask, {})(add_generator)
    assert pure(1, 2).value() == 3
    assert is_pure_async_fn(pure)


def test_pure_decorator_exposes_its_task_class_and_task_kwargs() -> None:
    @asynq(pure=True, cls=TaskWithExtra, extra=5)
    def identity(x: int) -> Any:
        return x

    assert identity.task_cls is TaskWithExtra
    assert identity.kwargs == {"extra": 5}
    assert identity(1).extra == 5


# -- introspection of asynq functions ------------------------------------------------------


def test_asynq_functions_are_instances_of_the_public_decorator_classes() -> None:
    for fn in (square, times):
        assert isinstance(fn, AsyncDecorator) and isinstance(fn, PureAsyncDecorator)
    assert isinstance(pure_increment, PureAsyncDecorator)
    assert not isinstance(pure_increment, AsyncDecorator)
    assert isinstance(proxy_tenfold, AsyncProxyDecorator)
    assert not isinstance(doubled, AsyncDecorator)


def test_async_proxy_functions_are_async_decorators() -> None:
    assert issubclass(AsyncProxyDecorator, AsyncDecorator)
    assert isinstance(proxy_tenfold, AsyncDecorator)


def test_decorators_and_binders_are_qcore_decorators() -> None:
    for fn in (square, pure_increment, proxy_tenfold, doubled):
        assert isinstance(fn, qcore.decorators.DecoratorBase)
    model = Model(1)
    for bound in (model.plus, model.pure_times, model.proxy_minus, Model.named):
        assert isinstance(bound, qcore.decorators.DecoratorBinder)


def test_decorator_attributes_of_module_functions() -> None:
    assert square.fn.__name__ == "square" and inspect.isgeneratorfunction(square.fn)
    assert times.fn.__name__ == "times" and not inspect.isgeneratorfunction(times.fn)
    assert square.task_cls is AsyncTask and pure_increment.task_cls is AsyncTask
    assert square.type is None
    assert square.is_decorator()
    assert square.name() == "@asynq()"
    assert (square.__name__, square.__module__, square.__doc__) == (
        "square",
        __name__,
        "The square of x.",
    )
    assert vars(Model)["named"].type is classmethod
    assert vars(Model)["tripled"].type is staticmethod


def test_pure_decorator_names_itself_pure() -> None:
    assert pure_increment.name() == "@asynq(pure=True)"


def test_kind_predicates_on_functions_methods_and_binders() -> None:
    model = Model(5)
    # (object, is_async_fn, is_pure_async_fn, has_async_fn)
    table = [
        (square, True, False, True),
        (times, True, False, True),
        (pure_increment, True, True, False),
        (proxy_tenfold, True, False, True),
        (doubled, True, False, True),
        (add_generator, False, False, False),
        (model.plus, True, False, True),
        (model.pure_times, True, True, False),
        (model.proxy_minus, True, False, True),
        (model.halved, True, False, True),
        (Model.plus, True, False, True),
        (Model.pure_times, True, True, False),
        (Model.named, True, False, True),
        (model.named, True, False, True),
        (Model.tripled, True, False, True),
        (model.tripled, True, False, True),
        (Model.quadrupled, True, False, True),
    ]
    for fn, is_async, is_pure, has_async in table:
        assert (is_async_fn(fn), is_pure_async_fn(fn), has_async_fn(fn)) == (
            is_async,
            is_pure,
            has_async,
        ), fn


def test_get_async_fn_and_get_async_or_sync_fn() -> None:
    model = Model(5)
    assert get_async_fn(square) == square.asynq
    assert get_async_fn(proxy_tenfold) == proxy_tenfold.asynq
    assert get_async_fn(pure_increment) is pure_increment
    assert get_async_fn(add_generator) is None
    assert get_async_or_sync_fn(add_plain) is add_plain
    assert get_async_or_sync_fn(square) == square.asynq
    assert get_async_fn(model.plus)(1).value() == 6


def _asynq_functions() -> dict[str, Any]:
    return {
        "square": square,
        "times": times,
        "proxy_tenfold": proxy_tenfold,
        "doubled": doubled,
        "model.plus": Model(5).plus,
        "Model.named": Model.named,
        "Model.tripled": Model.tripled,
    }


@pytest.mark.parametrize("name", list(_asynq_functions()))
def test_dot_asynq_is_a_method_named_asynq_of_its_function(name: str) -> None:
    """What pyanalyze checks to know ``x.asynq`` for an asynq function ``x``."""
    fn = _asynq_functions()[name]
    dot_asynq = fn.asynq
    assert dot_asynq.__name__ == "asynq"
    assert dot_asynq.__self__ == fn
    assert is_async_fn(dot_asynq.__self__)
    assert not qcore.inspection.is_classmethod(dot_asynq)


def test_an_object_with_an_asynq_method_counts_as_an_async_function() -> None:
    class Memoized:
        def __call__(self, x: int) -> int:
            return x + 1

        def asynq(self, x: int) -> Any:
            return ConstFuture(x + 100)

    memoized = Memoized()
    assert is_async_fn(memoized) and has_async_fn(memoized)
    assert not is_pure_async_fn(memoized)
    assert get_async_fn(memoized) == memoized.asynq
    assert async_call(memoized, 1) == 101


def test_a_function_that_says_it_is_pure_counts_as_pure() -> None:
    def future_of_triple(x: int) -> Any:
        return ConstFuture(x * 3)

    future_of_triple.is_pure_async_fn = lambda: True
    assert is_pure_async_fn(future_of_triple) and is_async_fn(future_of_triple)
    assert get_async_fn(future_of_triple) is future_of_triple
    assert async_call(future_of_triple, 2) == 6


def test_lazy_and_wrapped_sync_functions_are_pure() -> None:
    lazy_increment = lazy(lambda x: x + 1)
    assert is_pure_async_fn(lazy_increment) and is_async_fn(lazy_increment)
    assert lazy_increment(3).value() == 4
    wrapped = get_async_fn(add_plain, wrap_if_none=True)
    assert is_pure_async_fn(wrapped)
    assert wrapped(2, 3).value() == 5


def test_pure_bound_methods_have_no_asynq_attribute() -> None:
    model = Model(2)
    assert not hasattr(pure_increment, "asynq")
    assert not hasattr(model.pure_times, "asynq")
    assert not hasattr(Model.pure_times, "asynq")


# -- methods, classmethods, staticmethods ---------------------------------------------------


def test_bound_method_is_a_binder_of_the_decorator() -> None:
    model = Model(5)
    assert type(model.plus) is AsyncDecoratorBinder
    assert type(model.proxy_minus) is AsyncDecoratorBinder
    assert type(model.pure_times) is PureAsyncDecoratorBinder
    assert model.plus.decorator is vars(Model)["plus"]
    assert model.plus.instance is model
    assert model.plus.is_decorator()
    assert model.plus.name() == "@asynq()"
    assert qcore.inspection.get_original_fn(model.plus.decorator) is vars(Model)["plus"].fn
    assert model.plus(1) == 6
    assert model.plus.asynq(1).value() == 6
    assert model.pure_times(2).value() == 10
    assert model.proxy_minus(2) == 3
    assert model.proxy_minus.asynq(2).value() == 3


def test_method_reached_through_the_class_takes_the_instance() -> None:
    model = Model(5)
    assert Model.plus(model, 1) == 6
    assert Model.plus.asynq(model, 1).value() == 6
    assert Model.pure_times(model, 3).value() == 15


def test_method_reached_through_the_class_is_an_unbound_binder() -> None:
    unbound = Model.plus
    assert isinstance(unbound, AsyncDecoratorBinder)
    assert unbound.decorator is vars(Model)["plus"]
    assert unbound.instance is None
    assert isinstance(Model.pure_times, PureAsyncDecoratorBinder)


def test_classmethod_binders_bind_the_class_they_are_reached_from() -> None:
    model = Model(5)
    assert Model.named.instance is Model
    assert model.named.instance is Model
    assert SubModel.named.instance is SubModel
    assert SubModel(1).named.instance is SubModel
    assert Model.named.decorator is vars(Model)["named"]
    assert (Model.named(1), model.named(2), SubModel.named(3)) == (
        ("Model", 1),
        ("Model", 2),
        ("SubModel", 3),
    )
    assert SubModel.named.asynq(4).value() == ("SubModel", 4)


def test_staticmethod_is_the_decorator_itself() -> None:
    model = Model(5)
    assert Model.tripled is vars(Model)["tripled"]
    assert model.tripled is vars(Model)["tripled"]
    assert (Model.tripled(1), model.tripled(2)) == (3, 6)
    assert Model.tripled.asynq(3).value() == 9
    assert model.tripled.asynq(4).value() == 12


def test_staticmethod_and_classmethod_applied_outside_the_decorator() -> None:
    model = Model(5)
    assert Model.quadrupled is vars(Model)["quadrupled"].__func__
    assert (Model.quadrupled(1), model.quadrupled(2)) == (4, 8)
    assert Model.quadrupled.asynq(3).value() == 12
    assert model.quadrupled.asynq(4).value() == 16
    assert (Model.named_outside(1), model.named_outside(2), SubModel.named_outside(3)) == (
        ("Model", 1, "outside"),
        ("Model", 2, "outside"),
        ("SubModel", 3, "outside"),
    )


def test_bound_methods_compare_and_hash_by_decorator_and_instance() -> None:
    model = Model(5)
    assert model.plus == model.plus
    assert hash(model.plus) == hash(model.plus)
    assert len({model.plus, model.plus, Model(5).plus}) == 2
    assert model.plus != Model(5).plus
    assert model.plus != model.proxy_minus
    assert model.named == Model.named
    assert Model.named != SubModel.named
    assert Model.plus == Model.plus


def test_bound_methods_of_equal_instances_are_equal() -> None:
    first, second, other = Point(1), Point(1), Point(2)
    assert first.moved == second.moved
    assert hash(first.moved) == hash(second.moved)
    assert first.moved != other.moved
    assert second.moved(2) == 3


def test_signature_of_the_original_function() -> None:
    """Analyzers reach a decorated function's signature through
    ``qcore.inspection.get_original_fn``."""

    def parameters(fn: Any) -> list[str]:
        original = qcore.inspection.get_original_fn(fn)
        return list(inspect.signature(original).parameters)

    model = Model(5)
    assert parameters(square) == ["x"]
    assert parameters(times) == ["x", "y"]
    assert parameters(pure_increment) == ["x"]
    assert parameters(proxy_tenfold) == ["x"]
    assert parameters(doubled) == ["x", "y"]
    assert parameters(vars(Model)["plus"]) == ["self", "x"]
    assert parameters(model.plus.decorator) == ["self", "x"]
    assert parameters(vars(Model)["named"]) == ["cls", "x"]
    assert parameters(Model.named.decorator) == ["cls", "x"]
    assert parameters(Model.tripled) == ["x"]
    assert parameters(Model.quadrupled) == ["x"]


@pytest.mark.parametrize("follow_wrapped", [True, False])
def test_signature_of_a_bound_method_if_any_leaves_out_what_is_bound(follow_wrapped: bool) -> None:
    """1.6 gives bound methods no signature (ValueError); one that is given
    must be that of the call, without ``self`` or ``cls``."""
    model = Model(5)
    for bound in (model.plus, Model.named, model.named, model.halved):
        try:
            signature = inspect.signature(bound, follow_wrapped=follow_wrapped)
        except ValueError:
            continue
        assert "self" not in signature.parameters, (bound, signature)
        assert "cls" not in signature.parameters, (bound, signature)


def test_signature_of_a_function_if_any_is_the_original_one() -> None:
    """1.6 gives decorated functions no signature (ValueError); one that is
    given must be the decorated function's."""
    for fn in (square, times, pure_increment, proxy_tenfold, Model.tripled):
        try:
            signature = inspect.signature(fn)
        except ValueError:
            continue
        assert signature == inspect.signature(fn.fn), fn


# -- make_async_decorator ------------------------------------------------------------------


def test_make_async_decorator_over_a_generator_function() -> None:
    assert doubled(1, 2) == 6
    assert doubled.asynq(1, 2).value() == 6
    assert doubled.name() == "@doubled()"
    assert doubled.fn is undecorated_doubled
    assert doubled.type is None
    assert doubled.is_decorator()
    assert doubled.__name__ == "doubled"
    assert qcore.inspection.get_original_fn(doubled) is undecorated_doubled
    assert get_async_fn(doubled) == doubled.asynq


def test_make_async_decorator_over_an_asynq_function() -> None:
    """The usual way to write a cache over an asynq function."""
    calls: list[int] = []

    def counted(x: int) -> Any:
        calls.append(x)
        return square.asynq(x)

    counted_square = make_async_decorator(square, counted, "counted")
    assert counted_square(3) == 9
    assert counted_square.asynq(4).value() == 16
    assert calls == [3, 4]
    assert counted_square.fn is square
    assert qcore.inspection.get_original_fn(counted_square) is square.fn
    assert is_async_fn(counted_square) and not is_pure_async_fn(counted_square)


def test_make_async_decorator_is_not_an_async_proxy_decorator() -> None:
    assert not isinstance(doubled, AsyncProxyDecorator)
    assert not isinstance(doubled, PureAsyncDecorator)


def test_make_async_decorator_on_a_method_binds() -> None:
    model = Model(3)
    assert type(model.halved) is AsyncDecoratorBinder
    assert model.halved.instance is model
    assert model.halved.decorator is vars(Model)["halved"]
    assert model.halved(5) == 4
    assert model.halved.asynq(7).value() == 5


# -- pickling by reference ---------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize(
    "name", ["square", "times", "pure_increment", "proxy_tenfold", "doubled"]
)
def test_module_level_decorated_functions_pickle_by_reference(name: str, protocol: int) -> None:
    fn = globals()[name]
    assert pickle.loads(pickle.dumps(fn, protocol)) is fn


def test_own_decorator_pickles_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    decorated = cached({})(asynq()(cached_cube))
    monkeypatch.setitem(globals(), "cached_cube", decorated)
    assert pickle.loads(pickle.dumps(decorated)) is decorated
    assert pickle.loads(pickle.dumps([decorated], 0))[0](2) == 8
