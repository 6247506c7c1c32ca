"""The text report of a recording (``Recording.summary()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import _ms, _plural  # pyright: ignore[reportPrivateUsage]  # the package's helpers

if TYPE_CHECKING:
    from .recording import Recording

__all__ = ["summary"]


def summary(recording: Recording) -> str:
    """A short text report: the totals and a table per batch name."""
    items = sum(flush.items for flush in recording.flushes)
    lines = [
        f"asynq recording: {_plural(recording.rounds, 'round')}, "
        f"{_plural(len(recording.flushes), 'flush', 'flushes')} ({_plural(items, 'item')}), "
        f"{_plural(recording.tasks_finished, 'task')} finished",
        f"time: {_ms(recording.wall_time)} wall, {_ms(recording.task_time)} in tasks, "
        f"{_ms(recording.flush_time)} in flushes",
    ]
    stats = recording.batch_stats()
    if not stats:
        lines.append("no batch was flushed")
        return "\n".join(lines)
    header = ("batch", "rounds", "flushes", "items", "mean size", "failed", "time ms")
    rows = [
        (
            stat.batch,
            str(stat.rounds),
            str(stat.flushes),
            str(stat.items),
            f"{stat.mean_size:.1f}",
            str(stat.failed_items),
            f"{stat.time * 1000:.2f}",
        )
        for stat in stats
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(7)]
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
