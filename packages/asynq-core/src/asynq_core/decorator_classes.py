"""The decorator classes: what ``@asynq()`` and ``@async_proxy()`` make, and
the binders their methods bind to (``asynq_core.decorators`` re-exports them
with the factories and the introspection helpers).

A decorator object runs its function synchronously when called and returns an
``AsyncTask`` from ``.asynq()`` (a pure one returns the task when called); a
proxy's function returns a future. The objects bind like functions (methods,
classmethods and staticmethods, the decorator applied outside the latter two)
and pickle by reference like the functions they wrap.

Invariants:
- What kind of callable an object is, is the class attribute ``_asynq_kind``
  ("async": has ``.asynq``; "pure": calling returns a task), read on the type.
- The classes take asynq 1.x's constructor arguments, so that code bases can
  subclass them; such a subclass may wrap a function that is already an
  asynq function.
- The declarations made only for checkers live under TYPE_CHECKING (here and
  in ``decorator_types``), so binding costs no extra call at run time.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    overload,
)

import qcore.decorators

from . import asynq_to_async
from . import scheduler as _scheduler_module
from .async_task import AsyncTask
from .asyncio_mode import check_sync_call, running_in_asyncio
from .binders import AsyncDecoratorBinder, P, PureAsyncDecoratorBinder, R_co
from .futures import FutureBase
from .text import callable_name

__all__ = [
    "PureAsyncDecorator",
    "AsyncDecorator",
    "AsyncProxyDecorator",
    "AsyncAndSyncPairDecorator",
    "AsyncAndSyncPairProxyDecorator",
    "AsyncWrapperDecorator",
    "AsyncWrapper",
    "AsyncDecoratorBinder",
    "PureAsyncDecoratorBinder",
]

if TYPE_CHECKING:
    from typing_extensions import Self

    from .binders import _BoundAsyncProxy  # pyright: ignore[reportPrivateUsage]  # checkers' own

# The thread's scheduler, read without a call.
_thread_state = _scheduler_module._state  # pyright: ignore[reportPrivateUsage]

# Static typing: ``P`` is the decorated function's parameters and ``R_co``
# what a synchronous call returns (the generator's return value; both from
# binders). The
# ``__get__`` overloads drop the first parameter (``self``) when a method is
# bound (classmethods: see _AsyncClassMethod); like every declaration made
# only for checkers they live under TYPE_CHECKING, so binding costs no extra
# call at run time.
_P2 = ParamSpec("_P2")
_R = TypeVar("_R")
_S = TypeVar("_S")


def _call_plain(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The generator of a task of a plain (non-generator) function: it returns
    what ``fn`` returns. Its frame shares the task's args and kwargs."""
    return fn(*args, **kwargs)
    yield  # makes this a generator function; never reached


