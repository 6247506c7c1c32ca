"""Observability: what the scheduler of this thread did, and guards built on it.

This module owns ``record()`` and the ``Recording`` it yields (every flush,
every task step, the rounds; a summary, a Chrome trace and an SVG timeline
made from them), ``assert_max_rounds``, the N+1 detector
(``NPlusOneWarning``) and the optional OpenTelemetry spans per flush.

Invariants:
- A *round* is a maximal run of consecutive flushes with no task step
  between them: the scheduler was stuck, and each flush of the run answers
  the tasks of one wave. Batching is the art of having few rounds.
- Nothing is paid when nothing records: a recording puts itself in its
  scheduler's ``_tracers`` list, which makes ``wait_for`` pick the traced
  loop; with the list empty (and no debug option on) the lean loop runs.
- A recording belongs to the thread that entered it and sees the loops that
  thread starts inside the block (its synchronous calls); nested recordings
  each see every event of their window. Flushes made without the scheduler
  (``.value()`` on a batch item outside any task) are not seen.
- Task and flush times are self times: a step or flush around a nested loop
  (a synchronous call inside a task) is charged only its own time, so task
  time plus flush time never exceeds the wall time.
- N+1 warnings are emitted when a ``record()`` block ends without an error
  (never from inside the scheduler, so a warning turned into an error by a
  filter cannot strand a task). OpenTelemetry spans are process-wide, through
  the ``OTEL_SPANS`` debug option, which puts every thread on the traced loop.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

from . import _debug
from .__about__ import __version__
from .futures import DeferredFuture
from .scheduler import RUNNING, _futures_in, _name_of, get_scheduler

__all__ = [
    "record",
    "Recording",
    "Flush",
    "TaskStep",
    "BatchStats",
    "CodeLocation",
    "YieldStack",
    "NPlusOne",
    "NPlusOneWarning",
    "assert_max_rounds",
    "TooManyRoundsError",
    "enable_otel",
    "disable_otel",
]


class NPlusOneWarning(UserWarning):
    """The same batch flushed with tiny batches round after round, each
    time for the same line of code: the signature of a ``yield`` in a loop."""


class TooManyRoundsError(AssertionError):
    """An ``assert_max_rounds`` block took more rounds than allowed."""


class CodeLocation(NamedTuple):
    """Where a task stood when it started waiting: the line of its ``yield``."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{_short_path(self.filename)}:{self.lineno} in {self.function}"


YieldStack = tuple[CodeLocation, ...]
"""The yield sites up the asynq stack of a wait, outermost first: the line each
waiting task stands at, down to the ``yield`` of the batch item itself."""


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
    stacks: Mapping[YieldStack, int] = field(default_factory=dict)

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


