"""The traced step: what the scheduler runs instead of its lean step while a
debug option is on or something records in the thread.

The loop picks one or the other once per synchronous call (or asyncio
drive), so nothing here costs a thing when nothing observes. Around every
step of a task, the tracers of the scheduler (recordings of
``asynq_core.tracing``, and anything with the same methods) get
``_step_started()`` and ``_step_ended(task, start, end)``, timed once for all
of them; the ``DUMP_*`` options print what the step did, through
``_debug.output``; ``COLLECT_PERF_STATS`` feeds the profiler. Each event
goes to the tracers active when the step began, so a recording that starts
or stops inside a step sees both ends of it or neither. (Rounds are reported
by ``rounds.Round``, the other half of the instrumentation.)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import _debug, profiler
from .text import short_repr
from .yielded import futures_in

if TYPE_CHECKING:
    from .protocols import Task
    from .scheduler import TaskScheduler

# The scheduler's own step, which this wraps, and the slots of its tasks.
# pyright: reportPrivateUsage=false

__all__ = ["traced_step"]


def traced_step(scheduler: TaskScheduler, task: Task) -> Task | None:
    """``scheduler._step(task)``, observed; returns what it returns."""
    options = _debug.options
    tracers = tuple(scheduler._tracers)
    if options.DUMP_CONTINUE_TASK:
        _debug.output.write(f"asynq: continue {short_repr(task)}", 0)
    for tracer in tracers:
        tracer._step_started()
    start = time.perf_counter()
    next_task = None
    try:
        next_task = scheduler._step(task)
    finally:
        end = time.perf_counter()
        for tracer in tracers:
            tracer._step_ended(task, start, end)
        if options.tracing:
            _after_step(task, (end - start) * 1e6)
    return next_task


def _after_step(task: Task, elapsed_us: float) -> None:
    # Each option is tested before any work for it: with only OTEL_SPANS on,
    # a step costs a few attribute reads here.
    options = _debug.options
    collect = options.COLLECT_PERF_STATS
    output = _debug.output
    if not task._computed:
        dump = options.DUMP_DEPENDENCIES
        if collect or dump:
            waits_on = futures_in(task._yielded)
            if collect:
                profiler.task_stepped(task, elapsed_us, waits_on)
            if dump:
                output.write(f"asynq: {short_repr(task)} waits for {waits_on!r}", 1)
        return
    if collect:
        profiler.task_stepped(task, elapsed_us, [])
    if options.DUMP_COMPUTED:
        output.write(f"asynq: computed {short_repr(task)}", 0)
    if options.DUMP_EXCEPTIONS and task._error is not None:
        output.dump_error(task._error)
