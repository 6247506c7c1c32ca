"""The exceptions of asynq-core, in one leaf module every other one may import.

``AsynqMisuseError`` is what asynq 1.x reported with a failed ``assert``
(``result(future)``, ``@asynq()`` applied twice, ...): a TypeError, and an
AssertionError too, so that code and tests written against 1.x still catch
it. ``AsyncTaskResult`` and ``AsyncTaskCancelledError`` are GeneratorExits
because they are raised into or out of task generators.
``DeadlineExceededError`` is a TimeoutError, so that ``except TimeoutError``
catches a passed deadline as it catches a client's timeout.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AsyncTaskError",
    "AsyncTaskCancelledError",
    "AsyncTaskResult",
    "AsynqMisuseError",
    "DeadlineExceededError",
    "FutureIsAlreadyComputed",
]


class AsyncTaskError(Exception):
    """Misuse of tasks detected by the scheduler (e.g. tasks waiting on each other)."""


class AsyncTaskCancelledError(GeneratorExit):
    """Raised into (or out of) a task to cancel it; the task fails with it."""


class AsyncTaskResult(GeneratorExit):
    """Raised by ``result(value)`` inside a task; carries the task's value."""

    def __init__(self, result: Any) -> None:
        super().__init__(result)
        self.result = result


class AsynqMisuseError(TypeError, AssertionError):
    """A call that cannot be right, such as ``result()`` of a future or ``@asynq()``
    applied twice (an AssertionError in asynq 1.x, hence both bases)."""


class FutureIsAlreadyComputed(Exception):
    """``set_value``/``set_error`` was called on a future that already has one."""


class DeadlineExceededError(TimeoutError):
    """A deadline (``asynq_core.deadline``) passed while a task waited on a batch.

    ``batch`` names the batch (None if the task waited on something else: a
    task of another call, a native coroutine), ``round`` is the round of the
    deadline in which it passed (1 for its first round; 0 before any), and
    ``seconds`` the deadline's length.
    """

    def __init__(self, message: str, *, batch: str | None, round: int, seconds: float) -> None:
        super().__init__(message)
        self.batch = batch
        self.round = round
        self.seconds = seconds

    def __reduce__(self) -> Any:
        return (_rebuild_deadline_error, (self.args[0], self.batch, self.round, self.seconds))


def _rebuild_deadline_error(
    message: str, batch: str | None, round: int, seconds: float
) -> DeadlineExceededError:
    return DeadlineExceededError(message, batch=batch, round=round, seconds=seconds)
