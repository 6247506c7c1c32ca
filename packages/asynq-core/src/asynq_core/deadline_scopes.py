"""Deadline scopes: which tasks a deadline bounds, what fails when it passes,
and how much time a flush is given. The schedulers act on them (the
synchronous one at its rounds, the asyncio domain on a timer); the public
``deadline()`` that opens them is in ``deadlines``.

A scope is one ``with deadline(seconds):``. Its *calls* are the futures
awaited by the calls made inside it: each run (a synchronous call) is
registered at its rounds, an ``.asyncio()`` call when it starts. Its tasks
are those calls' tasks and every task they create, directly or not (a
task's ``creator``): so a task of an outer call that a nested scheduler loop
runs meanwhile is not one of them.

Invariants:
- A scope's ``until`` (``time.monotonic()``) is the earliest of its own and
  its enclosing scope's: nested deadlines, the earliest wins. A task belongs
  to the innermost scope among those whose calls it descends from, so the
  scope found for a task has its earliest ``until``.
- When a scope's time has passed (``expired_waits``), each of its tasks that
  waits on something not bounded by a passed scope (a batch item, a flush
  group, a task of another call, a native coroutine) stops waiting on all it
  waited on, and resumes with ``DeadlineExceededError`` thrown at its yield,
  naming the batch and the round. What it waited on goes on for whoever else
  waits on it; nothing is cancelled.
- A flush's budget is the latest ``until`` among the tasks and calls waiting
  on its group, or None (no limit) as soon as one of them has no deadline, or
  none can be seen: a request shared with a task outside every deadline is
  never cut short for it. ``flush_budget`` carries it to the clients.
"""

from __future__ import annotations

# Deadlines work on the scheduler's and the tasks' slots (asynq 1.x's names),
# as the scheduler does.
# pyright: reportPrivateUsage=false
import contextvars
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from .errors import DeadlineExceededError
from .groups import batch_name, group_of
from .task_states import WAITING
from .yielded import futures_in

__all__ = [
    "NOT_IN_FLUSH",
    "Budget",
    "Members",
    "Scope",
    "budget_of",
    "current_scope",
    "drop_unwaited",
    "expired_waits",
    "flush_budget",
    "run_within",
    "items_of",
    "open_scopes",
]


class Scope:
    """One open deadline; see the module docstring.

    ``rounds`` counts the rounds begun while it is open (for messages);
    ``calls`` holds its calls (futures; under asyncio, with their waiters);
    ``expired`` is set once its time has passed and the schedulers acted.
    The asyncio part: ``task`` (the asyncio task that entered it, if any),
    ``timers`` (per domain armed, the handle of its timer) and ``cancelled``
    (the scope cancelled ``task``, as ``asyncio.timeout`` does).
    """

    __slots__ = (
        "seconds",
        "until",
        "parent",
        "calls",
        "waiters",
        "rounds",
        "expired",
        "exited",
        "task",
        "timers",
        "cancelled",
        "cancel_error",
    )

    until: float

    def __init__(self, seconds: float, parent: Scope | None) -> None:
        self.seconds = seconds
        until = time.monotonic() + seconds if seconds < math.inf else math.inf
        if parent is not None and parent.until < until:
            until = parent.until
        self.until = until
        self.parent = parent
        self.calls: dict[int, Any] = {}
        # id(call) -> (domain, waiter) of each .asyncio() call awaiting it: a
        # call of a future that is not a task (a batch item) fails through them.
        self.waiters: dict[int, list[tuple[Any, Any]]] = {}
        self.rounds = 0
        self.expired = False
        self.exited = False
        self.task: Any = None
        self.timers: dict[Any, Any] = {}
        self.cancelled = False
        self.cancel_error: DeadlineExceededError | None = None

    def add_call(self, call: Any, domain: Any = None, waiter: Any = None) -> None:
        """Registers a call (a run's root; under asyncio, with its domain and waiter)."""
        self.calls[id(call)] = call
        if waiter is not None:
            self.waiters.setdefault(id(call), []).append((domain, waiter))

    def name(self) -> str:
        return f"deadline({self.seconds:g})"

    def __repr__(self) -> str:
        left = self.until - time.monotonic()
        state = "exited" if self.exited else "expired" if left <= 0 else f"{left:.3g} s left"
        return f"<{self.name()} ({state})>"


