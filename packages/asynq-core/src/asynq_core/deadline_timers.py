"""The deadlines armed on an asyncio domain's loop (``DeadlineTimers``, a
base class of ``AsyncioDomain``): a timer on the loop per deadline scope
(``deadline_scopes``) its coroutine or its ``.asyncio()`` calls entered
here, and what its passing ends.

Invariants:
- A scope is *armed* on the domain (a timer on the loop at its time) once
  its coroutine entered it or one of its ``.asyncio()`` calls started
  here. When it passes, its tasks waiting on batches resume with
  DeadlineExceededError, as the synchronous scheduler's do (see
  ``deadline_scopes``); what only they waited on (native calls, tasks) is
  cancelled, batches never. If none of its calls was still going, its
  coroutine was awaiting something else (native loads, native I/O): the
  coroutine is cancelled, as ``asyncio.timeout`` does, and the scope's exit
  turns the cancellation into DeadlineExceededError. While scopes are armed,
  each round gives its flushes their budgets. Nothing of it runs while none is.
- A scope is armed once per domain and disarmed when it exits: its timer is
  cancelled and it bounds nothing more here.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .batch_clock import BatchClock
from .deadline_scopes import Members, Scope, expired_waits
from .errors import DeadlineExceededError
from .groups import batch_name, group_of
from .scheduler import interrupt_task
from .yielded import futures_in

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from .futures import FutureBase
    from .native_calls import CallWaiter

# The timers end the waits of the domain's tasks through their slots (the
# Task protocol's, asynq 1.x's names), as the scheduler does.
# pyright: reportPrivateUsage=false

__all__ = ["DeadlineTimers"]


class DeadlineTimers(BatchClock):
    """The deadline timers of an asyncio domain; see the module docstring."""

    # The domain's (see ``AsyncioDomain``): cancels a future, and below it what
    # only it waited on, once nothing waits on it.
    _cancel_unwaited: Callable[[FutureBase[Any], str], None]

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._deadline_scopes: list[Scope] = []  # armed on this loop

    def bound_call(self, scope: Scope, awaited: Any, waiter: CallWaiter) -> None:
        """An ``.asyncio()`` call started inside ``scope`` (the innermost open
        one around it bounds it: the earliest, nested in the others)."""
        while scope.exited:  # a task started in the scope outlived its block
            if scope.parent is None:
                return
            scope = scope.parent
        scope.add_call(awaited, self, waiter)
        self.arm(scope)

    def arm(self, scope: Scope) -> None:
        """Sets the timer of ``scope`` on this loop (once)."""
        if self in scope.timers:
            return
        handle = None
        if scope.until != math.inf:
            when = self._loop.time() + (scope.until - time.monotonic())
            handle = self._loop.call_at(when, self._deadline_passed, scope, context=self._context)
        scope.timers[self] = handle
        self._deadline_scopes.append(scope)

    def disarm(self, scope: Scope) -> None:
        """``scope`` exited: its timer is cancelled and it bounds nothing here."""
        handle = scope.timers.pop(self, None)
        if handle is not None:
            handle.cancel()
        scopes = self._deadline_scopes
        for index in range(len(scopes) - 1, -1, -1):
            if scopes[index] is scope:
                del scopes[index]
                break

    def _deadline_passed(self, scope: Scope) -> None:
        """The timer of ``scope`` (a loop callback); see the module docstring."""
        going = any(not call._computed for call in scope.calls.values())
        self._end_passed_deadlines(time.monotonic())
        task = scope.task
        if going or scope.exited or task is None or task.done():
            return
        awaited = [(future, done) for future, done in self._native_loads() if not done.done()]
        scope.cancelled = True
        task.cancel()
        # What the coroutine awaited: the loads its cancellation cancelled.
        stopped = [future for future, done in awaited if done.cancelled()]
        batch = what = None
        for future in stopped:
            group = group_of(future)
            if group is not None:
                batch = batch_name(group)
                state = "not flushed yet" if group in self._pending_groups else "flushing"
                what = f"{batch} ({state})"
                break
        scope.cancel_error = DeadlineExceededError(
            f"{scope.name()} passed in round {scope.rounds} while its coroutine awaited "
            f"{what or 'native code'}",
            batch=batch,
            round=scope.rounds,
            seconds=scope.seconds,
        )

    def _end_passed_deadlines(self, now: float) -> None:
        """The waits of the armed deadlines that have passed end (see
        ``deadline_scopes``): their tasks resume with the error, their calls
        of other futures fail, and what only they waited on is cancelled."""
        scopes = self._deadline_scopes
        if all(scope.until > now for scope in scopes):
            return
        pending = self._pending_groups
        ended = expired_waits(scopes, pending.__contains__, now, self)
        for waiting, error in ended:
            if waiting._state is None:
                self._fail_calls_of(waiting, error)
                continue
            below = futures_in(waiting._yielded)
            interrupt_task(waiting, error)
            for future in below:
                self._cancel_unwaited(future, f"{error}")
        if ended:
            self._drop_unwaited()

    def _fail_calls_of(self, awaited: Any, error: BaseException) -> None:
        """The ``.asyncio()`` calls in this domain of ``awaited`` (not a task: a
        batch item, a native call) fail with ``error``."""
        for scope in self._deadline_scopes:
            for domain, waiter in scope.waiters.get(id(awaited), ()):
                if domain is self and not waiter.future.done():
                    awaited._remove_waiter(waiter)
                    waiter.future.set_exception(error)

    def _round_starts(self) -> tuple[Members, set[int]]:
        """A round starts while scopes are armed: it counts in their rounds and
        the waits of those passed end. Returns what its flushes' budgets are
        made of: the members of the scopes, and native code's loads (by id)."""
        for scope in self._deadline_scopes:
            scope.rounds += 1
        self._end_passed_deadlines(time.monotonic())
        return Members(self._deadline_scopes), {id(future) for future, _ in self._native_loads()}
