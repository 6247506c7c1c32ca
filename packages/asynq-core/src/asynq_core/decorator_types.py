"""How type checkers see the decorators: the declarations that exist only for
them (imported under TYPE_CHECKING; nothing here runs).

- ``_AsynqDecorate``, ``_PureAsynqDecorate``, ``_AsyncProxyDecorate``: what
  ``asynq()``, ``asynq(pure=True)`` and ``async_proxy()`` return, with one
  overload per kind of decorated function;
- ``_AsyncClassMethod`` and its kin: the decorator applied above
  ``@classmethod`` (1.x style), binding ``cls`` on access;
- ``_BoundAsyncProxy``: a bound ``@async_proxy()`` method.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Protocol, TypeVar, overload

from .decorator_classes import (
    AsyncDecorator,
    AsyncDecoratorBinder,
    AsyncProxyDecorator,
    P,
    PureAsyncDecorator,
    PureAsyncDecoratorBinder,
    R_co,
    _BoundAsyncProxy,  # pyright: ignore[reportPrivateUsage]  # checkers' own
)
from .futures import FutureBase

_R = TypeVar("_R")
_S = TypeVar("_S")


# How checkers see the decorator applied above @classmethod (1.x style):
# they hand it the plain function with its ``cls``, a first parameter of
# type ``type[...]``, which is what selects these classes; ``P`` is the
# parameters after ``cls``. Access on the class or an instance binds
# ``cls``. Taken for one too: a function whose first parameter accepts
# classes (``object``, ``Any``) or whose parameters are unknown (``...``);
# called unbound, such a function has its arguments unchecked.


# Empty bodies, as in a stub: these classes exist only for checkers.
if TYPE_CHECKING:

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


# -- what the decorator factories return, as checkers see it -------------------
#
# A generator function's result type is the third argument of its Generator
# return type; a plain function's (or one annotated ``-> R`` although it is a
# generator) is R. A function whose first parameter is ``type[...]`` is a
# classmethod under the decorator (see _AsyncClassMethod); methods and
# staticmethods are told apart by the ``__get__`` overloads.


# Imported by decorators, under TYPE_CHECKING.


class _AsynqDecorate(Protocol):  # pyright: ignore[reportUnusedClass]
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


class _PureAsynqDecorate(Protocol):  # pyright: ignore[reportUnusedClass]
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


class _AsyncProxyDecorate(Protocol):  # pyright: ignore[reportUnusedClass]
    """What ``async_proxy()`` returns."""

    @overload
    def __call__(
        self, fn: Callable[Concatenate[type[_S], P], FutureBase[_R]], /
    ) -> _AsyncProxyClassMethod[P, _R]: ...
    @overload
    def __call__(self, fn: Callable[P, FutureBase[_R]], /) -> AsyncProxyDecorator[P, _R]: ...
    def __call__(self, fn: Any, /) -> Any: ...
