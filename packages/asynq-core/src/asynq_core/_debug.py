"""Debug options shared by the scheduler, the tasks and ``asynq_core.debug``.

This module owns the one ``options`` object of the process. It has no other
job, so that the scheduler can read options without importing the debug
helpers (which import the scheduler). ``asynq_core.debug.options`` is this
very object: setting a flag through either name changes what the library does.
"""

from __future__ import annotations

__all__ = ["DebugOptions", "options", "DUMP_FLAGS"]

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


class DebugOptions:
    """Mutable flags read by the scheduler each time it starts a loop.

    ``DUMP_*`` flags print what the scheduler does; setting ``DUMP_ALL`` sets
    them all. ``COLLECT_PERF_STATS`` records a profile entry per finished task
    and flushed batch (see ``asynq_core.profiler``). Any of them makes the
    scheduler choose its traced loop; with all off it runs the lean one.
    """

    DUMP_PRE_ERROR_STATE = False
    DUMP_EXCEPTIONS = False
    DUMP_AWAIT_RECURSION = False
    DUMP_SCHEDULE_TASK = False
    DUMP_CONTINUE_TASK = False
    DUMP_SCHEDULE_BATCH = False
    DUMP_FLUSH_BATCH = False
    DUMP_DEPENDENCIES = False
    DUMP_COMPUTED = False
    DUMP_NEW_TASKS = False
    DUMP_YIELD_RESULTS = False
    DUMP_QUEUED_RESULTS = False
    DUMP_CONTEXTS = False
    DUMP_SYNC = False
    DUMP_STACK = False
    DUMP_SCHEDULER_STATE = False
    DUMP_SYNC_CALLS = False

    COLLECT_PERF_STATS = False
    ENABLE_COMPLEX_ASSERTIONS = True
    KEEP_DEPENDENCIES = False

    SCHEDULER_STATE_DUMP_INTERVAL = 1  # seconds
    DEBUG_STR_REPR_MAX_LENGTH = 240
    STACK_DUMP_LIMIT = 10
    MAX_TASK_STACK_SIZE = 1_000_000

    @property
    def DUMP_ALL(self) -> bool:
        return all(getattr(self, name) for name in DUMP_FLAGS)

    @DUMP_ALL.setter
    def DUMP_ALL(self, value: bool) -> None:
        for name in DUMP_FLAGS:
            setattr(self, name, value)

    # Kept up to date by __setattr__ so that the scheduler pays one attribute
    # read, not a scan of every flag, each time it starts a loop.
    tracing = False

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name == "COLLECT_PERF_STATS" or name in DUMP_FLAGS:
            object.__setattr__(
                self,
                "tracing",
                bool(self.COLLECT_PERF_STATS) or any(getattr(self, n) for n in DUMP_FLAGS),
            )


options = DebugOptions()
