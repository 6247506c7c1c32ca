"""The decorators that make generator functions asynchronous, and their helpers.

This module holds the factories (``asynq()``, ``async_proxy()``) and the
introspection helpers (``is_async_fn``, ``get_async_fn``, ...) and re-exports
the classes of ``decorator_classes``: it is asynq 1.x's ``asynq.decorators``.

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
import inspect
from collections.abc import Callable, Coroutine
from types import FunctionType
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    NoReturn,
    TypeVar,
    overload,
)

from . import asynq_to_async
from .async_task import AsyncTask
from .decorator_classes import (
    AsyncAndSyncPairDecorator,
    AsyncAndSyncPairProxyDecorator,
    AsyncDecorator,
    AsyncDecoratorBinder,
    AsyncProxyDecorator,
    AsyncWrapper,
    AsyncWrapperDecorator,
    P,
    PureAsyncDecorator,
    PureAsyncDecoratorBinder,
    _plain_to_generator,  # pyright: ignore[reportPrivateUsage]  # split off this module
    _unwrap_method_object,  # pyright: ignore[reportPrivateUsage]  # split off this module
)
from .errors import AsynqMisuseError
from .futures import ConstFuture, Future, FutureBase
from .text import callable_name

_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from .decorator_types import (  # checkers' own
        _AsyncProxyDecorate,  # pyright: ignore[reportPrivateUsage]
        _AsynqDecorate,  # pyright: ignore[reportPrivateUsage]
        _PureAsynqDecorate,  # pyright: ignore[reportPrivateUsage]
    )


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
    # Checked although typed: @asynq without parentheses passes the function.
    if callable(pure) and not isinstance(pure, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
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
    # Checked although typed: untyped callers pass anything.
    if not (isinstance(cls, type) and issubclass(cls, AsyncTask)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"asynq(cls={cls!r}): cls must be a subclass of AsyncTask")
    sync_fn = _option_fn("asynq", "sync_fn", sync_fn)
    asyncio_fn = _option_fn("asynq", "asyncio_fn", asyncio_fn)

    def decorate(fn: Any) -> PureAsyncDecorator[..., Any]:
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
    # Checked although typed: @async_proxy without parentheses passes the function.
    if callable(pure) and not isinstance(pure, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"async_proxy() got the function {callable_name(pure)} as its first "
            "argument: write @async_proxy() with parentheses"
        )
    if pure and sync_fn is not None:
        raise AsynqMisuseError(
            f"async_proxy(pure=True, sync_fn={sync_fn!r}): a pure proxy is the function "
            "itself, so it takes no sync_fn"
        )
    sync_fn = _option_fn("async_proxy", "sync_fn", sync_fn)
    asyncio_fn = _option_fn("async_proxy", "asyncio_fn", asyncio_fn)

    def decorate(fn: Any) -> AsyncProxyDecorator[..., Any] | Callable[..., Any]:
        if pure:
            return fn
        return AsyncProxyDecorator(fn, asyncio_fn, sync_fn=sync_fn, allow_sync_call=allow_sync_call)

    return decorate


def _option_fn(decorator: str, option: str, value: Any) -> Any:
    """``value`` of a function option (``sync_fn``/``asyncio_fn``) as the function
    to call. asynq 1.x accepts any object there and fails only if it is used, so
    a value that is not callable becomes a function that raises a clear error
    when called: a decorator whose option is never used keeps working."""
    fn = _unwrap_method_object(value)
    if fn is None or callable(fn):
        return fn

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{decorator}({option}={value!r}): {option} must be a function")

    return refuse


def _kind(fn: Any, depth: int = 0) -> str | None:
    if type(fn) is classmethod or type(fn) is staticmethod:
        # Of any function: checkers know no type arguments of it.
        fn = fn.__func__  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
    kind = getattr(type(fn), "_asynq_kind", None)  # pyright: ignore[reportUnknownArgumentType]
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
    # f.asynq is called like any function, as in 1.x: the value is its task.
    return ConstFuture(fn(*args, **kwargs))


def _is_bound_asynq(fn: Any) -> bool:
    """True if ``fn`` is ``f.asynq`` of an asynq function ``f``."""
    owner = getattr(fn, "__self__", None)
    return owner is not None and has_async_fn(owner) and fn == owner.asynq


def _bound_asynq_message(fn: Any, caller: str) -> str:
    """What a ``caller`` that takes ``f`` says when given ``f.asynq`` (``fn``)."""
    name = callable_name(fn.__self__)
    return f"{caller}() got {name}.asynq: pass {name}, not {name}.asynq"


# Public as lowlevel.reject_bound_asynq.
def _reject_bound_asynq(fn: Any, caller: str) -> None:  # pyright: ignore[reportUnusedFunction]
    """Raises if ``fn`` is ``f.asynq`` of an asynq function ``f``: ``caller``
    takes ``f`` and would call ``f.asynq`` like a plain function, getting a
    task that nothing runs."""
    if _is_bound_asynq(fn):
        raise TypeError(_bound_asynq_message(fn, caller))


def make_async_decorator(
    fn: Any, wrapper_fn: Callable[..., FutureBase[Any]], name: str
) -> AsyncWrapperDecorator[..., Any]:
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
    # type() of an Any is unknown to pyright.
    native = getattr(fn, "asyncio", None) if getattr(type(fn), "_asynq_kind", None) else None  # pyright: ignore[reportUnknownArgumentType]
    if native is not None:
        return await native(*args, **kwargs)
    return await asynq_to_async.run_call(fn if kind == "pure" else fn.asynq, args, kwargs)
