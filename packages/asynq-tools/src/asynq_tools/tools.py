"""Tools for asynq code: async versions of the builtins, caches, retries, a timer, event hooks.

The builtin look-alikes (``amap``, ``afilter``, ``afilterfalse``, ``asorted``,
``amax``, ``amin``, ``asift``) start their function for every element before
yielding them all at once: each element's task runs until it waits on a
batch, so the lookups of all elements go into the same batches and are
flushed together. Their function may be an asynq function (called through
``.asynq``), a pure one, or a plain one (called at once).

The decorators (``acached_per_instance``, ``alru_cache``, ``alazy_constant``,
``aretry``, ``deduplicate``) wrap an asynq function with
``make_async_decorator``, so the result is an asynq function again
(``f(...)``, ``f.asynq(...)``), binds like a method, pickles by reference and
leads ``qcore.get_original_fn`` to the original function.

Invariants of the caches:
- Only values are kept across calls, never failed results, and never a task
  (a finished task keeps its arguments, hence the instance, alive).
- A computation in progress is shared by identical calls of the same thread
  only (each thread has its own scheduler), and held weakly: a task that
  nothing can wait on any more is forgotten.
"""

from __future__ import annotations

import decimal
import functools
import inspect
import numbers
import operator
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    NamedTuple,
    NoReturn,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
)

import qcore

from asynq_contexts import AsyncContext
from asynq_core import (
    AsyncTask,
    ConstFuture,
    ErrorFuture,
    FutureBase,
    asynq,
    get_active_task,
    is_asyncio_mode,
)
from asynq_core.decorators import (
    AsyncDecoratorBinder,
    AsyncWrapperDecorator,
    async_call,
    get_async_fn,
    make_async_decorator,
)
from asynq_core.lowlevel import (
    bound_asynq_message,
    callable_name,
    is_bound_asynq,
    reject_bound_asynq,
)

__all__ = [
    "amap",
    "afilter",
    "afilterfalse",
    "asorted",
    "amax",
    "amin",
    "asift",
    "acached_per_instance",
    "alru_cache",
    "alazy_constant",
    "aretry",
    "call_with_context",
    "deduplicate",
    "AsyncTimer",
    "AsyncEventHook",
    "CacheInfo",
]

_MISSING: Any = object()

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
_T = TypeVar("_T")
_T2 = TypeVar("_T2")
_R = TypeVar("_R")
_D = TypeVar("_D")


