"""A recording in the Trace Event Format, which Perfetto and chrome://tracing
open (``Recording.chrome_trace()``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recording import Recording

__all__ = ["trace_events"]


def trace_events(recording: Recording) -> dict[str, Any]:
    """The recording in the Trace Event Format (what ``write_chrome_trace`` writes).

    Task steps are slices named after their function on the "tasks"
    track, rounds are slices on the "rounds" track, and the flushes of each
    batch name are slices on a track of their own; times in microseconds.
    """
    pid = os.getpid()
    events: list[dict[str, Any]] = [
        _metadata(pid, 0, "process_name", name="asynq"),
        _metadata(pid, 1, "thread_name", name="tasks"),
        _metadata(pid, 1, "thread_sort_index", sort_index=1),
        _metadata(pid, 2, "thread_name", name="rounds"),
        _metadata(pid, 2, "thread_sort_index", sort_index=2),
    ]
    tracks: dict[str, int] = {}
    for flush in recording.flushes:
        if flush.batch not in tracks:
            tid = tracks[flush.batch] = 3 + len(tracks)
            events.append(_metadata(pid, tid, "thread_name", name=f"flush {flush.batch}"))
            events.append(_metadata(pid, tid, "thread_sort_index", sort_index=tid))
    for step in recording.steps:
        events.append(
            _slice(
                pid,
                1,
                step.name,
                "task",
                step.start,
                step.duration,
                {"finished": step.finished},
            )
        )
    for index, flushes in enumerate(recording.flushes_by_round()):
        if not flushes:
            continue
        start = min(flush.start for flush in flushes)
        end = max(flush.end for flush in flushes)
        args: dict[str, Any] = {
            "flushes": len(flushes),
            "items": sum(flush.items for flush in flushes),
            "batches": sorted({flush.batch for flush in flushes}),
        }
        events.append(_slice(pid, 2, f"round {index}", "round", start, end - start, args))
    for flush in recording.flushes:
        args = {
            "items": flush.items,
            "round": flush.round,
            "failed_items": flush.failed_items,
            "locations": {str(loc): count for loc, count in flush.locations.items()},
        }
        if flush.error is not None:
            args["error"] = repr(flush.error)
        events.append(
            _slice(
                pid,
                tracks[flush.batch],
                flush.batch,
                "flush",
                flush.start,
                flush.duration,
                args,
            )
        )
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def _metadata(pid: int, tid: int, event: str, **args: Any) -> dict[str, Any]:
    return {"ph": "M", "pid": pid, "tid": tid, "name": event, "args": args}


def _slice(
    pid: int,
    tid: int,
    name: str,
    category: str,
    start: float,
    duration: float,
    args: dict[str, Any],
) -> dict[str, Any]:
    return {
        "ph": "X",
        "pid": pid,
        "tid": tid,
        "name": name,
        "cat": category,
        "ts": round(start * 1e6, 3),
        "dur": round(duration * 1e6, 3),
        "args": args,
    }