class Recording:
    """What this thread's scheduler did inside a ``record()`` block.

    Live while the block runs, final after it. ``rounds`` counts the rounds,
    ``flushes`` and ``steps`` list every flush and task step in order,
    ``tasks_finished`` counts the tasks that finished; ``task_time``,
    ``flush_time`` and ``wall_time`` are in seconds. Make one with ``record()``.
    """

    def __init__(
        self,
        *,
        warn_n_plus_one: bool = True,
        n_plus_one_rounds: int = 3,
        n_plus_one_max_items: int = 1,
    ) -> None:
        _check_n_plus_one_settings("Recording()", n_plus_one_rounds, n_plus_one_max_items)
        self.warn_n_plus_one = bool(warn_n_plus_one)
        self.n_plus_one_rounds = n_plus_one_rounds
        self.n_plus_one_max_items = n_plus_one_max_items
        self.rounds = 0
        self.flushes: list[Flush] = []
        self.steps: list[TaskStep] = []
        self.tasks_finished = 0
        self.task_time = 0.0
        self.flush_time = 0.0
        self._started: float | None = None
        self._stopped: float | None = None
        self._scheduler: Any = None
        # Time spent in nested steps and flushes, one entry per step or flush
        # in progress (its own time is its duration minus that).
        self._nested_time: list[float] = []
        self._flush_rounds: list[int] = []  # the round of each flush in progress
        # The groups each flush in progress flushed (reported by the scheduler's
        # on_after_batch_flush): more than one when groups flush concurrently.
        self._flushed_groups: list[list[Any]] = []
        self._after_flush = False  # no task ran since the last flush started
        # id(group) -> (group, yield stack -> items waited on through it)
        self._waits: dict[int, tuple[Any, Counter[YieldStack]]] = {}
        self._names: dict[Any, str] = {}
        self._locations: dict[tuple[int, int], tuple[Any, CodeLocation]] = {}
        # yield stack -> (the iteration_index of each of its tasks when first
        # seen, the levels whose task has gone on since): tells loops, whose
        # task goes on, from the wrappers they call, new tasks each time.
        self._progress: dict[YieldStack, tuple[tuple[int, ...], set[int]]] = {}
        # id(task) -> (task, its iteration_index, its stack, their indexes) for
        # the tasks waited on by the tasks that wait on batches: the siblings of
        # a wave share them. Emptied at each flush, which may make them go on.
        self._above: dict[int, tuple[Any, int, YieldStack, tuple[int, ...]]] = {}

    # -- the block -----------------------------------------------------------

    def __enter__(self) -> Recording:
        if self._started is not None:
            raise RuntimeError(
                f"{self!r} was already entered: a Recording records one block; "
                "call record() for another"
            )
        self._scheduler = get_scheduler()
        self._started = time.perf_counter()
        self._scheduler.on_after_batch_flush.subscribe(self._group_flushed)
        self._scheduler._tracers.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
        if exc_type is None and self.warn_n_plus_one:
            for finding in self.n_plus_one():
                warnings.warn_explicit(
                    str(finding),
                    NPlusOneWarning,
                    finding.location.filename,
                    finding.location.lineno,
                    registry=_warning_registry,
                )

    def _stop(self) -> None:
        if self._stopped is not None:
            return
        self._stopped = time.perf_counter()
        self._scheduler.on_after_batch_flush.unsubscribe(self._group_flushed)
        tracers = self._scheduler._tracers
        for index, tracer in enumerate(tracers):
            if tracer is self:
                del tracers[index]
                break
        self._waits.clear()
        self._above.clear()

    @property
    def active(self) -> bool:
        """True between entering and leaving the block."""
        return self._started is not None and self._stopped is None

    @property
    def wall_time(self) -> float:
        """Seconds from entering the block to leaving it (or to now, inside it)."""
        if self._started is None:
            return 0.0
        end = self._stopped if self._stopped is not None else time.perf_counter()
        return end - self._started

    # -- the scheduler's events (see TaskScheduler._step_traced) --------------

    def _step_started(self) -> None:
        self._nested_time.append(0.0)
        self._after_flush = False

    def _step_ended(self, task: Any, start: float, end: float) -> None:
        duration = end - start
        nested = self._nested_time.pop() if self._nested_time else 0.0
        if self._stopped is not None or self._started is None:
            return
        self.task_time += duration - nested
        if self._nested_time:
            self._nested_time[-1] += duration
        self._after_flush = False
        finished = task._computed
        self.steps.append(TaskStep(self._name_of(task), start - self._started, duration, finished))
        if finished:
            self.tasks_finished += 1
        else:
            self._note_waits(task)

    def _round_started(self) -> None:
        """The next flush starts a round (the asyncio domain says so: its rounds
        are dispatched, whether or not a task stepped in between)."""
        self._after_flush = False

    def _flush_started(self, group: Any) -> None:
        self._above.clear()
        if not self._after_flush:
            self.rounds += 1
            self._after_flush = True
        self._flush_rounds.append(self.rounds - 1)
        self._flushed_groups.append([])
        self._nested_time.append(0.0)

    def _group_flushed(self, group: Any) -> None:
        # Only groups flushed by a flush this recording saw start (the hook
        # also fires in loops that began before the recording).
        if self._flushed_groups:
            self._flushed_groups[-1].append(group)

    def _flush_ended(
        self, group: Any, start: float, end: float, error: BaseException | None
    ) -> None:
        round_index = self._flush_rounds.pop() if self._flush_rounds else self.rounds - 1
        groups = self._flushed_groups.pop() if self._flushed_groups else []
        nested = self._nested_time.pop() if self._nested_time else 0.0
        if self._stopped is not None or self._started is None:
            return
        duration = end - start
        self.flush_time += duration - nested
        if self._nested_time:
            self._nested_time[-1] += duration
        # The group first, then those flushed together with it, each once.
        for flushed in {id(each): each for each in (group, *groups)}.values():
            waited = self._waits.pop(id(flushed), None)
            stacks = dict(waited[1]) if waited is not None else {}
            locations: Counter[CodeLocation] = Counter()
            for stack, count in stacks.items():
                locations[stack[-1]] += count
            items, failed, item_error = _outcome_of(flushed, locations)
            raised = error if flushed is group else None
            self.flushes.append(
                Flush(
                    batch=_batch_name(flushed),
                    batch_class=type(flushed),
                    items=items,
                    failed_items=failed,
                    round=round_index,
                    start=start - self._started,
                    duration=duration,
                    error=raised if raised is not None else item_error,
                    locations=dict(locations),
                    stacks=stacks,
                )
            )

    def _note_waits(self, task: Any) -> None:
        stack = None
        yielded = task._yielded
        # One batch item is the common case; anything else takes the general route.
        futures = (yielded,) if isinstance(yielded, DeferredFuture) else _futures_in(yielded)
        for future in futures:
            if future._state is not None:
                continue  # a task: its own waits are noted when it stops
            group = _group_of(future)
            if group is None:
                continue
            if stack is None:
                stack = self._stack_of(task)
            waited = self._waits.get(id(group))
            if waited is None:
                waited = self._waits[id(group)] = (group, Counter())
            waited[1][stack] += 1

    def _stack_of(self, task: Any) -> YieldStack:
        """The yield sites from the outermost task waiting (through tasks) on
        ``task`` down to ``task``'s own, at most ``_MAX_STACK`` of them; notes
        which of their tasks went on since this stack was first seen."""
        chain = [task]
        stack: YieldStack = ()
        indexes: tuple[int, ...] = ()
        above = self._above
        while len(chain) < _MAX_STACK:
            waiter = _waiter_of(chain[-1])
            if waiter is None:
                break
            known = above.get(id(waiter))
            if known is not None and known[0] is waiter and known[1] == waiter.iteration_index:
                stack, indexes = known[2], known[3]
                break
            chain.append(waiter)
        for level in range(len(chain) - 1, -1, -1):
            each = chain[level]
            stack += (self._location_of(each),)
            indexes += (each.iteration_index,)
            if len(stack) > _MAX_STACK:  # on top of a known stack
                stack, indexes = stack[1:], indexes[1:]
            if level:
                above[id(each)] = (each, each.iteration_index, stack, indexes)
        progress = self._progress.get(stack)
        if progress is None:
            self._progress[stack] = (indexes, set())
        elif indexes != progress[0]:
            first, moved = progress
            moved.update(level for level, index in enumerate(indexes) if index != first[level])
        return stack

    def _loop_of(self, stack: YieldStack) -> CodeLocation:
        """The site of ``stack`` most likely to be a loop (see ``NPlusOne``)."""
        progress = self._progress.get(stack)
        moved = progress[1] if progress is not None else ()
        return stack[max(moved)] if moved else stack[-1]

    def _name_of(self, task: Any) -> str:
        fn = getattr(task, "fn", None)
        try:
            name = self._names.get(fn)
        except TypeError:  # an unhashable callable: named every time
            return _name_of(task)
        if name is None:
            name = _name_of(task)
            if fn is not None:
                self._names[fn] = name
        return name

    def _location_of(self, task: Any) -> CodeLocation:
        generator = getattr(task, "_generator", None)
        frame = getattr(generator, "gi_frame", None)
        # Follow ``yield from`` down to the generator that really yielded.
        inner = getattr(generator, "gi_yieldfrom", None)
        inner_frame = getattr(inner, "gi_frame", None)
        while inner_frame is not None:
            frame = inner_frame
            inner = getattr(inner, "gi_yieldfrom", None)
            inner_frame = getattr(inner, "gi_frame", None)
        if frame is None:
            code = getattr(getattr(task, "fn", None), "__code__", None)
            if code is None:
                return CodeLocation("<unknown>", 0, self._name_of(task))
            lineno = code.co_firstlineno
        else:
            code = frame.f_code
            lineno = frame.f_lineno
        # Keyed by id: hashing a code object hashes its whole content. The
        # value keeps the code alive, so the id is not reused meanwhile.
        known = self._locations.get((id(code), lineno))
        if known is not None:
            return known[1]
        function = getattr(code, "co_qualname", code.co_name)
        location = CodeLocation(code.co_filename, lineno, function)
        self._locations[(id(code), lineno)] = (code, location)
        return location

    # -- reading -------------------------------------------------------------

    def flushes_by_round(self) -> list[list[Flush]]:
        """The flushes of each round, round 0 first."""
        by_round: list[list[Flush]] = [[] for _ in range(self.rounds)]
        for flush in self.flushes:
            if 0 <= flush.round < len(by_round):
                by_round[flush.round].append(flush)
        return by_round

    def batch_stats(self) -> list[BatchStats]:
        """Per batch name, in the order of their first flush."""
        flushes: dict[str, list[Flush]] = {}
        for flush in self.flushes:
            flushes.setdefault(flush.batch, []).append(flush)
        return [
            BatchStats(
                batch=batch,
                rounds=len({flush.round for flush in group}),
                flushes=len(group),
                items=sum(flush.items for flush in group),
                failed_items=sum(flush.failed_items for flush in group),
                time=sum(flush.duration for flush in group),
            )
            for batch, group in flushes.items()
        ]

    def n_plus_one(
        self, min_rounds: int | None = None, max_items: int | None = None
    ) -> list[NPlusOne]:
        """The N+1 patterns in this recording.

        A pattern is a batch name and a code location such that at least
        ``min_rounds`` flushes of that class in a row (among those with items
        from that location), each in a later round than the one before and
        each of at most ``max_items`` items, got items from that location.
        A bigger flush of the class from the location ends the run. The
        defaults are the recording's (3 rounds, 1 item).
        """
        min_rounds = self.n_plus_one_rounds if min_rounds is None else min_rounds
        max_items = self.n_plus_one_max_items if max_items is None else max_items
        _check_n_plus_one_settings("Recording.n_plus_one()", min_rounds, max_items)
        runs: dict[tuple[str, YieldStack], list[Flush]] = {}
        found: list[NPlusOne] = []

        def close(key: tuple[str, YieldStack]) -> None:
            run = runs.pop(key, [])
            rounds = tuple(dict.fromkeys(flush.round for flush in run))
            if len(rounds) >= min_rounds:
                batch, stack = key
                items = sum(flush.stacks[stack] for flush in run)
                found.append(NPlusOne(batch, self._loop_of(stack), rounds, items, stack))

        for flush in self.flushes:
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

    def summary(self) -> str:
        """A short text report: the totals and a table per batch name."""
        items = sum(flush.items for flush in self.flushes)
        lines = [
            f"asynq recording: {_plural(self.rounds, 'round')}, "
            f"{_plural(len(self.flushes), 'flush', 'flushes')} ({_plural(items, 'item')}), "
            f"{_plural(self.tasks_finished, 'task')} finished",
            f"time: {_ms(self.wall_time)} wall, {_ms(self.task_time)} in tasks, "
            f"{_ms(self.flush_time)} in flushes",
        ]
        stats = self.batch_stats()
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

    def chrome_trace(self) -> dict[str, Any]:
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
        for flush in self.flushes:
            if flush.batch not in tracks:
                tid = tracks[flush.batch] = 3 + len(tracks)
                events.append(_metadata(pid, tid, "thread_name", name=f"flush {flush.batch}"))
                events.append(_metadata(pid, tid, "thread_sort_index", sort_index=tid))
        for step in self.steps:
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
        for index, flushes in enumerate(self.flushes_by_round()):
            if not flushes:
                continue
            start = min(flush.start for flush in flushes)
            end = max(flush.end for flush in flushes)
            args = {
                "flushes": len(flushes),
                "items": sum(flush.items for flush in flushes),
                "batches": sorted({flush.batch for flush in flushes}),
            }
            events.append(_slice(pid, 2, f"round {index}", "round", start, end - start, args))
        for flush in self.flushes:
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

    def write_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Writes the Trace Event Format JSON that Perfetto and chrome://tracing open."""
        _check_path("Recording.write_chrome_trace()", path)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.chrome_trace(), file)

    def svg(self, width: int = 960) -> str:
        """A self-contained SVG timeline of the rounds, task steps and flushes."""
        if isinstance(width, bool) or not isinstance(width, int) or width < 400:
            raise ValueError(f"Recording.svg(): width must be an int >= 400, got {width!r}")
        return _render_svg(self, width)

    def write_svg(self, path: str | os.PathLike[str], width: int = 960) -> None:
        """Writes ``svg(width)`` to ``path``: a timeline any browser shows."""
        _check_path("Recording.write_svg()", path)
        svg = self.svg(width)
        with open(path, "w", encoding="utf-8") as file:
            file.write(svg)

    def __repr__(self) -> str:
        state = "active" if self.active else "done" if self._stopped else "not started"
        return (
            f"<Recording ({state}): {_plural(self.rounds, 'round')}, "
            f"{_plural(len(self.flushes), 'flush', 'flushes')}, "
            f"{_plural(self.tasks_finished, 'task')} finished>"
        )