#: The scope open in the running code (a synchronous ``with``, or a coroutine's).
current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "asynq_deadline", default=None
)


class _NotInFlush:
    def __repr__(self) -> str:
        return "NOT_IN_FLUSH"


NOT_IN_FLUSH: Any = _NotInFlush()


class Budget:
    """The time a flush is given: until ``until`` (``time.monotonic()``), the
    deadline of ``scope``."""

    __slots__ = ("until", "scope")

    def __init__(self, until: float, scope: Scope) -> None:
        self.until = until
        self.scope = scope


#: The budget of the flush running in this context: NOT_IN_FLUSH outside
#: flushes, None for a flush without a limit, else a Budget.
flush_budget: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "asynq_flush_budget", default=NOT_IN_FLUSH
)


def open_scopes() -> list[Scope]:
    """The deadlines open around the running code, outermost first (those a
    context left open after their ``with`` exited are skipped)."""
    scopes: list[Scope] = []
    scope = current_scope.get()
    while scope is not None:
        if not scope.exited:
            scopes.append(scope)
        scope = scope.parent
    scopes.reverse()
    return scopes


def run_within(fetch: Callable[[], Any], budget: Budget | None) -> Any:
    """``fetch()`` with ``budget`` as the flush budget of this thread (a worker's)."""
    token = flush_budget.set(budget)
    try:
        return fetch()
    finally:
        flush_budget.reset(token)


class Members:
    """Which scope each future belongs to, among ``scopes`` (outermost first),
    remembered for one decision (a round, an expiry)."""

    __slots__ = ("_known",)

    def __init__(self, scopes: Iterable[Scope]) -> None:
        known: dict[int, Scope | None] = {}
        for scope in scopes:  # the inner scopes last: a call of both is the inner one's
            for call_id in scope.calls:
                known[call_id] = scope
        self._known = known

    def scope_of(self, future: Any) -> Scope | None:
        """The innermost scope ``future`` belongs to, or None."""
        known = self._known
        found = known.get(id(future), _UNKNOWN)
        if found is not _UNKNOWN:
            return found
        path: list[Any] = []
        node = future
        while True:
            path.append(node)
            node = getattr(node, "creator", None)
            if node is None:
                found = None
                break
            found = known.get(id(node), _UNKNOWN)
            if found is not _UNKNOWN:
                break
        for visited in path:
            known[id(visited)] = found
        return found

    def scope_of_waiter(self, waiter: Any) -> Scope | None:
        """The scope of what waits on a future: a task, or the waiter of an
        ``.asyncio()`` call (its awaited future is the call)."""
        awaited = getattr(waiter, "awaited", None)
        if awaited is not None:
            return self._known.get(id(awaited))
        if getattr(waiter, "creator", _UNKNOWN) is _UNKNOWN:
            return None  # neither a task nor a call: no deadline known
        return self.scope_of(waiter)


_UNKNOWN: Any = object()


def items_of(group: Any) -> list[Any] | None:
    """The futures a flush of ``group`` computes, if it says (``items``, as
    batches do), the group itself included when it is a future; else None."""
    items = getattr(group, "items", None)
    if items is None:
        return None
    try:
        futures = list(items)
    except TypeError:
        return None
    if getattr(group, "_waiters", _UNKNOWN) is not _UNKNOWN:
        futures.append(group)
    return futures


def _waiters_of(future: Any) -> list[Any]:
    waiters: Any = future._waiters
    if waiters is None:
        return []
    if type(waiters) is list:
        return list(waiters)  # pyright: ignore[reportUnknownArgumentType]  # the waiters' list, copied
    return [waiters]


