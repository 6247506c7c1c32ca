"""Guards built on recordings: ``assert_max_rounds`` fails a block that took
more rounds than allowed, listing each round's batches and the yields that
filled them.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from .events import (  # the tracing package's helpers
    TooManyRoundsError,
    YieldStack,
    _describe_flush,  # pyright: ignore[reportPrivateUsage]
    _describe_stack,  # pyright: ignore[reportPrivateUsage]
    _plural,  # pyright: ignore[reportPrivateUsage]
)
from .recording import Recording, record

__all__ = ["assert_max_rounds"]


# How many rounds a TooManyRoundsError message lists before it cuts.
_LISTED_ROUNDS = 20


class assert_max_rounds(contextlib.ContextDecorator):
    """Fails with ``TooManyRoundsError`` if the block takes more than ``max_rounds`` rounds.

    A context manager (``with assert_max_rounds(2) as recording:``) and a
    decorator (``@assert_max_rounds(2)``, each call checked on its own). The
    message lists the rounds, the batches and the code locations that
    yielded the items. If the block raises, its error goes through unchanged.
    """

    def __init__(self, max_rounds: int) -> None:
        # Checked although typed: untyped callers pass anything.
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(
                f"assert_max_rounds() takes a number of rounds (an int >= 0), got {max_rounds!r}"
            )
        self.max_rounds = max_rounds
        # The recording of the latest ``with`` block; a decorated call records
        # in a guard of its own, so this stays None for a decorator.
        self.recording: Recording | None = None
        self._active: list[Recording] = []

    def _recreate_cm(self) -> assert_max_rounds:
        # Each decorated call gets its own guard: calls may nest or run in threads.
        return type(self)(self.max_rounds)

    def __enter__(self) -> Recording:
        recording = record()
        self._active.append(recording)
        self.recording = recording
        return recording.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        recording = self._active.pop()
        recording.__exit__(exc_type, exc, tb)
        if exc_type is None and recording.rounds > self.max_rounds:
            raise TooManyRoundsError(_too_many_rounds(recording, self.max_rounds))

    def __repr__(self) -> str:
        return f"assert_max_rounds({self.max_rounds})"


def _too_many_rounds(recording: Recording, max_rounds: int) -> str:
    lines = [
        f"assert_max_rounds({max_rounds}): the block took {recording.rounds} rounds of "
        f"batch flushes, at most {max_rounds} expected",
        "rounds:",
    ]
    by_round = recording.flushes_by_round()
    for index, flushes in enumerate(by_round[:_LISTED_ROUNDS]):
        described = "; ".join(_describe_flush(flush) for flush in flushes)
        lines.append(f"  round {index}: {described}")
    if len(by_round) > _LISTED_ROUNDS:
        lines.append(f"  ... and {len(by_round) - _LISTED_ROUNDS} more rounds")
    lines.append("batches:")
    for stat in recording.batch_stats():
        lines.append(
            f"  {stat.batch}: {_plural(stat.flushes, 'flush', 'flushes')} in "
            f"{_plural(stat.rounds, 'round')}, {_plural(stat.items, 'item')}"
        )
    located: dict[YieldStack, dict[str, Any]] = {}
    for flush in recording.flushes:
        for stack, count in flush.stacks.items():
            entry = located.setdefault(stack, {"items": 0, "rounds": set(), "batches": {}})
            entry["items"] += count
            entry["rounds"].add(flush.round)
            entry["batches"][flush.batch] = None
    lines.append("code locations that yielded the items (through the yields above them):")
    if not located:
        lines.append("  none recorded (the items were not waited on by tasks)")
    for stack, entry in located.items():
        lines.append(
            f"  {_describe_stack(stack)}: {', '.join(entry['batches'])}, "
            f"{_plural(entry['items'], 'item')} in {_plural(len(entry['rounds']), 'round')}"
        )
    findings = recording.n_plus_one()
    if findings:
        lines.append("likely cause:")
        lines.extend(f"  {finding}" for finding in findings)
    return "\n".join(lines)