def record(
    *,
    warn_n_plus_one: bool = True,
    n_plus_one_rounds: int = 3,
    n_plus_one_max_items: int = 1,
) -> Recording:
    """Records what this thread's scheduler does inside a ``with`` block.

    ``with record() as recording: ...`` gives a ``Recording``. When the block
    ends without an error and ``warn_n_plus_one`` is true, every N+1 pattern
    (see ``Recording.n_plus_one``: ``n_plus_one_rounds`` flushes in a row of
    at most ``n_plus_one_max_items`` items) is reported as an
    ``NPlusOneWarning`` naming the yields up the asynq stack and pointing at
    the likely loop among them (see ``NPlusOne``).
    """
    _check_n_plus_one_settings("record()", n_plus_one_rounds, n_plus_one_max_items)
    return Recording(
        warn_n_plus_one=warn_n_plus_one,
        n_plus_one_rounds=n_plus_one_rounds,
        n_plus_one_max_items=n_plus_one_max_items,
    )


# -- assert_max_rounds -----------------------------------------------------------

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
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 0:
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


def _describe_flush(flush: Flush) -> str:
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


# -- OpenTelemetry ---------------------------------------------------------------

_otel_tracer: Any = None


def enable_otel(tracer_provider: Any = None) -> None:
    """Makes an OpenTelemetry span for every flush, in every thread, from now on.

    Spans are named ``asynq.flush <batch name>`` and carry the attributes
    ``asynq.batch.class``, ``asynq.batch.items`` and ``asynq.batch.failed_items``;
    a flush that raised or whose items failed gets an error status and an
    exception event. They are children of the span current when the flush
    starts. ``tracer_provider`` defaults to the global one. Needs the
    ``otel`` extra (``pip install 'asynq-core[otel]'``). Every scheduler runs
    its traced loop while this is on; ``disable_otel()`` turns it off.
    """
    try:
        from opentelemetry import trace
    except ImportError as error:
        raise ImportError(
            "asynq_core.tracing.enable_otel() needs the OpenTelemetry API: "
            "pip install 'asynq-core[otel]'"
        ) from error
    global _otel_tracer
    _otel_tracer = trace.get_tracer(
        "asynq_core.tracing", __version__, tracer_provider=tracer_provider
    )
    _debug.options.OTEL_SPANS = True


