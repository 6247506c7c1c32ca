"""The decorators that make generator functions asynchronous, and their helpers.

``@asynq()`` turns a generator function (or a plain one) into an object that
runs it synchronously when called and returns an ``AsyncTask`` from
``.asynq()``; ``@async_proxy()`` does the same for functions that return a
future. The objects bind like functions (methods, classmethods and
staticmethods, the decorator applied outside the latter two) and pickle by
reference like the functions they wrap.

What kind of callable something is, is told by the class attribute
``_asynq_kind`` ("async": has ``.asynq``; "pure": calling returns a task),
read on the type. Other objects may say it the asynq 1.x way, with an
``is_pure_async_fn()`` method or an ``asynq`` attribute of their own, or by
wrapping (``.fn``) an asynq function; those are read without running
``__getattr__``, so that auto-attribute objects such as mocks are not taken
for async functions.

The decorator classes take asynq 1.x's constructor arguments, so that code
bases can subclass them (for caches, through ``qcore.decorators.decorate``);
such a subclass may wrap a function that is already an asynq function. Only
``@asynq()`` applied to an asynq function is refused, as 1.x does.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Coroutine, Generator
from types import FunctionType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    NoReturn,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
)

import qcore.decorators

from . import asynq_to_async
from . import scheduler as _scheduler_module
from .async_task import AsyncTask
from .futures import ConstFuture, Future, FutureBase
from .utils import AsynqMisuseError, callable_name

__all__ = [
    "asynq",
    "async_proxy",
    "async_call",
    "asyncio_call",
    "convert_asynq_to_async",
    "has_async_fn",
    "is_async_fn",
    "is_pure_async_fn",
    "get_async_fn",
    "get_async_or_sync_fn",
    "lazy",
    "make_async_decorator",
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

_thread_state = _scheduler_module._state
_asyncio_mode = asynq_to_async._asyncio_mode

# Static typing: ``P`` is the decorated function's parameters and ``R_co``
# what a synchronous call returns (the generator's return value). The
# ``__get__`` overloads drop the first parameter (``self``) when a method is
# bound (classmethods: see _AsyncClassMethod); like every declaration made
# only for checkers they live under TYPE_CHECKING, so binding costs no extra
# call at run time.
P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
_P2 = ParamSpec("_P2")
_R = TypeVar("_R")
_S = TypeVar("_S")
_F = TypeVar("_F", bound=Callable[..., Any])


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

    def __init__(self, fn: Any, decorator_name: str) -> None:
        decorated_type: Any = None
        if isinstance(fn, (classmethod, staticmethod)):
            decorated_type = type(fn)
            fn = fn.__func__
        elif isinstance(fn, _DecoratorBase):
            # Wrapping an asynq method: bind as it does (a classmethod's class).
            decorated_type = fn.type
        if not callable(fn):
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
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"{decorator_name} cannot decorate {callable_name(fn)}, an async def function: "
                "asynq functions are generator (or plain) functions; pass a native "
                "coroutine function as asyncio_fn= of an @asynq() function instead"
            )
        self._generator_fn = fn if inspect.isgeneratorfunction(fn) else _plain_to_generator(fn)
        self.task_cls = task_cls
        self.kwargs = kwargs or {}
        self.asyncio_fn = asyncio_fn

    def _make_task(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.asyncio_fn is not None and _asyncio_mode.get():
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
        if type(self)._call_pure is not PureAsyncDecorator._call_pure:
            # A subclass's _call_pure gets every call (see PureAsyncDecorator).
            self.asynq = self._call_through_call_pure  # type: ignore[method-assign]
            if self.sync_fn is None:
                self.sync_fn = self._value_through_call_pure
        elif type(self).asynq is not AsyncDecorator.asynq:
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
        if _asyncio_mode.get():
            asynq_to_async.check_sync_call(self, self.allow_sync_call)
        if self.sync_fn is not None:
            return self.sync_fn(*args, **kwargs)
        if self.kwargs:
            task = self._make_task(args, kwargs)
        else:
            task = self.task_cls(self._generator_fn(*args, **kwargs), self.fn, args, kwargs)
        _thread_state.scheduler.wait_for(task)
        if task._error is not None:
            raise task._error
        return task._value


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
        if self.asyncio_fn is not None and _asyncio_mode.get():
            return asynq_to_async.NativeCall(self.asyncio_fn, args, kwargs)
        return self._call_pure(args, kwargs)

    def _call_pure(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> FutureBase[R_co]:
        """The future of a call (asynq 1.x's name: subclasses may override it)."""
        future = self.fn(*args, **kwargs)
        if not isinstance(future, FutureBase):
            raise TypeError(
                f"{self.decorator_name} function {callable_name(self.fn)} returned "
                f"{future!r}, not a future"
            )
        return future

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:  # type: ignore[override]
        if _asyncio_mode.get():
            asynq_to_async.check_sync_call(self, self.allow_sync_call)
        if self.sync_fn is not None:
            return self.sync_fn(*args, **kwargs)
        return self.asynq(*args, **kwargs).value()

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
        future = self.wrapper_fn(*args, **kwargs)
        if not isinstance(future, FutureBase):
            raise TypeError(
                f"{self.decorator_name} wrapper of {callable_name(self.fn)} returned "
                f"{future!r}, not a future"
            )
        return future

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        if _asyncio_mode.get():
            asynq_to_async.check_sync_call(self, False)
        return self.asynq(*args, **kwargs).value()

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """A coroutine computing the wrapper's future on an asyncio event loop."""
        return asynq_to_async.run_call(self.asynq, args, kwargs)


class _DocOfDecorated:
    """``__doc__`` of binders: the decorated function's on an instance, the
    class's own on the class."""

    def __init__(self, class_doc: str | None) -> None:
        self.class_doc = class_doc

    def __get__(self, instance: Any, owner: type | None = None) -> str | None:
        if instance is None:
            return self.class_doc
        return getattr(instance.decorator, "__doc__", None)


class AsyncDecoratorBinder(qcore.decorators.DecoratorBinder, Generic[P, R_co]):  # pyright: ignore[reportMissingTypeArgument]
    """A decorator object bound to an instance (for classmethods, a class; for
    a method reached through its class, None: unbound).

    A ``qcore.decorators.DecoratorBinder`` as in asynq 1.x; bound methods of
    equal instances are equal. Statically ``P`` is the parameters left once
    the instance is bound.
    """

    __slots__ = ()

    _asynq_kind = "async"
    decorator: Any
    instance: Any
    # A bound method shows its function's docstring (the class keeps its own).
    __doc__ = _DocOfDecorated(__doc__)  # pyright: ignore[reportAssignmentType]

    if TYPE_CHECKING:
        # qcore's (compiled): the decorator, called with the instance first
        # unless it is None.
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> AsyncTask[R_co]:
        instance = self.instance
        if instance is None:
            return self.decorator.asynq(*args, **kwargs)
        return self.decorator.asynq(instance, *args, **kwargs)

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        instance = self.instance
        if instance is None:
            return self.decorator.asyncio(*args, **kwargs)
        return self.decorator.asyncio(instance, *args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.decorator, attr)

    @property
    def __signature__(self) -> inspect.Signature:
        """The decorated function's signature, without the parameter bound."""
        signature = inspect.signature(self.decorator)
        if self.instance is None:
            return signature
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.decorator is self.decorator
            and (other.instance is self.instance or other.instance == self.instance)
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        try:
            instance_hash = hash(self.instance)
        except TypeError:  # an unhashable instance: its identity (1.x raised here)
            instance_hash = id(self.instance)
        return hash((id(self.decorator), instance_hash))

    def __reduce__(self) -> tuple[Any, ...]:
        if self.instance is None:
            return (_unbound_method, (self.decorator.__module__, self.decorator.__qualname__))
        return (getattr, (self.instance, self.decorator.__name__))

    def __repr__(self) -> str:
        if self.instance is None:
            return f"<unbound {self.decorator!r}>"
        return f"<bound {self.decorator!r} of {self.instance!r}>"

    def __str__(self) -> str:
        return repr(self)


def _unbound_method(module: str, qualname: str) -> Any:
    """What an unbound method pickles to: ``Class.method`` looked up again."""
    value: Any = importlib.import_module(module)
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


class PureAsyncDecoratorBinder(AsyncDecoratorBinder[P, R_co]):
    """A bound ``@asynq(pure=True)`` function: calling it returns a task; no ``.asynq``."""

    __slots__ = ()

    _asynq_kind = "pure"

    if TYPE_CHECKING:
        # Inherited at run time: the pure decorator's own call returns the task.
        def __call__(  # type: ignore[override]
            self, *args: P.args, **kwargs: P.kwargs
        ) -> AsyncTask[R_co]: ...

    @property
    def asynq(self) -> NoReturn:  # pyright: ignore[reportIncompatibleMethodOverride]
        # A property, so that hasattr(bound, "asynq") is False, as in 1.x (its
        # AttributeError sends the lookup to __getattr__, which says why).
        raise AttributeError("asynq")

    def __getattr__(self, attr: str) -> Any:
        if attr == "asynq":
            raise AttributeError(f"{self!r} is pure: call it to get its task (it has no .asynq)")
        return getattr(self.decorator, attr)


if TYPE_CHECKING:

    class _BoundAsyncProxy(AsyncDecoratorBinder[P, R_co]):
        """How checkers see a bound ``@async_proxy()`` method (at run time an
        AsyncDecoratorBinder): its ``.asynq`` returns the function's future."""

        def asynq(  # type: ignore[override]
            self, *args: P.args, **kwargs: P.kwargs
        ) -> FutureBase[R_co]: ...

    # How checkers see the decorator applied above @classmethod (1.x style):
    # they hand it the plain function with its ``cls``, a first parameter of
    # type ``type[...]``, which is what selects these classes; ``P`` is the
    # parameters after ``cls``. Access on the class or an instance binds
    # ``cls``. Taken for one too: a function whose first parameter accepts
    # classes (``object``, ``Any``) or whose parameters are unknown (``...``);
    # called unbound, such a function has its arguments unchecked.

    class _AsyncClassMethod(AsyncDecorator[..., R_co], Generic[P, R_co]):
        def __get__(  # type: ignore[override]
            self, instance: Any, owner: type | None = None
        ) -> AsyncDecoratorBinder[P, R_co]: ...

    class _PureAsyncClassMethod(PureAsyncDecorator[..., R_co], Generic[P, R_co]):
        def __get__(  # type: ignore[override]
            self, instance: Any, owner: type | None = None
        ) -> PureAsyncDecoratorBinder[P, R_co]: ...

    class _AsyncProxyClassMethod(AsyncProxyDecorator[..., R_co], Generic[P, R_co]):
        def __get__(  # type: ignore[override]
            self, instance: Any, owner: type | None = None
        ) -> _BoundAsyncProxy[P, R_co]: ...


PureAsyncDecorator.binder_cls = PureAsyncDecoratorBinder
AsyncDecorator.binder_cls = AsyncDecoratorBinder
AsyncWrapperDecorator.binder_cls = AsyncDecoratorBinder

#: asynq 1.x's name of the class ``make_async_decorator`` instantiates.
AsyncWrapper = AsyncWrapperDecorator


# -- what the decorator factories return, as checkers see it -------------------
#
# A generator function's result type is the third argument of its Generator
# return type; a plain function's (or one annotated ``-> R`` although it is a
# generator) is R. A function whose first parameter is ``type[...]`` is a
# classmethod under the decorator (see _AsyncClassMethod); methods and
# staticmethods are told apart by the ``__get__`` overloads.


class _AsynqDecorate(Protocol):
    """What ``asynq()`` returns."""

    @overload
    def __call__(
        self, fn: Callable[Concatenate[type[_S], P], Generator[Any, Any, _R]], /
    ) -> _AsyncClassMethod[P, _R]: ...
    @overload
    def __call__(
        self, fn: Callable[Concatenate[type[_S], P], _R], /
    ) -> _AsyncClassMethod[P, _R]: ...
    @overload
    def __call__(self, fn: Callable[P, Generator[Any, Any, _R]], /) -> AsyncDecorator[P, _R]: ...
    @overload
    def __call__(self, fn: Callable[P, _R], /) -> AsyncDecorator[P, _R]: ...
    def __call__(self, fn: Any, /) -> Any: ...


class _PureAsynqDecorate(Protocol):
    """What ``asynq(pure=True)`` returns."""

    @overload
    def __call__(
        self, fn: Callable[Concatenate[type[_S], P], Generator[Any, Any, _R]], /
    ) -> _PureAsyncClassMethod[P, _R]: ...
    @overload
    def __call__(
        self, fn: Callable[Concatenate[type[_S], P], _R], /
    ) -> _PureAsyncClassMethod[P, _R]: ...
    @overload
    def __call__(
        self, fn: Callable[P, Generator[Any, Any, _R]], /
    ) -> PureAsyncDecorator[P, _R]: ...
    @overload
    def __call__(self, fn: Callable[P, _R], /) -> PureAsyncDecorator[P, _R]: ...
    def __call__(self, fn: Any, /) -> Any: ...


class _AsyncProxyDecorate(Protocol):
    """What ``async_proxy()`` returns."""

    @overload
    def __call__(
        self, fn: Callable[Concatenate[type[_S], P], FutureBase[_R]], /
    ) -> _AsyncProxyClassMethod[P, _R]: ...
    @overload
    def __call__(self, fn: Callable[P, FutureBase[_R]], /) -> AsyncProxyDecorator[P, _R]: ...
    def __call__(self, fn: Any, /) -> Any: ...


@overload
def asynq(
    pure: Literal[False] = False,
    sync_fn: Callable[..., Any] | None = None,
    cls: type[AsyncTask[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
) -> _AsynqDecorate: ...
@overload
def asynq(
    pure: Literal[True],
    sync_fn: None = None,
    cls: type[AsyncTask[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
    **kwargs: Any,
) -> _PureAsynqDecorate: ...
@overload
def asynq(
    pure: bool,
    sync_fn: Callable[..., Any] | None = None,
    cls: type[AsyncTask[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
    **kwargs: Any,
) -> Callable[[Any], Any]: ...
def asynq(
    pure: bool = False,
    sync_fn: Callable[..., Any] | None = None,
    cls: type[AsyncTask[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
    **kwargs: Any,
) -> Any:
    """Makes a generator function (or a plain one) an asynq function.

    ``f(...)`` runs it synchronously and returns its result, ``f.asynq(...)``
    returns an AsyncTask, ``f.asyncio(...)`` a coroutine. With ``pure=True``
    calling ``f(...)`` returns the AsyncTask, and ``**kwargs`` go to ``cls``.
    """
    if callable(pure) and not isinstance(pure, bool):
        raise TypeError(
            f"asynq() got the function {callable_name(pure)} as its first argument: "
            "write @asynq() with parentheses"
        )
    if kwargs and not pure:
        raise AsynqMisuseError(
            f"asynq() got unexpected keyword arguments {sorted(kwargs)}: "
            "extra arguments for the task class are allowed only with pure=True"
        )
    if pure and sync_fn is not None:
        raise AsynqMisuseError(
            f"asynq(pure=True, sync_fn={sync_fn!r}): a pure asynq function has no "
            "synchronous call, so it takes no sync_fn"
        )
    if not (isinstance(cls, type) and issubclass(cls, AsyncTask)):
        raise TypeError(f"asynq(cls={cls!r}): cls must be a subclass of AsyncTask")
    _check_callable_options("asynq", sync_fn, asyncio_fn)

    def decorate(fn: Any) -> Any:
        if is_async_fn(fn):
            raise AsynqMisuseError(
                f"@asynq() applied to {callable_name(fn)}, which is already an asynq "
                "function: apply the decorator once"
            )
        if pure:
            return PureAsyncDecorator(fn, cls, kwargs, asyncio_fn)
        return AsyncDecorator(
            fn, cls, asyncio_fn=asyncio_fn, sync_fn=sync_fn, allow_sync_call=allow_sync_call
        )

    return decorate


@overload
def async_proxy(
    pure: Literal[False] = False,
    sync_fn: Callable[..., Any] | None = None,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
) -> _AsyncProxyDecorate: ...
@overload
def async_proxy(
    pure: Literal[True],
    sync_fn: None = None,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
) -> Callable[[_F], _F]: ...
@overload
def async_proxy(
    pure: bool,
    sync_fn: Callable[..., Any] | None = None,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
) -> Callable[[Any], Any]: ...
def async_proxy(
    pure: bool = False,
    sync_fn: Callable[..., Any] | None = None,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    allow_sync_call: bool = False,
) -> Any:
    """For a function that returns a future: ``f.asynq(...)`` returns that
    future and ``f(...)`` its value. With ``pure=True`` the function is
    returned unchanged."""
    if callable(pure) and not isinstance(pure, bool):
        raise TypeError(
            f"async_proxy() got the function {callable_name(pure)} as its first "
            "argument: write @async_proxy() with parentheses"
        )
    if pure and sync_fn is not None:
        raise AsynqMisuseError(
            f"async_proxy(pure=True, sync_fn={sync_fn!r}): a pure proxy is the function "
            "itself, so it takes no sync_fn"
        )
    _check_callable_options("async_proxy", sync_fn, asyncio_fn)

    def decorate(fn: Any) -> Any:
        if pure:
            return fn
        return AsyncProxyDecorator(fn, asyncio_fn, sync_fn=sync_fn, allow_sync_call=allow_sync_call)

    return decorate


def _unwrap_method_object(fn: Any) -> Any:
    """The function of a classmethod or staticmethod object (1.x accepts them as
    ``sync_fn=``, written in the class body above the decorated method): the
    decorator object binds like the method it replaces, so the sync function
    receives the same first argument (the class, or none)."""
    if isinstance(fn, (classmethod, staticmethod)):
        return fn.__func__
    return fn


def _check_callable_options(decorator: str, sync_fn: Any, asyncio_fn: Any) -> None:
    sync_fn = _unwrap_method_object(sync_fn)
    if sync_fn is not None and not callable(sync_fn):
        raise TypeError(f"{decorator}(sync_fn={sync_fn!r}): sync_fn must be a function")
    if asyncio_fn is not None and not callable(asyncio_fn):
        raise TypeError(
            f"{decorator}(asyncio_fn={asyncio_fn!r}): asyncio_fn must be a coroutine function"
        )


def _kind(fn: Any, depth: int = 0) -> str | None:
    if type(fn) is classmethod or type(fn) is staticmethod:
        fn = fn.__func__
    kind = getattr(type(fn), "_asynq_kind", None)
    if kind is not None or depth > 20 or isinstance(fn, type):
        return kind
    # The 1.x protocols, read statically (see the module docstring). A plain
    # function (the common case, e.g. in async_call) usually has none.
    if type(fn) is FunctionType and not fn.__dict__:
        return None
    if _declares(fn, "is_pure_async_fn"):
        try:
            # getattr: checkers narrowed fn to a FunctionType above.
            if getattr(fn, "is_pure_async_fn")():  # noqa: B009
                return "pure"
        except (TypeError, IndexError):  # e.g. an unbound method
            pass
    if _declares(fn, "asynq"):
        return "async"
    if _declares(fn, "fn"):
        wrapped = getattr(fn, "fn")  # noqa: B009
        if wrapped is not fn and _kind(wrapped, depth + 1) == "pure":
            return "pure"
    return None


def _declares(obj: Any, name: str) -> bool:
    """True if ``obj`` or its class has ``name`` (``__getattr__`` is not run)."""
    if type(obj) is FunctionType:
        return name in obj.__dict__
    return inspect.getattr_static(obj, name, None) is not None


def _true() -> bool:
    return True


def is_pure_async_fn(fn: Any) -> bool:
    """True for ``@asynq(pure=True)`` functions: calling them returns a task."""
    return _kind(fn) == "pure"


def has_async_fn(fn: Any) -> bool:
    """True for functions with an ``.asynq`` attribute (``@asynq()``, ``@async_proxy()``)."""
    return _kind(fn) == "async"


def is_async_fn(fn: Any) -> bool:
    """True for any asynq function, pure or not."""
    return _kind(fn) is not None


def get_async_fn(fn: Any, wrap_if_none: bool = False) -> Callable[..., FutureBase[Any]] | None:
    """The callable that returns a future for ``fn``'s call, or None.

    With ``wrap_if_none=True`` a synchronous function is wrapped so that its
    result comes back as a ConstFuture.
    """
    kind = _kind(fn)
    if kind == "pure":
        return fn
    if kind == "async":
        return fn.asynq
    if not wrap_if_none:
        return None
    if not callable(fn):
        raise TypeError(f"get_async_fn() needs a callable, got {fn!r}")

    @functools.wraps(fn)
    def call_as_future(*args: Any, **kwargs: Any) -> FutureBase[Any]:
        return ConstFuture(fn(*args, **kwargs))

    call_as_future.is_pure_async_fn = _true  # type: ignore[attr-defined]
    return call_as_future


def get_async_or_sync_fn(fn: Any) -> Any:
    """``fn.asynq`` if fn is async, else fn itself."""
    kind = _kind(fn)
    if kind == "async":
        return fn.asynq
    return fn


@async_proxy()
def async_call(fn: Any, *args: Any, **kwargs: Any) -> FutureBase[Any]:
    """Calls ``fn`` asynchronously if it is an asynq function, else wraps its result.

    ``yield async_call.asynq(fn, x)`` works whether or not ``fn`` is async.
    """
    kind = _kind(fn)
    if kind == "pure":
        return fn(*args, **kwargs)
    if kind == "async":
        return fn.asynq(*args, **kwargs)
    if not callable(fn):
        raise TypeError(f"async_call() needs a callable, got {fn!r}")
    _reject_bound_asynq(fn, "async_call")
    return ConstFuture(fn(*args, **kwargs))


def _reject_bound_asynq(fn: Any, caller: str) -> None:
    """Raises if ``fn`` is ``f.asynq`` of an asynq function ``f``: ``caller``
    takes ``f`` and would call ``f.asynq`` like a plain function, getting a
    task that nothing runs."""
    owner = getattr(fn, "__self__", None)
    if owner is not None and has_async_fn(owner) and fn == owner.asynq:
        name = callable_name(owner)
        raise TypeError(f"{caller}() got {name}.asynq: pass {name}, not {name}.asynq")


def make_async_decorator(
    fn: Any, wrapper_fn: Callable[..., FutureBase[Any]], name: str
) -> AsyncWrapperDecorator:
    """Builds an asynq function around ``fn`` whose ``.asynq(...)`` is
    ``wrapper_fn(...)`` (a future) and whose plain call returns its value.
    Used to write decorators of async functions (caches, retries, ...)."""
    return AsyncWrapperDecorator(fn, wrapper_fn, name)


def lazy(fn: Callable[P, _R]) -> Callable[P, Future[_R]]:
    """Calling the result returns a Future computing ``fn(...)`` when first needed."""
    if not callable(fn):
        raise TypeError(f"lazy() needs a callable, got {fn!r}")

    @functools.wraps(fn)
    def make_future(*args: P.args, **kwargs: P.kwargs) -> Future[_R]:
        return Future(lambda: fn(*args, **kwargs))

    make_future.is_pure_async_fn = _true  # type: ignore[attr-defined]
    return make_future


def convert_asynq_to_async(fn: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """A coroutine function running ``fn`` (a generator function of an asynq
    function, or a plain one) as a task on the running event loop."""
    generator_fn = fn if inspect.isgeneratorfunction(fn) else _plain_to_generator(fn)

    async def run(*args: Any, **kwargs: Any) -> Any:
        task = AsyncTask(generator_fn(*args, **kwargs), fn, args, kwargs)
        return await asynq_to_async.run_task(task)

    return functools.wraps(fn)(run)


async def asyncio_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``async_call`` as a coroutine: awaits the call of ``fn`` on the running
    loop if it is an asynq function (its ``.asyncio``), else returns ``fn(...)``."""
    kind = _kind(fn)
    if kind is None:
        return fn(*args, **kwargs)
    native = getattr(fn, "asyncio", None) if getattr(type(fn), "_asynq_kind", None) else None
    if native is not None:
        return await native(*args, **kwargs)
    return await asynq_to_async.run_call(fn if kind == "pure" else fn.asynq, args, kwargs)
