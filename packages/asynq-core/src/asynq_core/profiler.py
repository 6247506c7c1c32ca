"""Per-thread performance statistics, collected while ``options.COLLECT_PERF_STATS`` is on.

With the option on, the scheduler's traced loop appends one dict per finished
task and per flushed batch, as asynq 1.x does:

- a task: ``name`` (``"000012.module.function((args) {kwargs})"``, its number
  given when the profiler first meets it), ``time_taken`` (microseconds spent
  running its steps), ``num_deps`` and ``dependencies``: ``(name, time_taken)``
  of every future it waited on, in the order it yielded them;
- a batch (any flush group): ``name``, ``time_taken`` (the flush), ``batch_size``
  and ``dependencies``: ``(name, 0)`` of each of its items.

Each thread has its own list, counter and records; a task's record lives as
long as the task (weakly held), so nothing here outlives what it describes.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from .text import short_repr

__all__ = ["append", "flush", "reset", "incr_counter"]


class _ProfilerState(threading.local):
    def __init__(self) -> None:
        self.stats: list[dict[str, Any]] = []
        self.counter = 0
        # task or item -> [name, microseconds run, futures waited on]
        self.records: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


_state = _ProfilerState()


def append(stat: dict[str, Any]) -> None:
    """Records one entry for this thread."""
    _state.stats.append(stat)


def flush() -> list[dict[str, Any]]:
    """Returns this thread's entries, then resets (as ``reset()``)."""
    stats = _state.stats
    reset()
    return stats


def reset() -> None:
    """Drops this thread's entries, records and counter."""
    _state.stats = []
    _state.counter = 0
    _state.records = weakref.WeakKeyDictionary()


def incr_counter() -> int:
    """Increments and returns this thread's counter (an id for entries)."""
    _state.counter += 1
    return _state.counter


def _record_of(future: Any) -> list[Any]:
    records = _state.records
    record = records.get(future)
    if record is None:
        record = records[future] = [_name_of(future, incr_counter()), 0.0, []]
    return record


def _name_of(future: Any, number: int) -> str:
    fn = getattr(future, "fn", None)
    if fn is None:
        return f"{number:06d}.{short_repr(future)}"
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or repr(fn)
    args = short_repr(getattr(future, "args", ()))
    kwargs = short_repr(getattr(future, "kwargs", {}))
    return f"{number:06d}.{module}.{qualname}({args} {kwargs})"


def task_stepped(task: Any, elapsed_us: float, waits_on: list[Any]) -> None:
    """Counts a step of ``task`` and the futures it now waits on; appends the
    task's entry once it is computed."""
    record = _record_of(task)
    record[1] += elapsed_us
    record[2].extend(waits_on)
    if task._computed:
        dependencies = [(_record_of(dep)[0], _record_of(dep)[1]) for dep in record[2]]
        append(
            {
                "name": record[0],
                "time_taken": record[1],
                "num_deps": len(dependencies),
                "dependencies": dependencies,
            }
        )


def group_flushed(group: Any, elapsed_us: float) -> None:
    """Appends the entry of a flushed batch (any flush group)."""
    items = list(getattr(group, "items", ()))
    append(
        {
            "name": short_repr(group),
            "time_taken": elapsed_us,
            "batch_size": len(items),
            "dependencies": [(_record_of(item)[0], 0) for item in items],
        }
    )