def disable_otel() -> None:
    """Stops making spans (flushes already in a span finish in it)."""
    global _otel_tracer
    _debug.options.OTEL_SPANS = False
    _otel_tracer = None


def _start_flush_span(group: Any, make_current: bool) -> Any:
    """Opens the span of a round whose first group is ``group`` (called by
    ``rounds.Round``); with ``make_current``, it is the current span until
    ``_end_flush_span``. None if spans were disabled meanwhile."""
    tracer = _otel_tracer
    if tracer is None:
        return None
    batch_class = type(group)
    attributes = {"asynq.batch.class": f"{batch_class.__module__}.{batch_class.__qualname__}"}
    span = tracer.start_span(f"asynq.flush {_batch_name(group)}", attributes=attributes)
    token = None
    if make_current:
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(span))
    return span, token


def _end_flush_span(opened: Any, group: Any, error: BaseException | None) -> None:
    """Closes a span of ``_start_flush_span``, with the outcome of ``group``."""
    if opened is None:
        return
    from opentelemetry import context
    from opentelemetry.trace import Status, StatusCode

    span, token = opened
    if token is not None:
        context.detach(token)
    items, failed, item_error = _outcome_of(group, {})
    error = error if error is not None else item_error
    span.set_attribute("asynq.batch.items", items)
    span.set_attribute("asynq.batch.failed_items", failed)
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{failed} of {items} items failed: {error!r}"))
    span.end()