class _AsynqFunction(Protocol[P, R_co]):
    """What the caching and retrying decorators take: an asynq function
    (``@asynq()``, ``@async_proxy()``, or one of these decorators' results)."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> FutureBase[R_co]: ...


class _WrapAsynqFunction(Protocol):
    """What ``deduplicate()``, ``aretry()``, ... return: keeps the signature."""

    def __call__(self, fn: _AsynqFunction[P, _R], /) -> AsyncWrapperDecorator[P, _R]: ...


# -- calling a function for many elements --------------------------------------


def _element_caller(fn: Any, tool: str) -> Callable[..., FutureBase[Any]]:
    """What ``tool`` calls for one element: a callable returning a future of ``fn(...)``.

    A plain function is called at once; its error becomes an ErrorFuture so
    that the other elements are still computed before the error is raised.
    What cannot be called fails at the first element, as in asynq 1.x (so an
    empty sequence gives an empty result whatever the function).
    """
    async_fn = get_async_fn(fn)
    if async_fn is not None:
        return async_fn
    if not callable(fn):
        return _refusing(TypeError, f"{tool}() needs a function, got {fn!r}")
    if is_bound_asynq(fn):
        return _refusing(TypeError, bound_asynq_message(fn, tool))

    def call_now(*args: Any) -> FutureBase[Any]:
        try:
            return ConstFuture(fn(*args))
        except Exception as error:
            return ErrorFuture(error)

    return call_now


def _refusing(error: type[Exception], message: str) -> Callable[..., NoReturn]:
    """A function raising ``error(message)`` whenever it is called.

    What a tool uses where asynq 1.x accepts an argument and fails only when
    it is used, so that we never fail earlier than 1.x: an element function
    that is not callable fails at the first element (an empty sequence gives
    an empty result), a decorator's bad argument at the first call (a module
    defining a function it decorates still imports).
    """

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise error(message)

    return refuse


def _iterate(iterable: Iterable[_T], tool: str) -> Iterator[_T]:
    """``iter(iterable)``, with an error naming ``tool`` if it is not iterable."""
    try:
        return iter(iterable)
    except TypeError:
        raise TypeError(
            f"{tool}() needs an iterable, got {iterable!r} "
            f"('{type(iterable).__name__}' object is not iterable)"
        ) from None


# The builtin look-alikes are typed like the builtins. An element function is
# typed by what calling it returns, so an asynq function counts as its value
# (a pure one, whose call returns a task, as that task). A decorated function
# loses its type variables and overloads (the decorator's ParamSpec cannot
# carry them), so checkers see the tools as the classes below, which exist
# only for them; ``_Typed`` hands the tools over unchanged.

if TYPE_CHECKING:
    from asynq_core.decorators import AsyncDecorator

    class _AMap(AsyncDecorator[..., Any]):
        @overload  # type: ignore[override]
        def __call__(self, function: Callable[[_T], _R], sequence: Iterable[_T], /) -> list[_R]: ...
        @overload
        def __call__(
            self, function: Callable[[_T, _T2], _R], s1: Iterable[_T], s2: Iterable[_T2], /
        ) -> list[_R]: ...
        @overload
        def __call__(
            self,
            function: Callable[..., _R],
            s1: Iterable[Any],
            s2: Iterable[Any],
            s3: Iterable[Any],
            /,
            *sequences: Iterable[Any],
        ) -> list[_R]: ...
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def asynq(
            self, function: Callable[[_T], _R], sequence: Iterable[_T], /
        ) -> AsyncTask[list[_R]]: ...
        @overload
        def asynq(
            self, function: Callable[[_T, _T2], _R], s1: Iterable[_T], s2: Iterable[_T2], /
        ) -> AsyncTask[list[_R]]: ...
        @overload
        def asynq(
            self,
            function: Callable[..., _R],
            s1: Iterable[Any],
            s2: Iterable[Any],
            s3: Iterable[Any],
            /,
            *sequences: Iterable[Any],
        ) -> AsyncTask[list[_R]]: ...
        def asynq(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def asyncio(
            self, function: Callable[[_T], _R], sequence: Iterable[_T], /
        ) -> Coroutine[Any, Any, list[_R]]: ...
        @overload
        def asyncio(
            self, function: Callable[[_T, _T2], _R], s1: Iterable[_T], s2: Iterable[_T2], /
        ) -> Coroutine[Any, Any, list[_R]]: ...
        @overload
        def asyncio(
            self,
            function: Callable[..., _R],
            s1: Iterable[Any],
            s2: Iterable[Any],
            s3: Iterable[Any],
            /,
            *sequences: Iterable[Any],
        ) -> Coroutine[Any, Any, list[_R]]: ...
        def asyncio(self, *args: Any, **kwargs: Any) -> Any: ...

    class _Extreme(AsyncDecorator[..., Any]):
        """``amax`` and ``amin``: of one iterable (with an optional default) or
        of several arguments, like ``max`` and ``min``."""

        @overload
        def __call__(
            self, iterable: Iterable[_T], /, *, key: Callable[[_T], Any] | None = None
        ) -> _T: ...
        @overload
        def __call__(
            self, iterable: Iterable[_T], /, *, key: Callable[[_T], Any] | None = None, default: _D
        ) -> _T | _D: ...
        @overload
        def __call__(
            self, arg1: _T, arg2: _T, /, *args: _T, key: Callable[[_T], Any] | None = None
        ) -> _T: ...
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def asynq(
            self, iterable: Iterable[_T], /, *, key: Callable[[_T], Any] | None = None
        ) -> AsyncTask[_T]: ...
        @overload
        def asynq(
            self, iterable: Iterable[_T], /, *, key: Callable[[_T], Any] | None = None, default: _D
        ) -> AsyncTask[_T | _D]: ...
        @overload
        def asynq(
            self, arg1: _T, arg2: _T, /, *args: _T, key: Callable[[_T], Any] | None = None
        ) -> AsyncTask[_T]: ...
        def asynq(self, *args: Any, **kwargs: Any) -> Any: ...
        @overload
        def asyncio(
            self, iterable: Iterable[_T], /, *, key: Callable[[_T], Any] | None = None
        ) -> Coroutine[Any, Any, _T]: ...
        @overload
        def asyncio(
            self, iterable: Iterable[_T], /, *, key: Callable[[_T], Any] | None = None, default: _D
        ) -> Coroutine[Any, Any, _T | _D]: ...
        @overload
        def asyncio(
            self, arg1: _T, arg2: _T, /, *args: _T, key: Callable[[_T], Any] | None = None
        ) -> Coroutine[Any, Any, _T]: ...
        def asyncio(self, *args: Any, **kwargs: Any) -> Any: ...

    class _Filter(AsyncDecorator[..., Any]):
        def __call__(  # type: ignore[override]
            self, function: Callable[[_T], Any] | None, sequence: Iterable[_T]
        ) -> list[_T]: ...
        def asynq(
            self, function: Callable[[_T], Any] | None, sequence: Iterable[_T]
        ) -> AsyncTask[list[_T]]: ...
        def asyncio(
            self, function: Callable[[_T], Any] | None, sequence: Iterable[_T]
        ) -> Coroutine[Any, Any, list[_T]]: ...

    class _Sift(AsyncDecorator[..., Any]):
        def __call__(  # type: ignore[override]
            self, pred: Callable[[_T], Any], items: Iterable[_T]
        ) -> tuple[list[_T], list[_T]]: ...
        def asynq(
            self, pred: Callable[[_T], Any], items: Iterable[_T]
        ) -> AsyncTask[tuple[list[_T], list[_T]]]: ...
        def asyncio(
            self, pred: Callable[[_T], Any], items: Iterable[_T]
        ) -> Coroutine[Any, Any, tuple[list[_T], list[_T]]]: ...

    class _Sorted(AsyncDecorator[..., Any]):
        def __call__(  # type: ignore[override]
            self,
            iterable: Iterable[_T],
            key: Callable[[_T], Any] | None = None,
            reverse: bool = False,
        ) -> list[_T]: ...
        def asynq(
            self,
            iterable: Iterable[_T],
            key: Callable[[_T], Any] | None = None,
            reverse: bool = False,
        ) -> AsyncTask[list[_T]]: ...
        def asyncio(
            self,
            iterable: Iterable[_T],
            key: Callable[[_T], Any] | None = None,
            reverse: bool = False,
        ) -> Coroutine[Any, Any, list[_T]]: ...

    class _CallWithContext(AsyncDecorator[..., Any]):
        def __call__(
            self,
            context: AbstractContextManager[Any],
            fn: Callable[..., _R],
            *args: Any,
            **kwargs: Any,
        ) -> _R: ...
        def asynq(
            self,
            context: AbstractContextManager[Any],
            fn: Callable[..., _R],
            *args: Any,
            **kwargs: Any,
        ) -> AsyncTask[_R]: ...
        def asyncio(
            self,
            context: AbstractContextManager[Any],
            fn: Callable[..., _R],
            *args: Any,
            **kwargs: Any,
        ) -> Coroutine[Any, Any, _R]: ...


class _Typed(Generic[_T]):
    """``@_Typed["_AMap"]()`` hands a tool over unchanged, as an ``_AMap`` for checkers."""

    def __call__(self, tool: Any) -> _T:
        return tool


@_Typed["_AMap"]()
@asynq()
def amap(function: Any, sequence: Iterable[Any], *sequences: Iterable[Any]) -> Any:
    """Like ``list(map(function, sequence, ...))``; all calls run in the same round."""
    call = _element_caller(function, "amap")
    if sequences:
        iterators = [_iterate(each, "amap") for each in (sequence, *sequences)]
        return (yield [call(*args) for args in zip(*iterators, strict=False)])
    return (yield [call(item) for item in _iterate(sequence, "amap")])


@_Typed["_Filter"]()
@asynq()
def afilter(
    function: Callable[[_T], Any] | None, sequence: Iterable[_T]
) -> Generator[Any, Any, list[_T]]:
    """Like ``list(filter(function, sequence))``; ``function=None`` keeps truthy items."""
    items = list(_iterate(sequence, "afilter"))
    if function is None:
        return [item for item in items if item]
    call = _element_caller(function, "afilter")
    verdicts = yield [call(item) for item in items]
    return [item for item, keep in zip(items, verdicts, strict=True) if keep]


@_Typed["_Filter"]()
@asynq()
def afilterfalse(
    function: Callable[[_T], Any] | None, sequence: Iterable[_T]
) -> Generator[Any, Any, list[_T]]:
    """Like ``list(itertools.filterfalse(function, sequence))``: the items it rejects."""
    items = list(_iterate(sequence, "afilterfalse"))
    if function is None:
        return [item for item in items if not item]
    call = _element_caller(function, "afilterfalse")
    verdicts = yield [call(item) for item in items]
    return [item for item, keep in zip(items, verdicts, strict=True) if not keep]


@_Typed["_Sift"]()
@asynq()
def asift(
    pred: Callable[[_T], Any], items: Iterable[_T]
) -> Generator[Any, Any, tuple[list[_T], list[_T]]]:
    """Splits ``items`` into ``(yes, no)`` lists by ``pred``, keeping their order."""
    elements = list(_iterate(items, "asift"))
    call = _element_caller(pred, "asift")
    verdicts = yield [call(item) for item in elements]
    yes: list[_T] = []
    no: list[_T] = []
    for item, verdict in zip(elements, verdicts, strict=True):
        (yes if verdict else no).append(item)
    return (yes, no)


@_Typed["_Sorted"]()
@asynq()
def asorted(
    iterable: Iterable[_T], key: Callable[[_T], Any] | None = None, reverse: bool = False
) -> Generator[Any, Any, list[_T]]:
    """Like ``sorted``, with a key function that may be async; stable, also with ``reverse``."""
    items: list[Any] = list(_iterate(iterable, "asorted"))  # comparable when there is no key
    if key is None:
        return sorted(items, reverse=reverse)
    call = _element_caller(key, "asorted")
    keys = yield [call(item) for item in items]
    # Sorting positions by key compares keys only, never items, and keeps
    # equal keys in their original order (sorted is stable, reverse too).
    order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
    return [items[index] for index in order]


@_Typed["_Extreme"]()
@asynq()
def amax(*args: Any, key: Any = None, default: Any = _MISSING) -> Any:
    """Like ``max``: of one iterable or of several arguments, with ``key`` and ``default``."""
    return (yield from _extreme(args, key, default, "amax", max))


@_Typed["_Extreme"]()
@asynq()
def amin(*args: Any, key: Any = None, default: Any = _MISSING) -> Any:
    """Like ``min``: of one iterable or of several arguments, with ``key`` and ``default``."""
    return (yield from _extreme(args, key, default, "amin", min))


def _extreme(
    args: tuple[Any, ...], key: Any, default: Any, tool: str, pick: Callable[..., Any]
) -> Any:
    if not args:
        raise TypeError(f"{tool} expected at least 1 argument, got 0")
    if len(args) == 1:
        items = list(_iterate(args[0], tool))
    elif default is not _MISSING:
        raise TypeError(f"Cannot specify a default for {tool}() with multiple positional arguments")
    else:
        items = list(args)
    if not items:
        if default is _MISSING:
            raise ValueError(f"{tool}() arg is an empty sequence")
        return default
    if key is None:
        return pick(items)
    call = _element_caller(key, tool)
    keys = yield [call(item) for item in items]
    # max/min of positions by key returns the first extreme one, like the builtins.
    return items[pick(range(len(items)), key=keys.__getitem__)]


@_Typed["_CallWithContext"]()
@asynq()
def call_with_context(
    context: AbstractContextManager[Any], fn: Callable[..., _R], *args: Any, **kwargs: Any
) -> Generator[Any, Any, _R]:
    """Calls ``fn(*args, **kwargs)`` inside ``with context``.

    Useful to yield several calls at once of which only one should run in the
    context: ``yield call_with_context.asynq(ctx, f, x), g.asynq(y)``.
    """
    if not (hasattr(context, "__enter__") and hasattr(context, "__exit__")):
        raise TypeError(f"call_with_context() needs a context manager, got {context!r}")
    reject_bound_asynq(fn, "call_with_context")
    with context:
        return (yield async_call.asynq(fn, *args, **kwargs))


# -- the decorators' plumbing ------------------------------------------------


def _async_fn_of(fn: Any, tool: str) -> Callable[..., FutureBase[Any]]:
    async_fn = get_async_fn(fn)
    if async_fn is None:
        raise TypeError(_not_asynq_message(fn, tool))
    return async_fn


def _not_asynq_message(fn: Any, tool: str) -> str:
    return f"@{tool}() decorates asynq functions (put it above @asynq()), got {fn!r}"


def _key_function(
    key_fn: Any, option: str
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any] | None:
    """The key function a caller gave (None if none): one that is not callable
    fails at the first call, where asynq 1.x fails, not when decorating."""
    if key_fn is None or callable(key_fn):
        return key_fn
    return _refusing(TypeError, f"{option} needs a function, got {key_fn!r}")


def _plain_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return (args, tuple(sorted(kwargs.items()))) if kwargs else args


def _arguments_key(
    fn: Any, tool: str, skip_first: bool
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """A function ``(args, kwargs) -> key`` giving the same key for every way of
    passing the same arguments to ``fn`` (by position, by keyword, defaults)."""
    original = qcore.get_original_fn(fn)
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        return _plain_key
    params = list(signature.parameters.values())
    positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if skip_first and params and params[0].kind in positional_kinds:
        params = params[1:]
        signature = signature.replace(parameters=params)
    elif skip_first and not (params and params[0].kind is inspect.Parameter.VAR_POSITIONAL):
        # (With *args first, the instance is args[0] and the rest binds to *args.)
        # asynq 1.x accepts the decoration and fails at the call: so do we.
        return _refusing(
            TypeError, f"@{tool}() decorates methods, but {callable_name(fn)} takes no self"
        )
    all_positional = all(param.kind in positional_kinds for param in params)
    param_count = len(params)
    var_keyword = next(
        (param.name for param in params if param.kind is inspect.Parameter.VAR_KEYWORD), None
    )

    def key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not kwargs and all_positional and len(args) == param_count:
            return args  # what the general case below would build, only faster
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        if var_keyword is not None:
            values[var_keyword] = tuple(sorted(values[var_keyword].items()))
        return tuple(values.values())

    return key


def _unhashable(tool: str, fn: Any, key: Any) -> TypeError:
    return TypeError(
        f"@{tool}(): the arguments of {callable_name(fn)} must be hashable to be cached, "
        f"got {key!r}"
    )


class _InFlight(threading.local):
    """This thread's uncomputed shared futures by key, held weakly: a future
    that nothing references any more can no longer be waited on."""

    def __init__(self) -> None:
        self.refs: dict[Any, weakref.ref[FutureBase[Any]]] = {}

    def get(self, key: Any) -> FutureBase[Any] | None:
        refs = self.refs
        ref = refs.get(key)
        if ref is None:
            return None
        future = ref()
        if future is None or future.is_computed():
            del refs[key]
            return None
        return future

    def add(self, key: Any, future: FutureBase[Any]) -> None:
        refs = self.refs

        def forget(dead: weakref.ref[FutureBase[Any]]) -> None:
            if refs.get(key) is dead:
                del refs[key]

        refs[key] = weakref.ref(future, forget)

    def discard(self, key: Any) -> None:
        self.refs.pop(key, None)

    def clear(self) -> None:
        self.refs.clear()


class _DeduplicatedBinder(AsyncDecoratorBinder):
    """A deduplicated method bound to an instance: ``obj.f.dirty(x)`` is
    ``Class.f.dirty(obj, x)``."""

    __slots__ = ()

    def dirty(self, *args: Any, **kwargs: Any) -> None:
        self.decorator.dirty(self.instance, *args, **kwargs)


class _DeduplicatedFunction(AsyncWrapperDecorator[P, R_co]):
    """What ``deduplicate`` returns: make_async_decorator's object, whose
    ``dirty`` binds to the instance like the function does."""

    binder_cls = _DeduplicatedBinder

    def __init__(
        self,
        fn: Any,
        wrapper_fn: Callable[P, FutureBase[R_co]],
        dirty: Callable[P, None],
    ) -> None:
        super().__init__(fn, wrapper_fn, "deduplicate")
        self.dirty = dirty


def _task_running_or_below(task: Any) -> bool:
    """True when ``task`` is the running task or created it (indirectly): waiting
    on it from here would make it wait on itself."""
    current = get_active_task()
    while current is not None:
        if current is task:
            return True
        current = current.creator
    return False


# -- the decorators -------------------------------------------------------------


class _Deduplicate(Protocol):
    def __call__(self, fn: _AsynqFunction[P, _R], /) -> _DeduplicatedFunction[P, _R]: ...


def deduplicate(
    keygetter: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
) -> _Deduplicate:
    """Makes concurrent identical calls of an asynq function share one task.

    While a call is in progress, another call with the same arguments (in the
    same thread) returns the same task instead of starting a new one; once it
    is computed, the next call starts afresh. ``keygetter(args, kwargs)``
    returns the key that tells identical calls apart (default: the arguments,
    however they are passed). ``f.dirty(*args, **kwargs)`` forgets the task in
    progress for those arguments. A call made from within the shared task
    itself (recursion) gets a task of its own rather than waiting on itself.
    A call with unhashable arguments is not shared (asynq 1.x runs a
    synchronous call of it; its ``.asynq`` call failed).
    """

    def decorate(fn: Any) -> Any:
        start = _async_fn_of(fn, "deduplicate")
        key_of = _key_function(keygetter, "deduplicate(keygetter=...)") or _arguments_key(
            fn, "deduplicate", skip_first=False
        )
        in_flight = _InFlight()

        def shared_call(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            key = key_of(args, kwargs)
            try:
                running = in_flight.get(key)
            except TypeError:  # unhashable arguments: nothing to share
                return start(*args, **kwargs)
            if running is None:
                running = start(*args, **kwargs)
                in_flight.add(key, running)
                return running
            if _task_running_or_below(running):
                return start(*args, **kwargs)
            return running

        def dirty(*args: Any, **kwargs: Any) -> None:
            """Forgets the call in progress with these arguments, if any."""
            key = key_of(args, kwargs)
            try:
                in_flight.discard(key)
            except TypeError:  # unhashable arguments: their calls are not shared
                pass

        return _DeduplicatedFunction(fn, shared_call, dirty)

    return decorate


def acached_per_instance() -> _WrapAsynqFunction:
    """Caches the results of an async method per instance, like
    ``qcore.caching.cached_per_instance``.

    The cache of an instance is dropped when the instance is garbage collected
    (the instance must support weak references); errors are not cached.
    Concurrent identical calls on one instance share one task.
    """

    def decorate(fn: Any) -> Any:
        start = _async_fn_of(fn, "acached_per_instance")
        key_of = _arguments_key(fn, "acached_per_instance", skip_first=True)
        # id(instance) -> (weak reference to it, {arguments key: ConstFuture})
        caches: dict[int, tuple[weakref.ref[Any], dict[Any, ConstFuture[Any]]]] = {}
        in_flight = _InFlight()

        def values_of(instance: Any) -> dict[Any, ConstFuture[Any]]:
            instance_id = id(instance)
            entry = caches.get(instance_id)
            if entry is not None and entry[0]() is instance:
                return entry[1]

            def forget(dead: weakref.ref[Any]) -> None:
                current = caches.get(instance_id)
                if current is not None and current[0] is dead:
                    del caches[instance_id]

            try:
                ref = weakref.ref(instance, forget)
            except TypeError:
                raise TypeError(
                    f"@acached_per_instance(): {callable_name(fn)} needs instances that support "
                    f"weak references, got {instance!r}"
                ) from None
            values: dict[Any, ConstFuture[Any]] = {}
            caches[instance_id] = (ref, values)
            return values

        def cached_call(instance: Any, *args: Any, **kwargs: Any) -> FutureBase[Any]:
            values = values_of(instance)
            key = key_of(args, kwargs)
            try:
                cached = values.get(key)
            except TypeError:
                raise _unhashable("acached_per_instance", fn, key) from None
            if cached is not None:
                return cached
            flight_key = (id(instance), key)
            running = in_flight.get(flight_key)
            if running is not None and not _task_running_or_below(running):
                return running
            future = start(instance, *args, **kwargs)
            _store_when_computed(future, values, key)
            if not future.is_computed():
                in_flight.add(flight_key, future)
            return future

        decorated = make_async_decorator(fn, cached_call, "acached_per_instance")
        decorated.__acached_per_instance_cache__ = caches  # type: ignore[attr-defined]
        return decorated

    return decorate


def _store_when_computed(
    future: FutureBase[Any], values: dict[Any, ConstFuture[Any]], key: Any
) -> None:
    def store(computed: FutureBase[Any]) -> None:
        if computed.error() is None:
            values[key] = ConstFuture(computed.value())

    if future.is_computed():
        store(future)
    else:
        future.on_computed.subscribe(store)


class CacheInfo(NamedTuple):
    """What ``alru_cache``'s ``cache_info()`` returns (as ``functools.lru_cache``)."""

    hits: int
    misses: int
    maxsize: int | None
    currsize: int


