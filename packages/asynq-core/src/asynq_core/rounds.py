"""Rounds: what a scheduler does when no task can go on and groups are pending.

This module owns the one implementation of a round, used by the synchronous
scheduler and by the asyncio domain alike: which pending groups flush
together, and what surrounds their flush (the ``on_before_batch_flush`` and
``on_after_batch_flush`` hooks, ``DUMP_FLUSH_BATCH`` output, the events of
``tracing`` recordings, OpenTelemetry spans and profiler entries). How the
groups' I/O is carried out differs (in this thread or worker threads for
the synchronous scheduler, on the event loop under asyncio), so a ``Round``
is told when its flushes start and end and does the rest.

Invariants:
- Every group of a round is flushed, whatever fails: a hook or a group that
  raises is recorded as the round's error (the first one), which ``end()``
  raises after every after-hook ran; so no waiter is stranded by a broken hook.
- The round's groups, synchronously: the pending group of highest priority,
  and with it every pending group that opted in to flush concurrently
  (``concurrent``); the others wait for the next round, so that the tasks
  this one wakes can still add to them (asynq 1.x's order). Under asyncio:
  the groups due together (see ``batch_clock``), highest priority first,
  their I/O overlapping, as DataLoader's loaders each dispatch on their own.
- Recordings see one flush event per round, named after its first group (the
  others are reported through the after-hook); a round whose flushes
  overlap other work (asyncio) is reported when it ends, with its real times,
  so that events of concurrent rounds never interleave in a recording.
- A replay (a tracer with ``_serve_round``) is handed the round's groups after
  the before-hooks, before anything flushes them; a group it serves is flushed
  already, so the flush the scheduler or the domain then asks of it does
  nothing. Untraced rounds never look for one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import _debug, profiler, spans
from .text import short_repr

if TYPE_CHECKING:
    from .protocols import FlushGroup
    from .scheduler import TaskScheduler

# A round reads its scheduler's tracers and hooks and calls the tracers'
# events (the Tracer protocol), by design.
# pyright: reportPrivateUsage=false

__all__ = ["Round", "take_round"]


def take_round(pending: dict[FlushGroup, None], every_group: bool) -> list[FlushGroup]:
    """Takes out of ``pending`` (an insertion-ordered set) and returns the groups
    of the next round, highest priority first; see the module docstring.
    Priorities are compared only when more than one group is pending."""
    if len(pending) == 1 or every_group:
        groups = list(pending)
        pending.clear()
        if len(groups) > 1:
            groups.sort(key=_priority_of, reverse=True)
        return groups
    first = max(pending, key=_priority_of)
    groups = [first]
    if getattr(first, "concurrent", False):
        groups += [
            group
            for group in pending
            if getattr(group, "concurrent", False) and group not in groups
        ]
    for group in groups:
        del pending[group]
    return groups


def _priority_of(group: FlushGroup) -> Any:
    return group.get_priority()


class Round:
    """One round of flushes by ``scheduler`` (see the module docstring).

    Made before any group flushes (it calls the before-hooks), then
    ``flush(group)`` for a group flushed on the spot, ``note_error(error)``
    for an error of the I/O carried out elsewhere, ``end()`` once every group
    is flushed (it raises the round's first error). With
    ``deferred_report``, recordings hear of the round at its end. Untraced,
    a round costs its hooks and little else (no clock is read). A ``direct``
    round flushes a group outside the scheduler's loop (``flush_now``): it is
    a round of its own for recordings, and calls no flush hooks (asynq 1.x
    calls none there).
    """

    __slots__ = (
        "scheduler",
        "groups",
        "error",
        "_traced",
        "_start",
        "_tracers",
        "_span",
        "_deferred",
        "_direct",
    )

    def __init__(
        self,
        scheduler: TaskScheduler,
        groups: list[FlushGroup],
        deferred_report: bool = False,
        direct: bool = False,
    ) -> None:
        self.scheduler = scheduler
        self.groups = groups
        self.error: BaseException | None = None
        self._deferred = deferred_report
        self._traced = _debug.options.tracing or bool(scheduler._tracers)
        if self._traced:
            self._begin_traced(direct)
            return
        # _begin_traced repeats this loop, then lets a replay serve the groups.
        before = scheduler.on_before_batch_flush
        for group in groups:
            try:
                before(group)
            except BaseException as error:
                self.note_error(error)

    def _begin_traced(self, direct: bool) -> None:
        scheduler = self.scheduler
        options = _debug.options
        first = self.groups[0]
        if options.DUMP_FLUSH_BATCH:
            _debug.output.write(f"asynq: flush {short_repr(first)}", 0)
        self._tracers = tuple(scheduler._tracers)
        self._direct = direct
        if not self._deferred:
            for tracer in self._tracers:
                if direct:
                    tracer._round_started()
                tracer._flush_started(first)
        self._span = None
        if options.OTEL_SPANS:
            # Current during a flush made here (store clients' spans nest
            # in it); under asyncio only opened and closed.
            self._span = spans.start_flush_span(first, make_current=not self._deferred)
        self._start = time.perf_counter()
        if not direct:
            before = scheduler.on_before_batch_flush
            for group in self.groups:
                try:
                    before(group)
                except BaseException as error:
                    self.note_error(error)
        for tracer in reversed(self._tracers):
            serve_round = getattr(tracer, "_serve_round", None)
            if serve_round is not None:
                try:
                    serve_round(self.groups, self._deferred)
                except BaseException as error:
                    self.note_error(error)
                break

    def flush(self, group: FlushGroup) -> None:
        """Flushes ``group`` here and now; its error is the round's."""
        try:
            group.flush()
        except BaseException as error:
            self.note_error(error)

    def note_error(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def end(self) -> None:
        """Calls the after-hooks and reports the round; raises its first error."""
        if self._traced:
            self._end_traced()
        else:
            after = self.scheduler.on_after_batch_flush
            for group in self.groups:
                try:
                    after(group)
                except BaseException as error:
                    self.note_error(error)
        if self.error is not None:
            raise self.error

    def _end_traced(self) -> None:
        end = time.perf_counter()
        after = self.scheduler.on_after_batch_flush
        tracers = self._tracers
        first = self.groups[0]
        if self._deferred:
            # Each dispatched round is a round, though no task may have stepped
            # since the last one (the loads of native coroutines).
            for tracer in tracers:
                tracer._round_started()
                tracer._flush_started(first)
        if not self._direct:
            for group in self.groups:
                try:
                    after(group)
                except BaseException as error:
                    self.note_error(error)
        for tracer in tracers:
            tracer._flush_ended(first, self._start, end, self.error)
        if self._span is not None:
            spans.end_flush_span(self._span, first, self.error)
        if _debug.options.COLLECT_PERF_STATS:
            profiler.group_flushed(first, (end - self._start) * 1e6)