# -- helpers ---------------------------------------------------------------------

# How many yield sites up the asynq stack a wait names: the innermost ones,
# where the loops that make N+1 rounds are.
_MAX_STACK = 12

# The registry of NPlusOneWarning: a "default" filter shows each message once.
_warning_registry: dict[Any, Any] = {}


def _check_n_plus_one_settings(owner: str, rounds: Any, max_items: Any) -> None:
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 2:
        raise ValueError(f"{owner}: n_plus_one_rounds must be an int >= 2, got {rounds!r}")
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"{owner}: n_plus_one_max_items must be an int >= 1, got {max_items!r}")


def _check_path(owner: str, path: Any) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{owner} takes a file path (str or os.PathLike), got {path!r}")


def _waiter_of(task: Any) -> Any:
    """The task waiting on ``task`` (the first, if several), or the running task
    that called it synchronously; None for a root."""
    waiter = task._waiters
    if waiter is None:
        creator = getattr(task, "creator", None)
        return creator if creator is not None and creator._state == RUNNING else None
    if type(waiter) is list:
        waiter = waiter[0]
    return waiter if getattr(waiter, "_state", None) is not None else None


def _group_of(future: Any) -> Any:
    """The flush group a future waits on, or None (e.g. for a task)."""
    if isinstance(future, DeferredFuture):
        try:
            return future.flush_group()
        except Exception:  # the scheduler reported it already
            return None
    if future._state is None and callable(getattr(future, "flush", None)):
        return future  # a group yielded itself (a batch is a future of its flush)
    return None


