"""Flush groups as observers see them: the group a future waits on, its name,
and how its flush went. Used by recordings and spans alike; ``NOT_FOUND`` is
what a group that records its results reports for a key its store lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .futures import DeferredFuture

if TYPE_CHECKING:
    from .futures import FutureBase
    from .protocols import FlushGroup

__all__ = ["NOT_FOUND", "batch_name", "group_of", "outcome_of"]


class _NotFound:
    """The type of ``NOT_FOUND``: one instance, kept as itself through copy and pickle."""

    __slots__ = ()
    _instance: _NotFound | None = None

    def __new__(cls) -> _NotFound:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_FOUND"

    def __reduce__(self) -> str:
        return "NOT_FOUND"


NOT_FOUND: Any = _NotFound()
"""The value a group's ``captured_results()`` gives a key its store does not
hold (a miss, told apart from a stored None); see ``protocols.FlushGroup``."""


def group_of(future: FutureBase[Any]) -> FlushGroup | None:
    """The flush group a future waits on, or None (e.g. for a task)."""
    if isinstance(future, DeferredFuture):
        try:
            return future.flush_group()
        except Exception:  # the scheduler reported it already
            return None
    if future._state is None and callable(getattr(future, "flush", None)):  # pyright: ignore[reportPrivateUsage]  # the task tag
        # A group yielded itself (a batch is a future of its flush).
        return future  # type: ignore[return-value]
    return None


def batch_name(group: FlushGroup) -> str:
    # A group may name itself (a store client's batch: "SqlStore.get"), so that
    # the batches of one generic class are told apart in summaries and traces.
    name = getattr(group, "trace_name", None)
    return name if isinstance(name, str) else type(group).__qualname__


def outcome_of(group: FlushGroup, waits: int = 0) -> tuple[int, int, BaseException | None]:
    """(items, failed items, first item error) of a flushed group; a group
    without ``items`` counts as ``waits`` items (the waits recorded on it)."""
    items = getattr(group, "items", None)
    try:
        items = list(items) if items is not None else None
    except TypeError:
        items = None
    if items is None:
        return waits, 0, None
    failed = 0
    first_error = None
    for item in items:
        error = getattr(item, "_error", None)
        if isinstance(error, BaseException):
            failed += 1
            if first_error is None:
                first_error = error
    return len(items), failed, first_error
