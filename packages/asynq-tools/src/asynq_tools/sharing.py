"""Sharing a call in progress: ``deduplicate``, and the pieces the caches of
``caches`` build on.

- ``_arguments_key`` (and ``_key_function``, for a key function a caller
  gives): the key that tells identical calls apart, the same for every way
  of passing the same arguments;
- ``_InFlight``: this thread's uncomputed shared futures by key;
- ``_task_running_or_below``: whether waiting on a task from here would make
  it wait on itself;
- ``_async_fn_of``: what the decorators call to start the decorated function.

Invariants:
- A computation in progress is shared by identical calls of the same thread
  only (each thread has its own scheduler), and held weakly: a task that
  nothing can wait on any more is forgotten.
- A call made from within the shared task itself (recursion) never waits on
  it: it gets a task of its own.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import qcore

from asynq_core import FutureBase, get_active_task
from asynq_core.decorators import AsyncDecoratorBinder, AsyncWrapperDecorator, get_async_fn
from asynq_core.lowlevel import callable_name

from .common import P, R_co, _AsynqFunction, _refusing

__all__ = [
    "deduplicate",
]


_R = TypeVar("_R")


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
