"""Recording what the scheduler of a thread does: ``record()`` and the
``Recording`` it yields (every task step, every flush, the rounds, the yield
sites that filled each batch, which ``wait_sites`` tracks), and the N+1
detector (``n_plus_one``) run when a block ends.

Invariants:
- A *round* is a maximal run of consecutive flushes with no task step
  between them (or, under asyncio, one round the domain dispatched): the
  scheduler was stuck, and each flush of the run answers the tasks of one
  wave. Batching is the art of having few rounds.
- Nothing is paid when nothing records: a recording puts itself in its
  scheduler's ``_tracers`` list, which makes ``wait_for`` pick the traced
  loop; with the list empty (and no debug option on) the lean loop runs.
- A recording belongs to the thread that entered it and sees the loops that
  thread starts inside the block (its synchronous calls, the asyncio domain
  of its loop); nested recordings each see every event of their window.
  A flush made without the scheduler (``.value()`` on a batch item outside
  any task) is seen as a round of its own if its future flushes it through
  ``lowlevel.flush_now`` (asynq-batching's items do), else not at all.
- With ``capture=True``, what each key of a flush got is kept (``Flush.results``)
  and encoded when the flush ends (see ``capture``), for ``save()`` and
  ``replay``; a group that does not say which keys its futures ask for
  (``FlushGroup.captured_results``) is recorded without them.
- Task and flush times are self times: a step or flush around a nested loop
  (a synchronous call inside a task) is charged only its own time, so task
  time plus flush time never exceeds the wall time (under asyncio, rounds
  overlap: their times may add up to more).
- N+1 warnings are emitted when a ``record()`` block ends without an error
  (never from inside the scheduler, so a warning turned into an error by a
  filter cannot strand a task).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..groups import batch_name, outcome_of
from ..scheduler import get_scheduler
from . import capture as _capture
from . import chrome, report, svg
from .events import (
    BatchStats,
    CodeLocation,
    Flush,
    KeyResult,
    NPlusOne,
    TaskStep,
    _check_path,  # pyright: ignore[reportPrivateUsage]  # the tracing package's helper
    _plural,  # pyright: ignore[reportPrivateUsage]  # the tracing package's helper
)
from .n_plus_one import check_n_plus_one_settings, find_n_plus_one, warn_n_plus_one
from .recording_file import write_recording
from .wait_sites import WaitSites

if TYPE_CHECKING:
    from ..protocols import FlushGroup, Task
    from ..scheduler import TaskScheduler

# A recording is a tracer of the scheduler (the Tracer protocol): it enters
# the scheduler's list of tracers and reads the slots of the tasks it sees.
# pyright: reportPrivateUsage=false

__all__ = ["record", "Recording"]


class Recording:
    """What this thread's scheduler did inside a ``record()`` block.

    Live while the block runs, final after it. ``rounds`` counts the rounds,
    ``flushes`` and ``steps`` list every flush and task step in order,
    ``tasks_finished`` counts the tasks that finished; ``task_time``,
    ``flush_time`` and ``wall_time`` are in seconds. ``capture`` says whether
    it keeps the results of the flushes (``save()`` writes them). Make one
    with ``record()``.
    """

    def __init__(
        self,
        *,
        warn_n_plus_one: bool = True,
        n_plus_one_rounds: int = 3,
        n_plus_one_max_items: int = 1,
        capture: bool = False,
        codec: Any = None,
    ) -> None:
        check_n_plus_one_settings("Recording()", n_plus_one_rounds, n_plus_one_max_items)
        self._codec = _check_capture("Recording()", capture, codec)
        self.capture = capture
        self._captured: list[_capture.CapturedFlush] = []
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
        self._scheduler: TaskScheduler | None = None
        # Time spent in nested steps and flushes, one entry per step or flush
        # in progress (its own time is its duration minus that).
        self._nested_time: list[float] = []
        self._flush_rounds: list[int] = []  # the round of each flush in progress
        # The groups each flush in progress flushed (reported by the scheduler's
        # on_after_batch_flush): more than one when groups flush concurrently.
        self._flushed_groups: list[list[FlushGroup]] = []
        self._after_flush = False  # no task ran since the last flush started
        self._sites = WaitSites()

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
            warn_n_plus_one(self.n_plus_one())

    def _stop(self) -> None:
        if self._stopped is not None:
            return
        self._stopped = time.perf_counter()
        # Set by __enter__, which a block's __exit__ follows.
        self._scheduler.on_after_batch_flush.unsubscribe(self._group_flushed)  # type: ignore[union-attr]
        tracers = self._scheduler._tracers  # type: ignore[union-attr]
        for index, tracer in enumerate(tracers):
            if tracer is self:
                del tracers[index]
                break
        self._sites.forget_waits()

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

    def _step_ended(self, task: Task, start: float, end: float) -> None:
        duration = end - start
        nested = self._nested_time.pop() if self._nested_time else 0.0
        if self._stopped is not None or self._started is None:
            return
        self.task_time += duration - nested
        if self._nested_time:
            self._nested_time[-1] += duration
        self._after_flush = False
        finished = task._computed
        self.steps.append(
            TaskStep(self._sites.name_of(task), start - self._started, duration, finished)
        )
        if finished:
            self.tasks_finished += 1
        else:
            self._sites.note_waits(task)

    def _round_started(self) -> None:
        """The next flush starts a round (the asyncio domain says so: its rounds
        are dispatched, whether or not a task stepped in between)."""
        self._after_flush = False

    def _flush_started(self, group: FlushGroup) -> None:
        self._sites.flush_started()
        if not self._after_flush:
            self.rounds += 1
            self._after_flush = True
        self._flush_rounds.append(self.rounds - 1)
        self._flushed_groups.append([])
        self._nested_time.append(0.0)

    def _group_flushed(self, group: FlushGroup) -> None:
        # Only groups flushed by a flush this recording saw start (the hook
        # also fires in loops that began before the recording).
        if self._flushed_groups:
            self._flushed_groups[-1].append(group)

    def _flush_ended(
        self, group: FlushGroup, start: float, end: float, error: BaseException | None
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
            stacks = self._sites.take_waits(flushed)
            locations: Counter[CodeLocation] = Counter()
            for stack, count in stacks.items():
                locations[stack[-1]] += count
            items, failed, item_error = outcome_of(flushed, sum(locations.values()))
            raised = error if flushed is group else None
            name = batch_name(flushed)
            results = None
            if self.capture:
                try:
                    results = _results_of(flushed)
                except Exception as broken:  # kept for save() to raise: never the scheduler
                    problem = TypeError(
                        f"Recording.save(): captured_results() of {name} (round {round_index}) "
                        f"raised {broken!r}"
                    )
                    captured = _capture.CapturedFlush(round_index, name, items, None, problem)
                else:
                    captured = _capture.capture_flush(
                        name, round_index, items, results, self._codec
                    )
                self._captured.append(captured)
            self.flushes.append(
                Flush(
                    batch=name,
                    batch_class=type(flushed),
                    items=items,
                    failed_items=failed,
                    round=round_index,
                    start=start - self._started,
                    duration=duration,
                    error=raised if raised is not None else item_error,
                    locations=dict(locations),
                    stacks=stacks,
                    results=results,
                )
            )

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
        check_n_plus_one_settings("Recording.n_plus_one()", min_rounds, max_items)
        return find_n_plus_one(self.flushes, self._sites.loop_of, min_rounds, max_items)

    def summary(self) -> str:
        """A short text report: the totals and a table per batch name."""
        return report.summary(self)

    def chrome_trace(self) -> dict[str, Any]:
        """The recording in the Trace Event Format (what ``write_chrome_trace`` writes).

        Task steps are slices named after their function on the "tasks"
        track, rounds are slices on the "rounds" track, and the flushes of each
        batch name are slices on a track of their own; times in microseconds.
        """
        return chrome.trace_events(self)

    def write_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Writes the Trace Event Format JSON that Perfetto and chrome://tracing open."""
        _check_path("Recording.write_chrome_trace()", path)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.chrome_trace(), file)

    def svg(self, width: int = 960) -> str:
        """A self-contained SVG timeline of the rounds, task steps and flushes."""
        # Checked although typed: untyped callers pass anything.
        if isinstance(width, bool) or not isinstance(width, int) or width < 400:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"Recording.svg(): width must be an int >= 400, got {width!r}")
        return svg.render_svg(self, width)

    def write_svg(self, path: str | os.PathLike[str], width: int = 960) -> None:
        """Writes ``svg(width)`` to ``path``: a timeline any browser shows."""
        _check_path("Recording.write_svg()", path)
        svg = self.svg(width)
        with open(path, "w", encoding="utf-8") as file:
            file.write(svg)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the results of the flushes recorded so far to ``path`` (JSON
        Lines, their keys and values through the recording's codec), for
        ``replay(path)``. Needs ``record(capture=True)``; TypeError naming the
        batch and the key of a value the codec cannot encode (nothing is
        written then)."""
        if not self.capture:
            raise ValueError(
                "Recording.save(): this recording kept no results; record with record(capture=True)"
            )
        write_recording(path, self._captured, self._codec, self.rounds)

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
    capture: bool = False,
    codec: Any = None,
) -> Recording:
    """Records what this thread's scheduler does inside a ``with`` block.

    ``with record() as recording: ...`` gives a ``Recording``. When the block
    ends without an error and ``warn_n_plus_one`` is true, every N+1 pattern
    (see ``Recording.n_plus_one``: ``n_plus_one_rounds`` flushes in a row of
    at most ``n_plus_one_max_items`` items) is reported as an
    ``NPlusOneWarning`` naming the yields up the asynq stack and pointing at
    the likely loop among them (see ``NPlusOne``).

    With ``capture=True`` it also keeps what each key of each flush got
    (``Flush.results``), for ``recording.save(path)`` and ``replay(path)``;
    ``codec`` encodes keys and values for the file: None for JSON (values
    JSON gives back exactly), or an object with ``encode``/``decode`` (the
    stores' ``PickleCodec()``, ...) or ``dumps``/``loads`` (``pickle``).
    """
    check_n_plus_one_settings("record()", n_plus_one_rounds, n_plus_one_max_items)
    _check_capture("record()", capture, codec)
    return Recording(
        warn_n_plus_one=warn_n_plus_one,
        n_plus_one_rounds=n_plus_one_rounds,
        n_plus_one_max_items=n_plus_one_max_items,
        capture=capture,
        codec=codec,
    )


# -- helpers ---------------------------------------------------------------------


def _check_capture(owner: str, capture: Any, codec: Any) -> _capture.ReplayCodec:
    if not isinstance(capture, bool):
        raise TypeError(f"{owner}: capture must be True or False, got {capture!r}")
    if codec is not None and not capture:
        raise ValueError(f"{owner}: a codec is used only with capture=True, got {codec!r}")
    return _capture.codec_of(owner, codec)


def _results_of(group: FlushGroup) -> tuple[KeyResult, ...] | None:
    """What each key of a flushed group got (``FlushGroup.captured_results``);
    None for a group that does not say."""
    captured_results = getattr(group, "captured_results", None)
    if captured_results is None:
        return None
    results = captured_results()
    if results is None:
        return None
    return tuple(KeyResult(key, value, error) for key, value, error in results)
