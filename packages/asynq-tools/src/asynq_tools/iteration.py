"""The builtin look-alikes: ``amap``, ``afilter``, ``afilterfalse``, ``asift``,
``asorted``, ``amax`` and ``amin``.

Each starts its function for every element before yielding them all at
once: each element's task runs until it waits on a batch, so the lookups of
all elements go into the same batches and are flushed together. The function
may be an asynq function (called through ``.asynq``), a pure one, or a plain
one (called at once).

Invariants:
- Every element is computed before an error is raised (the first in element
  order), also when a plain function raises for one of them.
- What cannot be called fails at the first element, as in asynq 1.x: with
  an empty sequence the result is empty, whatever the function.
- Checkers see each tool as a class of ``iteration_types`` (typed like the
  builtin it follows); at run time it is the ``@asynq()`` function itself.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from asynq_core import ConstFuture, ErrorFuture, FutureBase, asynq
from asynq_core.decorators import get_async_fn
from asynq_core.lowlevel import bound_asynq_message, is_bound_asynq

from .common import _refusing, _Typed

__all__ = [
    "amap",
    "afilter",
    "afilterfalse",
    "asorted",
    "amax",
    "amin",
    "asift",
]

if TYPE_CHECKING:
    # Named in the ``_Typed["..."]`` of each tool, which checkers read.
    from .iteration_types import _AMap, _Extreme, _Filter, _Sift, _Sorted  # noqa: F401

_MISSING: Any = object()

_T = TypeVar("_T")


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


def _iterate(iterable: Iterable[_T], tool: str) -> Iterator[_T]:
    """``iter(iterable)``, with an error naming ``tool`` if it is not iterable."""
    try:
        return iter(iterable)
    except TypeError:
        raise TypeError(
            f"{tool}() needs an iterable, got {iterable!r} "
            f"('{type(iterable).__name__}' object is not iterable)"
        ) from None


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
