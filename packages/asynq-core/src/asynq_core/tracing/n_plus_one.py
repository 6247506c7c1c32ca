"""The N+1 detector: finds, in the flushes of a recording, runs of tiny
flushes of one batch name in successive rounds waited on through one stack
of yields (``find_n_plus_one``), and reports them as ``NPlusOneWarning``.

Invariants:
- A run counts the rounds of its flushes once each; a flush of more than
  ``max_items`` items ends the runs of the stacks it has items from.
- Findings are in the order of their first round; each points at the loop
  of its stack as the recording's wait sites name it.
- Warnings carry the finding's location as their file and line, and share
  one registry, so a "default" filter shows each message once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .events import CodeLocation, Flush, NPlusOne, NPlusOneWarning, YieldStack

__all__ = ["check_n_plus_one_settings", "find_n_plus_one", "warn_n_plus_one"]


# The registry of NPlusOneWarning: a "default" filter shows each message once.
_warning_registry: dict[Any, Any] = {}


def check_n_plus_one_settings(owner: str, rounds: Any, max_items: Any) -> None:
    """ValueError naming ``owner`` unless ``rounds`` is an int >= 2 and
    ``max_items`` an int >= 1."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 2:
        raise ValueError(f"{owner}: n_plus_one_rounds must be an int >= 2, got {rounds!r}")
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"{owner}: n_plus_one_max_items must be an int >= 1, got {max_items!r}")


def find_n_plus_one(
    flushes: Sequence[Flush],
    loop_of: Callable[[YieldStack], CodeLocation],
    min_rounds: int,
    max_items: int,
) -> list[NPlusOne]:
    """The N+1 patterns among ``flushes`` (see ``Recording.n_plus_one``), each
    located at ``loop_of(stack)``."""
    runs: dict[tuple[str, YieldStack], list[Flush]] = {}
    found: list[NPlusOne] = []

    def close(key: tuple[str, YieldStack]) -> None:
        run = runs.pop(key, [])
        rounds = tuple(dict.fromkeys(flush.round for flush in run))
        if len(rounds) >= min_rounds:
            batch, stack = key
            items = sum(flush.stacks[stack] for flush in run)
            found.append(NPlusOne(batch, loop_of(stack), rounds, items, stack))

    for flush in flushes:
        for stack in flush.stacks:
            key = (flush.batch, stack)
            if flush.items > max_items:
                close(key)
                continue
            runs.setdefault(key, []).append(flush)
    for key in list(runs):
        close(key)
    found.sort(key=lambda finding: finding.rounds[0])
    return found


def warn_n_plus_one(findings: Sequence[NPlusOne]) -> None:
    """Warns ``NPlusOneWarning`` for each finding, at its location."""
    for finding in findings:
        warnings.warn_explicit(
            str(finding),
            NPlusOneWarning,
            finding.location.filename,
            finding.location.lineno,
            registry=_warning_registry,
        )
