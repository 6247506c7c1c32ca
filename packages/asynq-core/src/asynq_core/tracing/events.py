"""What a recording is made of: the steps, flushes and code locations it
lists, the statistics and findings it gives, and the small formatting helpers
the reports share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "BatchStats",
    "CodeLocation",
    "Flush",
    "KeyResult",
    "NPlusOne",
    "NPlusOneWarning",
    "NotRecordedError",
    "ReplayError",
    "TaskStep",
    "TooManyRoundsError",
    "YieldStack",
]


class NPlusOneWarning(UserWarning):
    """The same batch flushed with tiny batches round after round, each
    time for the same line of code: the signature of a ``yield`` in a loop."""


class TooManyRoundsError(AssertionError):
    """An ``assert_max_rounds`` block took more rounds than allowed."""


class ReplayError(AssertionError):
    """A ``replay()`` block did not ask for what was recorded: a key the
    recording lacks (``NotRecordedError``), or, with ``check_rounds=True``,
    rounds of another shape."""


class NotRecordedError(ReplayError):
    """A batch asked a ``replay()`` for a key its recording does not hold (in
    that round, with ``check_rounds=True``): the error of the futures of that
    key, and of the block if nothing else failed it."""


class KeyResult(NamedTuple):
    """What one key of a flush got, as ``record(capture=True)`` keeps it:
    ``error`` if its fetch raised, else ``value`` (``NOT_FOUND`` for a key the
    store does not hold)."""

    key: Any
    value: Any
    error: BaseException | None


class CodeLocation(NamedTuple):
    """Where a task stood when it started waiting: the line of its ``yield``."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{_short_path(self.filename)}:{self.lineno} in {self.function}"


YieldStack = tuple[CodeLocation, ...]


class TaskStep(NamedTuple):
    """One run of a task, from being resumed to its next wait or its end.

    ``start`` is in seconds since the recording started; ``duration`` includes
    any nested loop the step ran (a synchronous call).
    """

    name: str
    start: float
    duration: float
    finished: bool


@dataclass(frozen=True, eq=False)
class Flush:
    """One flush of a group (a batch) by the scheduler.

    ``batch`` names the batch: its ``trace_name`` attribute if it has one,
    else its class (``batch_class.__qualname__``); ``items``
    counts its items, ``round`` is the index of its round. ``start`` is in
    seconds since the recording started. ``error`` is what ``flush()`` raised
    or else the error of the first failed item (None if all succeeded);
    ``failed_items`` counts the items that got an error. ``locations`` maps
    each code location that yielded items of the batch to how many;
    ``stacks`` does the same for the yield sites up the asynq stack of each
    of those yields (``YieldStack``, outermost first, ending with the location).
    ``results`` is what each key got (``KeyResult``, in the order of the
    batch's items) in a recording made with ``capture=True``, for a batch
    that says which keys its items ask for; None otherwise.
    """

    batch: str
    batch_class: type
    items: int
    failed_items: int
    round: int
    start: float
    duration: float
    error: BaseException | None
    locations: Mapping[CodeLocation, int]
    stacks: Mapping[YieldStack, int] = field(default_factory=dict)  # pyright: ignore[reportUnknownVariableType]  # an empty dict
    results: tuple[KeyResult, ...] | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration


class BatchStats(NamedTuple):
    """The flushes of one batch (named as ``Flush.batch``) in a recording (``time`` in s)."""

    batch: str
    rounds: int
    flushes: int
    items: int
    failed_items: int
    time: float

    @property
    def mean_size(self) -> float:
        return self.items / self.flushes if self.flushes else 0.0


@dataclass(frozen=True)
class NPlusOne:
    """A run of tiny flushes of ``batch`` in ``rounds``, each waited on through
    the same ``stack`` of yields (outermost first). ``location`` is the likely
    loop: the innermost yield site of the stack whose task went on between the
    rounds (the wrappers below it are new tasks each time), else the innermost."""

    batch: str
    location: CodeLocation
    rounds: tuple[int, ...]
    items: int
    stack: YieldStack = ()

    def __str__(self) -> str:
        waited_at = _describe_stack(self.stack) if self.stack else str(self.location)
        loop = "" if waited_at == str(self.location) else f" at {self.location}"
        return (
            f"N+1 batching: {self.batch} was flushed in {len(self.rounds)} rounds "
            f"({_round_span(self.rounds)}) with {self.items} items in all, each time "
            f"waited on at {waited_at}: is there a yield inside a loop{loop}? Yield the "
            "futures of all iterations at once (a list) to batch them in one round."
        )


# The helpers below are shared by the modules of the tracing package.


def _describe_flush(flush: Flush) -> str:  # pyright: ignore[reportUnusedFunction]
    text = f"{flush.batch} ({_plural(flush.items, 'item')}"
    if flush.stacks:
        ranked = sorted(flush.stacks.items(), key=lambda pair: -pair[1])
        shown = ", ".join(_describe_stack(stack) for stack, _ in ranked[:2])
        more = f" and {len(ranked) - 2} more" if len(ranked) > 2 else ""
        text += f" from {shown}{more}"
    if flush.failed_items:
        text += f", {flush.failed_items} failed"
    return text + ")"


def _describe_stack(stack: YieldStack) -> str:
    return " -> ".join(map(str, stack))


def _check_path(owner: str, path: Any) -> None:  # pyright: ignore[reportUnusedFunction]
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{owner} takes a file path (str or os.PathLike), got {path!r}")


def _short_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _ms(seconds: float) -> str:  # pyright: ignore[reportUnusedFunction]
    return f"{seconds * 1000:.2f} ms"


def _round_span(rounds: tuple[int, ...]) -> str:
    if len(rounds) <= 6:
        return "rounds " + ", ".join(map(str, rounds))
    return f"rounds {rounds[0]}, {rounds[1]}, ..., {rounds[-1]}"