def _batch_name(group: Any) -> str:
    # A group may name itself (a store client's batch: "SqlStore.get"), so that
    # the batches of one generic class are told apart in summaries and traces.
    name = getattr(group, "trace_name", None)
    return name if isinstance(name, str) else type(group).__qualname__


def _outcome_of(
    group: Any, locations: Mapping[CodeLocation, int]
) -> tuple[int, int, BaseException | None]:
    """(items, failed items, first item error) of a flushed group; a group
    without ``items`` counts the waits recorded on it."""
    items = getattr(group, "items", None)
    try:
        items = list(items) if items is not None else None
    except TypeError:
        items = None
    if items is None:
        return sum(locations.values()), 0, None
    failed = 0
    first_error = None
    for item in items:
        error = getattr(item, "_error", None)
        if isinstance(error, BaseException):
            failed += 1
            if first_error is None:
                first_error = error
    return len(items), failed, first_error


def _short_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _round_span(rounds: tuple[int, ...]) -> str:
    if len(rounds) <= 6:
        return "rounds " + ", ".join(map(str, rounds))
    return f"rounds {rounds[0]}, {rounds[1]}, ..., {rounds[-1]}"


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


# -- the SVG timeline ------------------------------------------------------------

_TASK_COLOR = "#4c78a8"
_FLUSH_COLOR = "#f58518"
_ERROR_COLOR = "#e45756"
_BAND_COLORS = ("#eef3fa", "#fafbfd")