def _plain_to_generator(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A generator function returning what ``fn`` returns, for @asynq() on plain functions."""

    def run(*args: Any, **kwargs: Any) -> Any:
        return _call_plain(fn, args, kwargs)

    return run


class _DecoratorBase(qcore.decorators.DecoratorBase):  # pyright: ignore[reportMissingTypeArgument]
    """Binding, naming and pickling shared by every asynq decorator object.

    A ``qcore.decorators.DecoratorBase``, as in asynq 1.x (analyzers test for
    it). Accessed on its class, a decorated method gives a binder whose
    ``instance`` is None (an unbound method, as in 1.x); a classmethod binds
    the class it is reached from; a staticmethod gives the decorator itself.
    """

    _asynq_kind = "async"
    binder_cls: type[AsyncDecoratorBinder[Any, Any]]  # pyright: ignore[reportIncompatibleVariableOverride]
    # The decorated function, and classmethod/staticmethod (or None) when the
    # decorator was applied over one (qcore's attributes).
    fn: Any
    type: Any

    if TYPE_CHECKING:
        # Copied from the decorated function by functools.update_wrapper.
        __name__: str
        __qualname__: str

        # Each subclass defines the call; declared here for update_wrapper.
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    # Whether the decorated object must be callable (see AsyncWrapperDecorator).
    _fn_must_be_callable = True

    def __init__(self, fn: Any, decorator_name: str) -> None:
        decorated_type: Any = None
        if isinstance(fn, (classmethod, staticmethod)):
            # Of any function: checkers know no type arguments of it.
            decorated_type = type(fn)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            fn = fn.__func__  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
        elif isinstance(fn, _DecoratorBase):
            # Wrapping an asynq method: bind as it does (a classmethod's class).
            decorated_type = fn.type
        if not callable(fn) and self._fn_must_be_callable:
            raise TypeError(f"{decorator_name} needs a function, got {fn!r}")
        # A function's own attributes are copied, as functools.wraps does; an
        # asynq function's are its machinery (fn, asynq, ...), not copied.
        updated = () if isinstance(fn, _DecoratorBase) else functools.WRAPPER_UPDATES
        functools.update_wrapper(self, fn, updated=updated)
        self.type = decorated_type
        self.fn = fn
        self.decorator_name = decorator_name

    def is_decorator(self) -> bool:
        return True

    def name(self) -> str:
        return self.decorator_name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:  # type: ignore[override]
        decorated_type = self.type
        if decorated_type is staticmethod:
            return self
        if decorated_type is classmethod:
            return self.binder_cls(self, owner if owner is not None else type(instance))
        return self.binder_cls(self, instance)

    def __reduce__(self) -> str:
        return self.__qualname__

    def __repr__(self) -> str:
        return f"<{self.decorator_name} {self.__module__}.{self.__qualname__}>"

    def __str__(self) -> str:
        return repr(self)


class PureAsyncDecorator(_DecoratorBase, Generic[P, R_co]):
    """``@asynq(pure=True)``: calling the function returns an AsyncTask.

    ``task_cls`` is the task class, ``kwargs`` the extra keyword arguments
    given to it (asynq 1.x's attributes).
    """

    _asynq_kind = "pure"

    if TYPE_CHECKING:

        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self: PureAsyncDecorator[Concatenate[_S, _P2], _R],
            instance: _S,
            owner: type | None = None,
        ) -> PureAsyncDecoratorBinder[_P2, _R]: ...
        @overload  # a staticmethod: its first parameter does not take the instance
        def __get__(self, instance: object, owner: type | None = None) -> Self: ...
        def __get__(self, instance: Any, owner: type | None = None) -> Any: ...

    def __init__(
        self,
        fn: Any,
        task_cls: type[AsyncTask[Any]] = AsyncTask,
        kwargs: dict[str, Any] | None = None,
        asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
        decorator_name: str = "@asynq(pure=True)",
    ) -> None:
        super().__init__(fn, decorator_name)
        fn = self.fn
        # An async def function is taken as a plain one, as asynq 1.x does: a
        # call returns its coroutine (asyncio_fn= is the way to run native code).
        self._generator_fn = fn if inspect.isgeneratorfunction(fn) else _plain_to_generator(fn)
        self.task_cls = task_cls
        self.kwargs = kwargs or {}
        self.asyncio_fn = asyncio_fn

    def _make_task(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.asyncio_fn is not None and running_in_asyncio.get():
            return asynq_to_async.NativeCall(self.asyncio_fn, args, kwargs)
        generator = self._generator_fn(*args, **kwargs)
        if self.kwargs:
            return self.task_cls(generator, self.fn, args, kwargs, **self.kwargs)
        return self.task_cls(generator, self.fn, args, kwargs)

    def _call_pure(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The future of a call. Its name is asynq 1.x's: a subclass that
        overrides it (e.g. to serve calls from a cache) gets every call."""
        return self._make_task(args, kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AsyncTask[R_co]:
        return self._call_pure(args, kwargs)

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """A coroutine running the function on an asyncio event loop."""
        if self.asyncio_fn is not None:
            return self.asyncio_fn(*args, **kwargs)
        return asynq_to_async.run_call(self._call_pure, (args, kwargs), {})


class AsyncDecorator(PureAsyncDecorator[P, R_co]):
    """``@asynq()``: ``f(...)`` runs synchronously, ``f.asynq(...)`` returns an AsyncTask."""

    _asynq_kind = "async"

    # The class shares PureAsyncDecorator's machinery, but a call returns the
    # value rather than the task, hence the overrides that checkers see as
    # incompatible.
    if TYPE_CHECKING:

        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self: AsyncDecorator[Concatenate[_S, _P2], _R],
            instance: _S,
            owner: type | None = None,
        ) -> AsyncDecoratorBinder[_P2, _R]: ...
        @overload  # a staticmethod: its first parameter does not take the instance
        def __get__(self, instance: object, owner: type | None = None) -> Self: ...
        def __get__(self, instance: Any, owner: type | None = None) -> Any: ...  # pyright: ignore[reportIncompatibleMethodOverride]

    def __init__(
        self,
        fn: Any,
        task_cls: type[AsyncTask[Any]] = AsyncTask,
        kwargs: dict[str, Any] | None = None,
        asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
        *,
        sync_fn: Callable[..., Any] | None = None,
        allow_sync_call: bool = False,
        decorator_name: str = "@asynq()",
    ) -> None:
        super().__init__(fn, task_cls, kwargs, asyncio_fn, decorator_name)
        self.sync_fn = _unwrap_method_object(sync_fn)
        self.allow_sync_call = allow_sync_call
        # The common cases get a .asynq of their own, bound once (see _ASYNQ_OF).
        if type(self)._call_pure is not PureAsyncDecorator._call_pure:  # pyright: ignore[reportUnknownMemberType]  # identity only
            # A subclass's _call_pure gets every call (see PureAsyncDecorator).
            self.asynq = self._call_through_call_pure  # type: ignore[method-assign]
            if self.sync_fn is None:
                self.sync_fn = self._value_through_call_pure
        elif type(self).asynq is not AsyncDecorator.asynq:  # pyright: ignore[reportUnknownMemberType]  # identity only
            pass  # a subclass's own .asynq is kept
        elif asyncio_fn is not None or self.kwargs:
            self.asynq = self._make_task_of_call  # type: ignore[method-assign]
        elif self._generator_fn is not self.fn:
            self.asynq = self._plain_task  # type: ignore[method-assign]

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> AsyncTask[R_co]:
        """Returns the AsyncTask of this call; it runs when yielded or asked for its value."""
        return self.task_cls(self._generator_fn(*args, **kwargs), self.fn, args, kwargs)

    # Variants of .asynq for the cases above, each named "asynq" (with the
    # qualified name of the method): analyzers recognize ``f.asynq`` by it.

    def _make_task_of_call(self, *args: Any, **kwargs: Any) -> Any:
        return self._make_task(args, kwargs)

    def _call_through_call_pure(self, *args: Any, **kwargs: Any) -> Any:
        return self._call_pure(args, kwargs)

    def _plain_task(self, *args: Any, **kwargs: Any) -> AsyncTask[Any]:
        return self.task_cls(_call_plain(self.fn, args, kwargs), self.fn, args, kwargs)

    for _variant in (_make_task_of_call, _call_through_call_pure, _plain_task):
        _variant.__name__ = "asynq"
        _variant.__qualname__ = "AsyncDecorator.asynq"
    del _variant

    def _value_through_call_pure(self, *args: Any, **kwargs: Any) -> Any:
        return self._call_pure(args, kwargs).value()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:  # type: ignore[override]
        if running_in_asyncio.get():
            check_sync_call(self, self.allow_sync_call)
        if self.sync_fn is not None:
            return self.sync_fn(*args, **kwargs)
        if self.kwargs:
            task = self._make_task(args, kwargs)
        else:
            task = self.task_cls(self._generator_fn(*args, **kwargs), self.fn, args, kwargs)
        _thread_state.scheduler.wait_for(task)
        # The task's result, read as the scheduler reads it (no call).
        if task._error is not None:  # pyright: ignore[reportPrivateUsage]
            raise task._error  # pyright: ignore[reportPrivateUsage]
        return task._value  # pyright: ignore[reportPrivateUsage]


class AsyncAndSyncPairDecorator(AsyncDecorator[P, R_co]):
    """``@asynq(sync_fn=...)`` under asynq 1.x's name and constructor arguments."""

    def __init__(
        self,
        fn: Any,
        task_cls: type[AsyncTask[Any]],
        sync_fn: Callable[..., Any],
        kwargs: dict[str, Any] | None = None,
        asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    ) -> None:
        super().__init__(fn, task_cls, kwargs, asyncio_fn, sync_fn=sync_fn)


class AsyncProxyDecorator(AsyncDecorator[P, R_co]):
    """``@async_proxy()``: for a function returning a future; ``f(...)`` is its value.

    An AsyncDecorator, as in asynq 1.x, with no task class (``task_cls`` is None).
    """

    if TYPE_CHECKING:

        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self: AsyncProxyDecorator[Concatenate[_S, _P2], _R],
            instance: _S,
            owner: type | None = None,
        ) -> _BoundAsyncProxy[_P2, _R]: ...
        @overload  # a staticmethod: its first parameter does not take the instance
        def __get__(self, instance: object, owner: type | None = None) -> Self: ...
        def __get__(self, instance: Any, owner: type | None = None) -> Any: ...  # pyright: ignore[reportIncompatibleMethodOverride]

    def __init__(
        self,
        fn: Any,
        asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
        *,
        sync_fn: Callable[..., Any] | None = None,
        allow_sync_call: bool = False,
        decorator_name: str = "@async_proxy()",
    ) -> None:
        _DecoratorBase.__init__(self, fn, decorator_name)
        self.task_cls = None  # type: ignore[assignment]
        self.kwargs = {}
        self.sync_fn = _unwrap_method_object(sync_fn)
        self.asyncio_fn = asyncio_fn
        self.allow_sync_call = allow_sync_call

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> FutureBase[R_co]:  # type: ignore[override]
        if self.asyncio_fn is not None and running_in_asyncio.get():
            return asynq_to_async.NativeCall(self.asyncio_fn, args, kwargs)
        return self._call_pure(args, kwargs)

    def _call_pure(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> FutureBase[R_co]:
        """The future of a call (asynq 1.x's name: subclasses may override it).

        What the function returns is passed on unchecked, as in 1.x: an object
        with ``.value()`` serves a synchronous call, and a task yielding
        anything else gets the scheduler's error naming it."""
        return self.fn(*args, **kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:  # type: ignore[override]
        if running_in_asyncio.get():
            check_sync_call(self, self.allow_sync_call)
        if self.sync_fn is not None:
            return self.sync_fn(*args, **kwargs)
        return _value_of(self.asynq(*args, **kwargs), self, "function")

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """A coroutine computing the returned future on an asyncio event loop.

        The function runs inside the asyncio domain, so that the asynq
        functions it calls run their ``asyncio_fn`` there, as they would in a task.
        """
        if self.asyncio_fn is not None:
            return self.asyncio_fn(*args, **kwargs)
        return asynq_to_async.run_call(self.asynq, args, kwargs)


class AsyncAndSyncPairProxyDecorator(AsyncProxyDecorator[P, R_co]):
    """``@async_proxy(sync_fn=...)`` under asynq 1.x's name and constructor arguments."""

    def __init__(
        self,
        fn: Any,
        sync_fn: Callable[..., Any],
        asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    ) -> None:
        super().__init__(fn, asyncio_fn, sync_fn=sync_fn)


class AsyncWrapperDecorator(_DecoratorBase, Generic[P, R_co]):
    """What ``make_async_decorator`` builds (asynq 1.x's ``AsyncWrapper``):
    ``.asynq(...)`` is ``wrapper_fn(...)``, a future, and a call its value.
    Like 1.x's, it is a decorator of its own, not an AsyncProxyDecorator."""

    # The wrapper does the work; ``fn`` is only named and bound, and 1.x takes
    # any object there.
    _fn_must_be_callable = False

    if TYPE_CHECKING:

        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self: AsyncWrapperDecorator[Concatenate[_S, _P2], _R],
            instance: _S,
            owner: type | None = None,
        ) -> _BoundAsyncProxy[_P2, _R]: ...
        @overload  # a staticmethod: its first parameter does not take the instance
        def __get__(self, instance: object, owner: type | None = None) -> Self: ...
        def __get__(self, instance: Any, owner: type | None = None) -> Any: ...

    def __init__(self, fn: Any, wrapper_fn: Callable[P, FutureBase[R_co]], name: str) -> None:
        super().__init__(fn, f"@{name}()")
        self.wrapper_fn = wrapper_fn
        self.function_name = name

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> FutureBase[R_co]:
        # Unchecked, as in 1.x (see AsyncProxyDecorator._call_pure).
        return self.wrapper_fn(*args, **kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        if running_in_asyncio.get():
            check_sync_call(self, False)
        return _value_of(self.asynq(*args, **kwargs), self, "wrapper")

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """A coroutine computing the wrapper's future on an asyncio event loop."""
        return asynq_to_async.run_call(self.asynq, args, kwargs)


PureAsyncDecorator.binder_cls = PureAsyncDecoratorBinder
AsyncDecorator.binder_cls = AsyncDecoratorBinder
AsyncWrapperDecorator.binder_cls = AsyncDecoratorBinder

#: asynq 1.x's name of the class ``make_async_decorator`` instantiates.
AsyncWrapper = AsyncWrapperDecorator


def _value_of(future: Any, decorator: Any, role: str) -> Any:
    """The value of what a proxy's function (or a wrapper) returned, for a
    synchronous call: a clear error if it is not a future (1.x raises an
    AttributeError there)."""
    try:
        value = future.value
    except AttributeError:
        raise TypeError(
            f"{decorator.decorator_name} {role} of {callable_name(decorator.fn)} returned "
            f"{future!r}, not a future"
        ) from None
    return value()


def _unwrap_method_object(fn: Any) -> Any:
    """The function of a classmethod, staticmethod or partialmethod object (1.x
    accepts them as ``sync_fn=``, written in the class body above the decorated
    method): the decorator object binds like the method it replaces, so the
    sync function receives the same first argument (the class, the instance,
    or none)."""
    if isinstance(fn, (classmethod, staticmethod)):
        # Of any function: checkers know no type arguments of it.
        return fn.__func__  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
    if isinstance(fn, functools.partialmethod):
        # Unbound: a function taking the instance first, then the rest.
        return fn.__get__(None, object)
    return fn
