"""The caching decorators: ``acached_per_instance``, ``alru_cache`` (with
``CacheInfo``) and ``alazy_constant``.

They wrap an asynq function with ``make_async_decorator``, so the result is
an asynq function again (``f(...)``, ``f.asynq(...)``), binds like a method,
pickles by reference and leads ``qcore.get_original_fn`` to the original
function. A computation in progress is shared through ``sharing``.

Invariants:
- Only values are kept across calls, never failed results, and never a task
  (a finished task keeps its arguments, hence the instance, alive).
- A computation in progress is shared by identical calls of the same thread
  only, and held weakly (see ``sharing``); one started before
  ``cache_clear()`` or ``dirty()`` stores nothing.
"""

from __future__ import annotations

import decimal
import functools
import numbers
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from qcore import utime

from asynq_core import ConstFuture, FutureBase
from asynq_core.decorators import AsyncWrapperDecorator, get_async_fn, make_async_decorator
from asynq_core.lowlevel import callable_name

from .common import P, R_co, _AsynqFunction, _refusing, _WrapAsynqFunction
from .sharing import (
    _arguments_key,
    _async_fn_of,
    _InFlight,
    _key_function,
    _not_asynq_message,
    _task_running_or_below,
)

__all__ = [
    "acached_per_instance",
    "alru_cache",
    "alazy_constant",
    "CacheInfo",
]


_R = TypeVar("_R")


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


def _unhashable(tool: str, fn: Any, key: Any) -> TypeError:
    return TypeError(
        f"@{tool}(): the arguments of {callable_name(fn)} must be hashable to be cached, "
        f"got {key!r}"
    )


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
    asynq 1.x), as this module's ``utime`` (qcore's) tells, which patching
    ``asynq.tools.utime`` replaces, as in 1.x. Errors are not cached.

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
        computed_at = 0  # utime() when ``cached`` was stored
        generation = 0  # bumped by dirty(): older computations are not stored
        in_flight = _InFlight()

        def store(started_in: int, computed: FutureBase[Any]) -> None:
            nonlocal cached, computed_at
            if computed.error() is None and started_in == generation:
                cached = ConstFuture(computed.value())
                computed_at = utime()

        def constant(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            if args or kwargs:
                raise TypeError(
                    f"{callable_name(fn)} is an alazy_constant and takes no arguments, "
                    f"got {args!r} {kwargs!r}"
                )
            if cached is not None:
                if ttl_error is not None:
                    ttl_error()
                if ttl == 0 or utime() - computed_at <= ttl:
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
