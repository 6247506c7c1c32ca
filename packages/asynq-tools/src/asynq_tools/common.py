"""What the modules of asynq-tools share: errors put off until a call, and
the types of the asynq functions the decorators take and return.

- ``_refusing``: the tools accept what asynq 1.x accepts and fail where it
  fails, so a bad argument that 1.x notices only when it is used is turned
  into a function raising the clear error then;
- ``_AsynqFunction``, ``_WrapAsynqFunction``: what the caching and retrying
  decorators take, and what most of them return, for type checkers;
- ``_Typed``: hands a tool over unchanged, declared for checkers as one of
  the classes of ``iteration_types`` (or ``contexts``).

Invariant: the bottom layer; it imports no other module of asynq-tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NoReturn, ParamSpec, Protocol, TypeVar

from asynq_core import FutureBase
from asynq_core.decorators import AsyncWrapperDecorator

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
_T = TypeVar("_T")
_R = TypeVar("_R")


class _AsynqFunction(Protocol[P, R_co]):
    """What the caching and retrying decorators take: an asynq function
    (``@asynq()``, ``@async_proxy()``, or one of these decorators' results)."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> FutureBase[R_co]: ...


class _WrapAsynqFunction(Protocol):
    """What ``deduplicate()``, ``aretry()``, ... return: keeps the signature."""

    def __call__(self, fn: _AsynqFunction[P, _R], /) -> AsyncWrapperDecorator[P, _R]: ...


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


class _Typed(Generic[_T]):
    """``@_Typed["_AMap"]()`` hands a tool over unchanged, as an ``_AMap`` for checkers."""

    def __call__(self, tool: Any) -> _T:
        return tool
