"""How type checkers see the builtin look-alikes of ``iteration``: the classes
that exist only for them (imported under TYPE_CHECKING; nothing here runs).

The tools are typed like the builtins. An element function is typed by what
calling it returns, so an asynq function counts as its value (a pure one,
whose call returns a task, as that task). A decorated function loses its
type variables and overloads (the decorator's ParamSpec cannot carry them),
so checkers see the tools as these classes; ``common._Typed`` hands the
tools over unchanged.

- ``_AMap``: ``amap``, with one overload per number of sequences;
- ``_Extreme``: ``amax`` and ``amin``;
- ``_Filter``: ``afilter`` and ``afilterfalse``;
- ``_Sift``, ``_Sorted``: ``asift`` and ``asorted``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from asynq_core import AsyncTask
from asynq_core.decorators import AsyncDecorator

_T = TypeVar("_T")
_T2 = TypeVar("_T2")
_R = TypeVar("_R")
_D = TypeVar("_D")


# Declarations only: checkers accept the bodies of ``...`` under TYPE_CHECKING.
if TYPE_CHECKING:

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
