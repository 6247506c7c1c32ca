"""The states of a task, shared by the scheduler that moves tasks between them
and the tasks themselves.

A task is in exactly one state: NEW (created, not scheduled), QUEUED (on a
ready stack; stale duplicate entries are skipped when popped), RUNNING,
WAITING (registered as a waiter on its ``_pending`` uncomputed futures) or
DONE. A future that is not a task has the state None (a class attribute of
FutureBase), so that "is this a task not yet started" is one attribute read.
"""

from __future__ import annotations

__all__ = ["NEW", "QUEUED", "RUNNING", "WAITING", "DONE"]

NEW, QUEUED, RUNNING, WAITING, DONE = range(5)
