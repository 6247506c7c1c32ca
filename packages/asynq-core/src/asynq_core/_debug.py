"""Debug options shared by the scheduler, the tasks and ``asynq_core.debug``.

This module owns the one ``options`` object of the process, and ``output``,
where the low layers (futures, the scheduler and its traced loop) send what
they print. It imports nothing of the package, so that every module can read
options without importing the debug helpers (which sit above the scheduler).
``asynq_core.debug.options`` is this very object: setting a flag through
either name changes what the library does; ``asynq_core.debug`` plugs its
``write`` and ``dump_error`` into ``output`` when it is imported (the package
imports it), so that its patched ``stdout``/``stderr`` get everything.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import overload

__all__ = ["DebugOptions", "options", "output", "DUMP_FLAGS"]

DUMP_FLAGS = (
    "DUMP_PRE_ERROR_STATE",
    "DUMP_EXCEPTIONS",
    "DUMP_AWAIT_RECURSION",
    "DUMP_SCHEDULE_TASK",
    "DUMP_CONTINUE_TASK",
    "DUMP_SCHEDULE_BATCH",
    "DUMP_FLUSH_BATCH",
    "DUMP_DEPENDENCIES",
    "DUMP_COMPUTED",
    "DUMP_NEW_TASKS",
    "DUMP_YIELD_RESULTS",
    "DUMP_QUEUED_RESULTS",
    "DUMP_CONTEXTS",
    "DUMP_SYNC",
    "DUMP_STACK",
    "DUMP_SCHEDULER_STATE",
    "DUMP_SYNC_CALLS",
)


# The flags the traced loop reads; setting one makes the scheduler choose it.
# The other DUMP_* names are kept for asynq 1.x code (DUMP_ALL sets them too);
# DUMP_CONTEXTS and DUMP_SYNC are read where contexts and sync() are used.
_LOOP_FLAGS = frozenset(
    (
        "DUMP_CONTINUE_TASK",
        "DUMP_DEPENDENCIES",
        "DUMP_COMPUTED",
        "DUMP_EXCEPTIONS",
        "DUMP_FLUSH_BATCH",
        "COLLECT_PERF_STATS",
        "OTEL_SPANS",
    )
)


class DebugOptions:
    """Mutable flags read by the scheduler each time it starts a loop.

    These ``DUMP_*`` flags print to ``asynq_core.debug.stderr``: CONTINUE_TASK
    (each step of a task), DEPENDENCIES (what a task waits on), COMPUTED,
    EXCEPTIONS (a task's error), FLUSH_BATCH, CONTEXTS (entering and leaving
    an AsyncContext) and SYNC (``sync()`` items). ``COLLECT_PERF_STATS``
    records a profile entry per finished task and flushed batch (see
    ``asynq_core.profiler``). Setting one of those the loop reads makes the
    scheduler choose its traced loop; with all off it runs the lean one.
    ``DUMP_ALL`` sets every ``DUMP_*`` flag (``options.DUMP_ALL = True``, or
    asynq 1.x's call ``options.DUMP_ALL(True)``) and reads true when all are
    set (``options.DUMP_ALL()`` in 1.x). The other flags of asynq 1.x
    (the remaining ``DUMP_*``, ``KEEP_DEPENDENCIES``,
    ``SCHEDULER_STATE_DUMP_INTERVAL``) are accepted so that 1.x code runs,
    and change nothing.
    """

    # Annotated, or checkers take the upper-case names for constants.
    DUMP_PRE_ERROR_STATE: bool = False
    DUMP_EXCEPTIONS: bool = False
    DUMP_AWAIT_RECURSION: bool = False
    DUMP_SCHEDULE_TASK: bool = False
    DUMP_CONTINUE_TASK: bool = False
    DUMP_SCHEDULE_BATCH: bool = False
    DUMP_FLUSH_BATCH: bool = False
    DUMP_DEPENDENCIES: bool = False
    DUMP_COMPUTED: bool = False
    DUMP_NEW_TASKS: bool = False
    DUMP_YIELD_RESULTS: bool = False
    DUMP_QUEUED_RESULTS: bool = False
    DUMP_CONTEXTS: bool = False
    DUMP_SYNC: bool = False
    DUMP_STACK: bool = False
    DUMP_SCHEDULER_STATE: bool = False
    DUMP_SYNC_CALLS: bool = False

    COLLECT_PERF_STATS: bool = False
    ENABLE_COMPLEX_ASSERTIONS: bool = True
    KEEP_DEPENDENCIES: bool = False

    SCHEDULER_STATE_DUMP_INTERVAL: int = 1  # seconds
    DEBUG_STR_REPR_MAX_LENGTH: int = 240
    STACK_DUMP_LIMIT: int = 10
    MAX_TASK_STACK_SIZE: int = 1_000_000

    @property
    def DUMP_ALL(self) -> _DumpAll:
        return _DumpAll(self)

    @DUMP_ALL.setter
    def DUMP_ALL(self, value: bool) -> None:
        for name in DUMP_FLAGS:
            setattr(self, name, value)

    # Set by asynq_core.tracing.enable_otel(): every thread's scheduler then
    # runs its traced loop, which makes an OpenTelemetry span per flush.
    OTEL_SPANS: bool = False

    # Kept up to date by __setattr__/__delattr__ so that the scheduler pays
    # one attribute read, not a scan of every flag, each time it starts a loop.
    tracing: bool = False

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name in _LOOP_FLAGS:
            self._update_tracing()

    def __delattr__(self, name: str) -> None:
        # Deleting a flag set on the object restores the class default.
        object.__delattr__(self, name)
        if name in _LOOP_FLAGS:
            self._update_tracing()

    def _update_tracing(self) -> None:
        # Only the flags the loop reads: the others are not watched, so a
        # stale one must not keep the traced loop on (DUMP_ALL = False).
        object.__setattr__(self, "tracing", any(getattr(self, n) for n in _LOOP_FLAGS))


class _DumpAll:
    """What ``options.DUMP_ALL`` reads: true when every ``DUMP_*`` flag is set,
    and callable as asynq 1.x's method, ``options.DUMP_ALL()`` (that truth)
    and ``options.DUMP_ALL(value)`` (sets every flag)."""

    __slots__ = ("_options",)

    def __init__(self, options: DebugOptions) -> None:
        self._options = options

    def __bool__(self) -> bool:
        return all(getattr(self._options, name) for name in DUMP_FLAGS)

    @overload
    def __call__(self, value: None = None) -> bool: ...
    @overload
    def __call__(self, value: bool) -> None: ...
    def __call__(self, value: bool | None = None) -> bool | None:
        if value is None:
            return bool(self)
        self._options.DUMP_ALL = value
        return None

    def __eq__(self, other: object) -> bool:
        return bool(self) == other

    def __hash__(self) -> int:
        return hash(bool(self))

    def __repr__(self) -> str:
        return repr(bool(self))


options = DebugOptions()


class Output:
    """Where the trace output of the low layers goes; see the module docstring.

    Until ``asynq_core.debug`` plugs in its own, lines go to ``sys.stdout``
    and errors to ``sys.stderr``.
    """

    def __init__(self) -> None:
        self.write: Callable[[str, int], None] = _write_to_stdout
        self.dump_error: Callable[[BaseException], None] = _error_to_stderr

    def plug(
        self, write: Callable[[str, int], None], dump_error: Callable[[BaseException], None]
    ) -> None:
        """Sends the output to ``write`` and ``dump_error`` from now on."""
        self.write = write
        self.dump_error = dump_error


def _write_to_stdout(text: str, indent: int = 0) -> None:
    sys.stdout.write("  " * indent + text + "\n")


def _error_to_stderr(error: BaseException) -> None:
    sys.stderr.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))


output = Output()
