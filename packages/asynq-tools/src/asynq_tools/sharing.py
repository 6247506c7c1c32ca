"""Sharing a call in progress: ``deduplicate`` (``DeduplicateDecorator``,
asynq 1.x's class), and the pieces the caches of ``caches`` build on.

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
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

import qcore

from asynq_core import AsyncTask, FutureBase, get_active_task
from asynq_core.asynq_to_async import run_call
from asynq_core.decorators import AsyncDecorator, AsyncDecoratorBinder, get_async_fn
from asynq_core.lowlevel import callable_name

from .common import P, R_co, _AsynqFunction, _refusing

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "deduplicate",
    "DeduplicateDecorator",
    "DeduplicateDecoratorBinder",
]


_R = TypeVar("_R")
_S = TypeVar("_S")
_P2 = ParamSpec("_P2")


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


def _task_running_or_below(task: Any) -> bool:
    """True when ``task`` is the running task or created it (indirectly): waiting
    on it from here would make it wait on itself."""
    current = get_active_task()
    while current is not None:
        if current is task:
            return True
        current = current.creator
    return False


class DeduplicateDecoratorBinder(AsyncDecoratorBinder[P, R_co]):
    """A deduplicated method bound to an instance: ``obj.f.dirty(x)`` is
    ``Class.f.dirty(obj, x)``; reached through its class (unbound), ``dirty``
    takes the instance first, as the call does."""

    __slots__ = ()

    def dirty(self, *args: Any, **kwargs: Any) -> None:
        if self.instance is None:
            self.decorator.dirty(*args, **kwargs)
        else:
            self.decorator.dirty(self.instance, *args, **kwargs)


class DeduplicateDecorator(AsyncDecorator[P, R_co]):
    """What ``deduplicate()`` makes, under asynq 1.x's name and constructor
    arguments: an ``AsyncDecorator``, so that code bases can recognise and
    subclass it.

    ``.asynq(...)`` returns the future of the identical call in progress (in
    this thread), else starts one; a call of the function is the value of
    ``.asynq(...)``. ``cache_key(args, kwargs)`` is the key that tells
    identical calls apart (``keygetter(args, kwargs)``; a subclass may
    override it); ``dirty(*args, **kwargs)`` forgets the call in progress.
    ``task_cls`` is kept as 1.x does (the decorated function's); the calls run
    through the decorated function's own ``.asynq``.
    """

    binder_cls = DeduplicateDecoratorBinder  # pyright: ignore[reportIncompatibleVariableOverride]

    if TYPE_CHECKING:

        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self: DeduplicateDecorator[Concatenate[_S, _P2], _R],
            instance: _S,
            owner: type | None = None,
        ) -> DeduplicateDecoratorBinder[_P2, _R]: ...
        @overload  # a staticmethod: its first parameter does not take the instance
        def __get__(self, instance: object, owner: type | None = None) -> Self: ...
        def __get__(self, instance: Any, owner: type | None = None) -> Any: ...  # pyright: ignore[reportIncompatibleMethodOverride]

    def __init__(
        self,
        fn: Any,
        task_cls: type[AsyncTask[Any]] | None = AsyncTask,
        keygetter: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
    ) -> None:
        self._start = _async_fn_of(fn, "deduplicate")
        super().__init__(
            fn,
            task_cls,  # type: ignore[arg-type]  # None for a proxy's, as in 1.x
            sync_fn=self._value_of_call,
            decorator_name="@deduplicate()",
        )
        self.keygetter = _key_function(keygetter, "deduplicate(keygetter=...)") or _arguments_key(
            fn, "deduplicate", skip_first=False
        )
        self._in_flight = _InFlight()

    def cache_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The key of a call: calls with equal keys share one task."""
        return self.keygetter(args, kwargs)

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> FutureBase[R_co]:  # type: ignore[override]
        """The future of the identical call in progress, or of a new one."""
        key = self.cache_key(args, kwargs)
        in_flight = self._in_flight
        try:
            running = in_flight.get(key)
        except TypeError:  # unhashable arguments: nothing to share
            return self._start(*args, **kwargs)
        if running is None:
            running = self._start(*args, **kwargs)
            in_flight.add(key, running)
            return running
        if _task_running_or_below(running):
            return self._start(*args, **kwargs)
        return running

    def _value_of_call(self, *args: Any, **kwargs: Any) -> Any:
        return self.asynq(*args, **kwargs).value()

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """A coroutine computing ``.asynq(...)`` on an asyncio event loop (the
        decorated function runs its ``asyncio_fn`` there, if it has one)."""
        return run_call(self.asynq, args, kwargs)

    def dirty(self, *args: Any, **kwargs: Any) -> None:
        """Forgets the call in progress with these arguments, if any."""
        key = self.cache_key(args, kwargs)
        try:
            self._in_flight.discard(key)
        except TypeError:  # unhashable arguments: their calls are not shared
            pass


class _Deduplicate(Protocol):
    def __call__(self, fn: _AsynqFunction[P, _R], /) -> DeduplicateDecorator[P, _R]: ...


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
    synchronous call of it; its ``.asynq`` call failed). The result is a
    ``DeduplicateDecorator``.
    """

    def decorate(fn: Any) -> Any:
        return DeduplicateDecorator(fn, getattr(fn, "task_cls", AsyncTask), keygetter)

    return decorate