if TYPE_CHECKING:

    class _LruCached(AsyncWrapperDecorator[P, R_co]):
        """What checkers see of an ``alru_cache`` function (at run time an
        AsyncWrapperDecorator with these two functions set on it)."""

        def cache_info(self) -> CacheInfo: ...
        def cache_clear(self) -> None: ...

    class _LazyConstant(AsyncWrapperDecorator[[], R_co]):
        """What checkers see of an ``alazy_constant`` function."""

        def dirty(self) -> None: ...


class _LruCache(Protocol):
    def __call__(self, fn: _AsynqFunction[P, _R], /) -> _LruCached[P, _R]: ...


class _MakeLazyConstant(Protocol):
    def __call__(self, fn: _AsynqFunction[[], _R], /) -> _LazyConstant[_R]: ...


def alru_cache(
    maxsize: int | None = 128,
    key_fn: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
) -> _LruCache:
    """Caches the values of an asynq function, keeping the ``maxsize`` most
    recently used (``None``: no limit; ``0``: no caching), like
    ``functools.lru_cache``.

    ``key_fn(args, kwargs)`` builds the cache key (default: the arguments,
    however they are passed). Errors are not cached; concurrent identical
    calls in one thread share one task. The decorated function has
    ``cache_info()`` and ``cache_clear()``.
    """
    if callable(maxsize):
        # @alru_cache without parentheses: asynq 1.x makes the function this
        # decorator, which fails when called, so it fails when called here too.
        return _refusing(
            TypeError, f"alru_cache() got the function {maxsize!r}: write @alru_cache()"
        )
    if maxsize is not None and (not isinstance(maxsize, int) or maxsize < 0):
        # (A bool is an int here, as for 1.x: maxsize=True keeps one value.)
        raise ValueError(f"alru_cache(maxsize=...) must be None or an int >= 0, got {maxsize!r}")

    def decorate(fn: Any) -> Any:
        start = _async_fn_of(fn, "alru_cache")
        key_of = _key_function(key_fn, "alru_cache(key_fn=...)") or _arguments_key(
            fn, "alru_cache", skip_first=False
        )
        values: OrderedDict[Any, ConstFuture[Any]] = OrderedDict()
        lock = threading.Lock()  # the cache is shared by every thread
        in_flight = _InFlight()
        hits = misses = 0
        generation = 0  # bumped by cache_clear(): older computations are not stored

        def store(key: Any, started_in: int, computed: FutureBase[Any]) -> None:
            if maxsize == 0 or computed.error() is not None:
                return
            with lock:
                if started_in != generation:
                    return
                values[key] = ConstFuture(computed.value())
                values.move_to_end(key)
                if maxsize is not None and len(values) > maxsize:
                    values.popitem(last=False)

        def cached_call(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            nonlocal hits, misses
            key = key_of(args, kwargs)
            with lock:
                try:
                    cached = values.get(key)
                except TypeError:
                    raise _unhashable("alru_cache", fn, key) from None
                if cached is not None:
                    values.move_to_end(key)
                    hits += 1
                    return cached
            running = in_flight.get(key)
            if running is not None and not _task_running_or_below(running):
                with lock:
                    hits += 1
                return running
            with lock:
                misses += 1
            future = start(*args, **kwargs)
            on_computed = functools.partial(store, key, generation)
            if future.is_computed():
                on_computed(future)
            else:
                future.on_computed.subscribe(on_computed)
                in_flight.add(key, future)
            return future

        def cache_info() -> CacheInfo:
            """Hits, misses, maxsize and current size of the cache."""
            with lock:
                return CacheInfo(hits, misses, maxsize, len(values))

        def cache_clear() -> None:
            """Empties the cache and resets its statistics."""
            nonlocal hits, misses, generation
            with lock:
                values.clear()
                hits = misses = 0
                generation += 1
            in_flight.clear()

        decorated = make_async_decorator(fn, cached_call, "alru_cache")
        decorated.cache_info = cache_info  # type: ignore[attr-defined]
        decorated.cache_clear = cache_clear  # type: ignore[attr-defined]
        return decorated

    return decorate


def alazy_constant(ttl: float = 0) -> _MakeLazyConstant:
    """Caches the value of an asynq function of no arguments, like
    ``qcore.caching.lazy_constant``.

    The value is recomputed once it is older than ``ttl`` microseconds
    (``0``: kept until ``f.dirty()`` is called; negative: never kept, as in
    asynq 1.x). Errors are not cached.

    As in asynq 1.x, the decoration is accepted whatever it is given: a
    ``ttl`` that is not a number fails when the value would be reused, a
    function that is not an asynq function when the constant is computed.
    """
    ttl_error = None
    if not isinstance(ttl, (numbers.Real, decimal.Decimal)):
        ttl_error = _refusing(
            TypeError, f"alazy_constant(ttl=...) must be a number of microseconds, got {ttl!r}"
        )

    def decorate(fn: Any) -> Any:
        start = get_async_fn(fn) or _refusing(TypeError, _not_asynq_message(fn, "alazy_constant"))
        cached: ConstFuture[Any] | None = None
        computed_at = 0  # qcore.utime() when ``cached`` was stored
        generation = 0  # bumped by dirty(): older computations are not stored
        in_flight = _InFlight()

        def store(started_in: int, computed: FutureBase[Any]) -> None:
            nonlocal cached, computed_at
            if computed.error() is None and started_in == generation:
                cached = ConstFuture(computed.value())
                computed_at = qcore.utime()

        def constant(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            if args or kwargs:
                raise TypeError(
                    f"{callable_name(fn)} is an alazy_constant and takes no arguments, "
                    f"got {args!r} {kwargs!r}"
                )
            if cached is not None:
                if ttl_error is not None:
                    ttl_error()
                if ttl == 0 or qcore.utime() - computed_at < ttl:
                    return cached
            running = in_flight.get(None)
            if running is not None and not _task_running_or_below(running):
                return running
            future = start()
            on_computed = functools.partial(store, generation)
            if future.is_computed():
                on_computed(future)
            else:
                future.on_computed.subscribe(on_computed)
                in_flight.add(None, future)
            return future

        def dirty() -> None:
            """Forgets the value: the next call computes it again."""
            nonlocal cached, generation
            cached = None
            generation += 1
            in_flight.clear()

        decorated = make_async_decorator(fn, constant, "alazy_constant")
        decorated.dirty = dirty  # type: ignore[attr-defined]
        return decorated

    return decorate


def aretry(
    exception_cls: type[BaseException] | tuple[type[BaseException], ...],
    max_tries: int = 10,
    sleep: float = 0.05,
) -> _WrapAsynqFunction:
    """Retries an asynq function while it raises ``exception_cls`` (a class or a
    tuple of classes), at most ``max_tries`` calls in all, sleeping ``sleep``
    seconds between them (a blocking ``time.sleep``); the last error is raised.

    A plain function may be decorated too (as in asynq 1.x): it is called
    synchronously at each attempt.

    As asynq 1.x, the decoration refuses only a ``max_tries`` that is not
    positive; the other arguments fail where they are used, with a clear
    error: an ``exception_cls`` that is not an exception class (or a tuple of
    them) when the function raises, a ``sleep`` that ``time.sleep`` refuses
    when retrying, a ``max_tries`` that is not an int at the call.
    """
    try:
        positive = bool(max_tries > 0)  # asynq 1.x's check (an assertion there)
    except TypeError:
        positive = False
    if not positive:
        raise ValueError(f"aretry(max_tries=...) must be an int >= 1, got {max_tries!r}")
    try:
        tries = operator.index(max_tries)  # also a bool or a numpy int, as range() takes them
    except TypeError:
        tries = 0
        tries_error: Callable[[], NoReturn] | None = _refusing(
            TypeError, f"aretry(max_tries=...) must be an int >= 1, got {max_tries!r}"
        )
    else:
        tries_error = None
    if _is_exception_spec(exception_cls):
        catch: Any = exception_cls
        bad_classes = None
    else:
        catch = Exception
        bad_classes = _refusing(
            TypeError,
            f"aretry() needs an exception class or a tuple of them, got {exception_cls!r}",
        )
    sleep_error = _sleep_error(sleep)

    def decorate(fn: Any) -> Any:
        start = get_async_fn(fn, wrap_if_none=True)
        assert start is not None

        def attempts(*args: Any, **kwargs: Any) -> Any:
            if tries_error is not None:
                tries_error()
            for attempt in range(1, tries + 1):
                try:
                    return (yield start(*args, **kwargs))
                except catch:
                    # (Raised in the except block, its context is the function's error.)
                    if bad_classes is not None:
                        bad_classes()
                    if attempt == tries:
                        raise
                    if sleep_error is not None:
                        sleep_error()
                    if sleep:
                        time.sleep(sleep)

        def retrying_call(*args: Any, **kwargs: Any) -> AsyncTask[Any]:
            return AsyncTask(attempts(*args, **kwargs), fn, args, kwargs)

        return make_async_decorator(fn, retrying_call, "aretry")

    return decorate


def _is_exception_spec(spec: Any) -> bool:
    """True if ``except spec:`` works: an exception class or a tuple of them (maybe empty)."""
    classes = spec if isinstance(spec, tuple) else (spec,)
    return all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in classes)


def _sleep_error(sleep: Any) -> Callable[[], NoReturn] | None:
    """None if ``time.sleep(sleep)`` works (a float or an int >= 0), else what raises its error."""
    if isinstance(sleep, float):
        number: Any = sleep
    else:
        try:
            number = operator.index(sleep)
        except TypeError:
            return _refusing(
                TypeError, f"aretry(sleep=...) must be a number of seconds >= 0, got {sleep!r}"
            )
    if number >= 0:
        return None
    return _refusing(
        ValueError, f"aretry(sleep=...) must be a number of seconds >= 0, got {sleep!r}"
    )


# -- contexts and events ----------------------------------------------------------


class AsyncTimer(AsyncContext):
    """Measures how long the code inside ``with AsyncTimer() as timer:`` runs.

    Only the time its task ran counts (with what it calls inside the block):
    the time other tasks run and batches are flushed in between is left out.
    Under asyncio (entered while ``is_asyncio_mode()``), it measures the wall
    time of the block, as asynq 1.x does there: the coroutines of a loop
    interleave with the native awaits a task makes, whose time is the task's.
    ``total_time`` is in microseconds; ``clock`` is a monotonic clock in
    nanoseconds.
    """

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        if not callable(clock):
            raise TypeError(f"AsyncTimer(clock=...) needs a function, got {clock!r}")
        self._clock = clock
        self._total_ns = 0
        self._resumed_at: int | None = None
        self._wall_clock = False

    def __enter__(self) -> AsyncTimer:
        self._wall_clock = is_asyncio_mode()
        return super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._wall_clock = False  # the pause of the exit stops it
        super().__exit__(*exc_info)

    def resume(self) -> None:
        if self._wall_clock and self._resumed_at is not None:
            return
        self._resumed_at = self._clock()

    def pause(self) -> None:
        if self._wall_clock:
            return
        resumed_at = self._resumed_at
        if resumed_at is not None:
            self._total_ns += self._clock() - resumed_at
            self._resumed_at = None

    @property
    def total_time(self) -> int:
        """Microseconds counted so far (including the current run, if running)."""
        total = self._total_ns
        if self._resumed_at is not None:
            total += self._clock() - self._resumed_at
        return total // 1000

    def __repr__(self) -> str:
        return f"<AsyncTimer {self.total_time} us>"


class AsyncEventHook(qcore.EventHook):
    """A ``qcore.EventHook`` whose ``trigger`` and ``safe_trigger`` are asynq functions.

    Async handlers are called through ``.asynq`` and run concurrently (their
    lookups batch together); plain handlers are called directly, in order.
    ``trigger`` stops calling handlers after a plain one raises; ``safe_trigger``
    calls them all. Both wait for every started handler, then raise the first
    error in handler order. A handler subscribed as ``f.asynq`` (rather than
    ``f``) is called as a plain one, as in asynq 1.x: the task it returns is
    not run.
    """

    @asynq()  # an asynq function where EventHook has a plain method
    def trigger(self, *args: Any) -> Generator[Any, Any, None]:  # pyright: ignore[reportIncompatibleMethodOverride]
        """Calls every handler with ``args``; stops at a plain handler that raises."""
        yield _start_handlers(self, args, stop_at_error=True)

    @asynq()
    def safe_trigger(self, *args: Any) -> Generator[Any, Any, None]:  # pyright: ignore[reportIncompatibleMethodOverride]
        """Calls every handler with ``args``, then raises the first error, if any."""
        yield _start_handlers(self, args, stop_at_error=False)


def _start_handlers(
    hook: qcore.EventHook, args: tuple[Any, ...], stop_at_error: bool
) -> list[FutureBase[Any]]:
    futures: list[FutureBase[Any]] = []
    # A copy: handlers may (un)subscribe while being called.
    for handler in list(hook):
        try:
            if is_bound_asynq(handler):
                # f.asynq subscribed instead of f: asynq 1.x calls it as a plain
                # handler, so the task it returns is made but never run.
                futures.append(ConstFuture(handler(*args)))
            else:
                futures.append(async_call.asynq(handler, *args))
        except BaseException as error:
            futures.append(ErrorFuture(error))
            if stop_at_error:
                break
    return futures