def budget_of(group: Any, members: Members, unbounded: set[int] | None = None) -> Budget | None:
    """The budget of a flush of ``group`` (see the module docstring); ``unbounded``
    holds the ids of futures awaited by code of no known deadline (native loads)."""
    futures = items_of(group)
    if futures is None:
        return None
    latest: Scope | None = None
    for future in futures:
        if future._computed:
            continue
        if unbounded and id(future) in unbounded:
            return None
        for waiter in _waiters_of(future):
            scope = members.scope_of_waiter(waiter)
            if scope is None:
                return None
            if latest is None or scope.until > latest.until:
                latest = scope
    return None if latest is None else Budget(latest.until, latest)


def expired_waits(
    scopes: list[Scope], is_pending: Callable[[Any], bool], now: float, scheduler: Any
) -> list[tuple[Any, BaseException]]:
    """The waits ``scheduler`` must end now that some of ``scopes`` (outermost
    first) have passed: (task, error) for each of its tasks, of a passed
    scope, that waits on something not bounded by a passed scope, and (call,
    error) for each call of one that is not a task (only the asyncio domain
    registers those: their waiters fail). ``is_pending(group)`` tells a group
    not flushed yet from one flushing. Marks the passed scopes expired."""
    passed = [scope for scope in scopes if scope.until <= now]
    if not passed:
        return []
    for scope in passed:
        scope.expired = True
    members = Members(scopes)

    def bounded(future: Any) -> bool:
        scope = members.scope_of(future)
        return scope is not None and scope.until <= now

    ended: list[tuple[Any, BaseException]] = []
    seen: set[int] = set()
    for scope in passed:
        for call in list(scope.calls.values()):
            if call._computed or id(call) in seen:
                continue
            seen.add(id(call))
            if call._state is None:  # a call of a batch item, or of any other future
                if any(domain is scheduler for domain, _ in scope.waiters.get(id(call), ())):
                    ended.append((call, _error(scope, call, None, call, is_pending)))
                continue
            if getattr(call, "_scheduler", None) is not scheduler:
                continue  # a call another scheduler runs (or none yet)
            to_visit = [call]
            while to_visit:
                task = to_visit.pop()
                if task._computed or task._state != WAITING:
                    continue
                outside = None
                for future in futures_in(task._yielded):
                    if future._computed:
                        continue
                    if bounded(future):
                        if future._state is not None and id(future) not in seen:
                            seen.add(id(future))
                            to_visit.append(future)
                    elif outside is None:
                        outside = future
                if outside is not None:
                    own = members.scope_of(task) or scope
                    ended.append((task, _error(own, task, outside, outside, is_pending)))
    return ended


def _error(
    scope: Scope, waiting: Any, future: Any, awaited: Any, is_pending: Callable[[Any], bool]
) -> DeadlineExceededError:
    group = group_of(awaited)
    batch = None
    if group is not None:
        batch = batch_name(group)
        state = "not flushed yet" if is_pending(group) else "flushing"
        what = f"{batch} ({state})"
    elif awaited._state is not None:
        what = f"{awaited!r}, a task of another call"
    else:
        what = repr(awaited)
    who = "the call" if future is None else repr(waiting)
    return DeadlineExceededError(
        f"{scope.name()} passed in round {scope.rounds} while {who} waited on {what}",
        batch=batch,
        round=scope.rounds,
        seconds=scope.seconds,
    )


def drop_unwaited(pending: dict[Any, None], loads: set[int] | None = None) -> None:
    """Forgets the pending groups that nothing waits on any more (their tasks
    stopped waiting when a deadline passed): they stay open, and the next
    wait on one of them makes it pending again. Groups that do not say what
    they compute (no ``items``) are kept."""
    for group in list(pending):
        futures = items_of(group)
        if futures is None:
            continue
        if all(
            future._computed
            or (
                future._waiters is None
                and future._on_computed is None
                and not (loads and id(future) in loads)
            )
            for future in futures
        ):
            del pending[group]