def _render_svg(recording: Recording, width: int) -> str:
    right, top, row_height, axis_height = 24, 78, 30, 44
    batches = list(dict.fromkeys(flush.batch for flush in recording.flushes))
    rows = ["tasks", *batches]
    # Row labels are about 7 px a character; the column grows to fit them,
    # up to a third of the picture (longer ones are clipped).
    label_chars = min(max(len(f"flush {name}") for name in rows), (width // 3 - 20) // 7)
    label_width = max(170, 7 * label_chars + 20)
    height = top + row_height * len(rows) + axis_height
    last_event = max(
        [step.start + step.duration for step in recording.steps]
        + [flush.end for flush in recording.flushes]
        + [0.0]
    )
    total = max(recording.wall_time, last_event) or 1e-6
    plot = width - label_width - right
    per_pixel = total / plot

    def x(seconds: float) -> float:
        return label_width + seconds / total * plot

    def row_y(index: int) -> int:
        return top + index * row_height

    items = sum(flush.items for flush in recording.flushes)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(
            12,
            22,
            f"asynq: {_plural(recording.rounds, 'round')}, "
            f"{_plural(len(recording.flushes), 'flush', 'flushes')} "
            f"({_plural(items, 'item')}), {_plural(recording.tasks_finished, 'task')} finished",
            size=15,
            weight="bold",
        ),
        _text(
            12,
            42,
            f"wall {_ms(recording.wall_time)}, in tasks {_ms(recording.task_time)}, "
            f"in flushes {_ms(recording.flush_time)}",
            fill="#444444",
        ),
    ]
    # Legend.
    legend_x = width - right - 330
    for offset, (color, label) in enumerate(
        (
            (_TASK_COLOR, "task running"),
            (_FLUSH_COLOR, "batch flush"),
            (_ERROR_COLOR, "flush with errors"),
        )
    ):
        lx = legend_x + offset * 115
        out.append(f'<rect x="{lx}" y="32" width="12" height="12" fill="{color}"/>')
        out.append(_text(lx + 16, 42, label, fill="#444444"))
    # Round bands: round i runs from the end of round i-1 to the end of its last flush.
    plot_top, plot_bottom = row_y(0), row_y(len(rows))
    band_start = 0.0
    for index, flushes in enumerate(recording.flushes_by_round()):
        if not flushes:
            continue
        band_end = max(flush.end for flush in flushes)
        x0, x1 = x(band_start), x(band_end)
        out.append(
            f'<rect x="{x0:.2f}" y="{plot_top - 18}" width="{max(x1 - x0, 0.5):.2f}" '
            f'height="{plot_bottom - plot_top + 18}" fill="{_BAND_COLORS[index % 2]}">'
            f"<title>round {index}: {_plural(len(flushes), 'flush', 'flushes')}, "
            f"{_plural(sum(f.items for f in flushes), 'item')}</title></rect>"
        )
        label = f"round {index}" if x1 - x0 >= 54 else str(index) if x1 - x0 >= 14 else ""
        if label:
            out.append(
                _text((x0 + x1) / 2, plot_top - 5, label, anchor="middle", fill="#555555", size=11)
            )
        band_start = band_end
    # Grid and time axis.
    step = _tick_step(total)
    tick = 0.0
    while tick <= total * 1.0001:
        tx = x(tick)
        out.append(
            f'<line x1="{tx:.2f}" y1="{plot_top}" x2="{tx:.2f}" y2="{plot_bottom + 4}" '
            'stroke="#d0d0d0" stroke-width="1"/>'
        )
        out.append(
            _text(
                tx,
                plot_bottom + 18,
                _tick_label(tick, step),
                anchor="middle",
                fill="#444444",
                size=11,
            )
        )
        tick += step
    out.append(
        _text(
            label_width + plot / 2,
            plot_bottom + 36,
            "time since the recording started",
            anchor="middle",
            fill="#666666",
            size=11,
        )
    )
    # Row labels and separators.
    for index, name in enumerate(rows):
        y = row_y(index)
        out.append(
            f'<line x1="{label_width}" y1="{y + row_height}" x2="{width - right}" '
            f'y2="{y + row_height}" stroke="#e4e4e4" stroke-width="1"/>'
        )
        label = name if index == 0 else f"flush {name}"
        out.append(
            _text(label_width - 8, y + row_height / 2 + 4, _clip(label, label_chars), anchor="end")
        )
    # Task steps, merged where they are closer than a pixel.
    y = row_y(0) + 6
    for start, end, count in _merge_spans(
        sorted((step.start, step.start + step.duration) for step in recording.steps), per_pixel
    ):
        x0 = x(start)
        out.append(
            f'<rect x="{x0:.2f}" y="{y}" width="{max(x(end) - x0, 0.6):.2f}" '
            f'height="{row_height - 12}" fill="{_TASK_COLOR}">'
            f"<title>{_plural(count, 'task step')}, {_ms(end - start)}</title></rect>"
        )
    # Flushes.
    for flush in recording.flushes:
        y = row_y(1 + batches.index(flush.batch)) + 4
        x0 = x(flush.start)
        bar = max(x(flush.end) - x0, 1.5)
        color = _ERROR_COLOR if flush.error is not None else _FLUSH_COLOR
        tip = (
            f"{flush.batch}: {_plural(flush.items, 'item')}, round {flush.round}, "
            f"{_ms(flush.duration)}"
        )
        if flush.failed_items:
            tip += f", {flush.failed_items} failed"
        if flush.error is not None:
            tip += f" ({flush.error!r})"
        out.append(
            f'<rect x="{x0:.2f}" y="{y}" width="{bar:.2f}" height="{row_height - 8}" '
            f'fill="{color}" rx="2"><title>{_xml_text(tip)}</title></rect>'
        )
        label = _plural(flush.items, "item")
        if bar < 7 * len(label) + 8:
            label = str(flush.items)
        if bar >= 7 * len(label) + 8:
            out.append(
                _text(
                    x0 + bar / 2,
                    y + row_height / 2,
                    label,
                    anchor="middle",
                    fill="#ffffff",
                    weight="bold",
                    size=11,
                )
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _merge_spans(spans: list[tuple[float, float]], gap: float) -> list[tuple[float, float, int]]:
    merged: list[list[Any]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < gap:
            last = merged[-1]
            last[1] = max(last[1], end)
            last[2] += 1
        else:
            merged.append([start, end, 1])
    return [(start, end, count) for start, end, count in merged]


def _tick_step(total: float) -> float:
    raw = total / 8
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _tick_label(seconds: float, step: float) -> str:
    if step >= 1:
        return f"{seconds:g} s"
    milliseconds = seconds * 1000
    decimals = max(0, -math.floor(math.log10(step * 1000))) if step * 1000 < 1 else 0
    return f"{milliseconds:.{decimals}f} ms"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    fill: str = "#222222",
    size: int = 12,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}" fill="{fill}" '
        f'font-size="{size}" font-weight="{weight}">{_xml_text(text)}</text>'
    )


# What XML 1.0 cannot hold, even as a character reference: most control
# characters, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """``text`` as XML character data; what XML cannot hold is shown as its Python escape."""
    shown = _NOT_XML.sub(lambda match: ascii(match[0])[1:-1], text)
    return escape(shown)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
