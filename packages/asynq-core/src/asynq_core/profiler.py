"""Per-thread performance statistics, collected while ``options.COLLECT_PERF_STATS`` is on.

With the option on, the scheduler's traced loop appends one dict per finished
task and per flushed batch: ``name``, ``time_taken`` (microseconds spent
running it) and ``dependencies`` (names of the futures a task waited on);
batches also carry ``batch_size``. Each thread has its own list and counter.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["append", "flush", "reset", "incr_counter"]


class _ProfilerState(threading.local):
    def __init__(self) -> None:
        self.stats: list[dict[str, Any]] = []
        self.counter = 0


_state = _ProfilerState()


def append(stat: dict[str, Any]) -> None:
    """Records one entry for this thread."""
    _state.stats.append(stat)


def flush() -> list[dict[str, Any]]:
    """Returns this thread's entries and starts a new list."""
    stats = _state.stats
    _state.stats = []
    return stats


def reset() -> None:
    """Drops this thread's entries and counter."""
    _state.stats = []
    _state.counter = 0


def incr_counter() -> int:
    """Increments and returns this thread's counter (an id for entries)."""
    _state.counter += 1
    return _state.counter
