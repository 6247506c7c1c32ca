"""The batch clock of the asyncio domain (``BatchClock``, a base class of
``AsyncioDomain``): when a pending group is due, whether a due group is
taken now or held back one more turn (``set_asyncio_hold_turns`` bounds the
holds), and the loads native code makes from pending groups
(``await_future``), handed their values when their group is flushed or,
late, when DataLoader's next batch would have been.

Invariants:
- A pending group keeps DataLoader's clock: it is *due* two loop turns after
  it opened (a callback that queues itself, from the position of the load
  that opened the group, as DataLoader's dispatch does), when DataLoader
  would take its keys. A due group is taken when the loop is idle (nothing
  but the domain's own callbacks ready: every coroutine waits on a load, a
  timer or I/O), else held back one more turn, at most 100 turns in a row
  (``set_asyncio_hold_turns``), so that coroutines still running (after an
  ``asyncio.sleep(0)``, say) add their keys. A coroutine awaiting real I/O
  does nothing, so it never holds a group back; a round is never earlier
  than DataLoader's dispatch, and with nothing held back a program makes
  exactly DataLoader's flushes.
- A hold makes the coroutines waiting on the held groups fall behind
  DataLoader's timeline. So that the others stay in step with them, a hold
  stops the clock of every pending group, and a group opened ``k`` turns
  into a hold is due ``k`` turns after it, as it would have been. A load
  from a held group is *late*: DataLoader would have put its key in the
  next batch of the loader. Its key joins the held group's fetch all the
  same, but its value is handed over as that next batch's would be: the
  late loads are a pending group of their own (never flushed), which takes
  with it the groups of their loader's queue (``group.queue``) opened before
  it was due. Programs remain where holds make more flushes than
  DataLoader (see tests/batching/test_differential_aiodataloader.py).
- A group opens once: while it is pending or flushing, a new wait on it
  joins it. Forgotten (a deadline ended every wait on it), it stops counting.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any

from .deadline_scopes import drop_unwaited
from .native_calls import Load, Loads, pairs, settle
from .rounds import take_round
from .scheduler import TaskScheduler

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable, Iterator

    from .futures import DeferredFuture
    from .protocols import FlushGroup

__all__ = ["BatchClock", "set_asyncio_hold_turns"]


# How many loop turns in a row due groups may be held back while the loop is
# busy (``set_asyncio_hold_turns``); 0: never, so exactly DataLoader's flushes.
_max_hold_turns = 100


def set_asyncio_hold_turns(turns: int) -> int:
    """Sets how many loop turns in a row the asyncio domain may hold a due
    batch back while coroutines of the loop are still running (100 by
    default), for every loop of the process; returns the previous setting.

    0 takes every batch exactly when aiodataloader's DataLoader would (two
    loop turns after its first key): then a program makes exactly
    DataLoader's flushes. Held back, keys of coroutines still running join
    the batch, which saves flushes on most programs that pause between
    loads, at the price of one more flush on a rare few (see the README)."""
    global _max_hold_turns
    if isinstance(turns, bool) or not isinstance(turns, int):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"set_asyncio_hold_turns: turns must be an int, not {turns!r}")
    if turns < 0:
        raise ValueError(f"set_asyncio_hold_turns: turns must be >= 0, not {turns!r}")
    previous, _max_hold_turns = _max_hold_turns, turns
    return previous


#: DataLoader takes the keys of its queue two loop turns after the first one.
_TURNS_TO_DUE = 2


class BatchClock(TaskScheduler):
    """The clock of an asyncio domain's pending groups and native loads; see
    the module docstring."""

    # The domain's (see ``AsyncioDomain``): the context its callbacks run in,
    # the groups flushing, and the round that flushes the groups taken.
    _context: contextvars.Context
    _flushing_groups: dict[FlushGroup, None]
    _start_round: Callable[[list[FlushGroup]], None]

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop  # the domain's, whose turns the clock counts
        # The loop's queue of ready callbacks, if it shows it (see _loop_is_idle),
        # and how many of them are the domain's own (_hop, _watch, a flush task
        # not started yet, ...).
        ready = getattr(loop, "_ready", None)  # CPython's loops: a deque
        self._loop_ready: collections.deque[object] | None = (
            ready if isinstance(ready, collections.deque) else None  # pyright: ignore[reportUnknownVariableType]
        )
        self._own_ready = 0
        # Everything that happens in the domain counts (see _loop_is_idle).
        self.activity = 0
        self._activity_seen = 0
        # The clock of the pending groups (_pending_groups) and of late loads:
        # the turns each one counting still has to count, those due, and how
        # long they have been held back.
        self._left: dict[FlushGroup | _LateLoads, int] = {}
        self._due: dict[FlushGroup | _LateLoads, None] = {}
        self._held = 0  # turns into the current hold
        self._watch_queued = False
        self._deferrals = 0  # turns in a row due groups were held back
        # Late loads (see _late_load): of each due group, all those not
        # handed their values yet, and those waiting for a group's flush.
        self._late: dict[FlushGroup, _LateLoads] = {}
        self._late_batches: dict[_LateLoads, None] = {}
        self._late_after: dict[FlushGroup, list[_LateLoads]] = {}
        # group -> the loads of native code from it (await_future), until it
        # is flushed: each a deferred future and the asyncio future of its value
        self._loads: dict[FlushGroup, Loads] = {}

    def add_pending_group(self, group: FlushGroup) -> None:
        """Remembers a group some task or call waits on: it opens now (see
        ``_open``), unless it is open or flushing already."""
        if group not in self._pending_groups and group not in self._flushing_groups:
            self._pending_groups[group] = None
            self._open(group)

    def _open(self, group: FlushGroup | _LateLoads) -> None:
        """Starts the clock of a new pending group: a callback that queues
        itself once per turn from the position of the load that opened the
        group, as DataLoader's dispatch does. Opened ``k`` turns into a hold,
        it is due ``k`` turns later still (see ``_consider``)."""
        self._left[group] = _TURNS_TO_DUE + self._held
        self._own_ready += 1
        self._loop.call_soon(self._hop, group, context=self._context)

    def _hop(self, group: FlushGroup | _LateLoads) -> None:
        left = self._left.get(group)
        if left is None:  # taken already (with late loads of its queue) or forgotten
            self._own_ready -= 1
        elif self._due:  # a hold stops the clock
            self._loop.call_soon(self._hop, group, context=self._context)
        elif left > 1:
            self._left[group] = left - 1
            self._loop.call_soon(self._hop, group, context=self._context)
        else:
            del self._left[group]
            self._own_ready -= 1
            self._due[group] = None
            self._consider()

    def _watch(self) -> None:
        """Runs once per turn while due groups are held back."""
        self._own_ready -= 1
        self._watch_queued = False
        self._deferrals += 1
        self._held += 1
        self._consider()

    def _consider(self) -> None:
        """Takes the due groups if the loop is idle (or has been busy for as
        many turns as ``set_asyncio_hold_turns`` allows), else holds them back
        one more turn.

        Held back, they wait for the coroutines still running to add their
        keys. The coroutines that wait on them then fall behind DataLoader's
        timeline: the hold stops the clock of every pending group (``_hop``),
        so that the others fall behind alike and stay in step with them."""
        if self._deferrals < _max_hold_turns and not self._loop_is_idle():
            if not self._watch_queued:
                self._watch_queued = True
                self._own_ready += 1
                self._loop.call_soon(self._watch, context=self._context)
            return
        self._deferrals = self._held = 0
        pending, late_of = self._pending_groups, self._late
        groups: list[FlushGroup] = []
        late_batches: list[_LateLoads] = []
        for group in self._due:
            if isinstance(group, _LateLoads):
                late_batches.append(group)
            else:
                pending.pop(group, None)
                late_of.pop(group, None)
                groups.append(group)
        self._due.clear()
        for late in late_batches:
            groups += self._take_same_queue(late)
        if len(groups) > 1:
            self._start_round(take_round(dict.fromkeys(groups), every_group=True))
        elif groups:  # take_round's round of one group
            self._start_round(groups)
        for late in late_batches:
            self._release(late)

    def _loop_is_idle(self) -> bool:
        """True if nothing but the domain's own callbacks is ready to run: no
        coroutine can load anything before the loop waits for I/O or timers.
        On a loop that does not show its ready queue, true if nothing happened
        in the domain since the last look."""
        ready = self._loop_ready
        if ready is not None:
            return len(ready) <= self._own_ready
        still = self.activity == self._activity_seen
        self._activity_seen = self.activity
        return still

    # -- late loads ----------------------------------------------------------

    def _late_load(
        self, group: FlushGroup, future: DeferredFuture[Any], done: asyncio.Future[Any]
    ) -> None:
        """A load from a group held back: DataLoader would have taken the group
        already and put the key in the next batch of its queue. The key joins
        the group's fetch all the same (if the group is still open), but its
        value is handed over as that next batch's would be, so that the
        coroutine waiting on it keeps its pace relative to the others: the
        group's late loads are a pending group of their own (never flushed)."""
        late = self._late.get(group)
        if late is None:
            late = self._late[group] = _LateLoads(group)
            self._late_batches[late] = None
            self._open(late)
        loads = late.loads
        loads.append(future)
        loads.append(done)

    def _take_same_queue(self, late: _LateLoads) -> list[FlushGroup]:
        """Takes out of the pending groups those DataLoader would have filled
        together with ``late``: of its queue (the loader's next batches), and
        opened before it was due (less than the full count left)."""
        queue = late.queue
        if queue is None:
            return []
        pending, left = self._pending_groups, self._left
        found = [
            group
            for group in pending
            if left.get(group, _TURNS_TO_DUE) < _TURNS_TO_DUE
            and getattr(group, "queue", None) is queue
        ]
        for group in found:
            del pending[group], left[group]
        late.after = found
        return found

    def _release(self, late: _LateLoads) -> None:
        """Hands late loads their values once the group they joined and the
        groups taken with them are flushed; at the earliest next turn, when
        DataLoader's bulk function would have been called."""
        flushing = self._flushing_groups
        after = [group for group in late.after if group in flushing]
        if late.group in flushing:
            after.append(late.group)
        if not after:
            self._own_ready += 1
            self._loop.call_soon(self._settle_late, late, context=self._context)
            return
        late.left = len(after)
        for group in after:
            self._late_after.setdefault(group, []).append(late)

    def _settle_late(self, late: _LateLoads) -> None:
        self._own_ready -= 1
        del self._late_batches[late]
        settle(late.loads)

    # -- handing loads over --------------------------------------------------

    def _hand_over(self, group: FlushGroup) -> None:
        """``group`` is flushed: native code that loaded from it gets its values
        now, and late loads that waited for it once their last group is flushed."""
        loads = self._loads.pop(group, None)
        if loads is not None:
            settle(loads)
        waiting = self._late_after.pop(group, None)
        if waiting is not None:
            for late in waiting:
                late.left -= 1
                if not late.left:
                    del self._late_batches[late]
                    settle(late.loads)

    def _native_loads(self) -> Iterator[Load]:
        """The loads of native code not handed their values yet."""
        for loads in self._loads.values():
            yield from pairs(loads)
        for late in self._late_batches:
            yield from pairs(late.loads)

    def _drop_unwaited(self) -> None:
        """Drops the pending groups nothing waits on any more (see
        ``deadline_scopes.drop_unwaited``): forgotten, they stop counting (the
        next wait opens them again)."""
        pending = self._pending_groups
        drop_unwaited(pending, {id(future) for future, _ in self._native_loads()})
        for clocked in (self._left, self._due):
            for group in [group for group in clocked if group not in pending]:
                if type(group) is not _LateLoads:
                    del clocked[group]


class _LateLoads:
    """The loads of a group made after it was due, handed their values like a
    batch of their own (see ``BatchClock._late_load``): a group of the
    clock, never flushed."""

    __slots__ = ("group", "queue", "loads", "after", "left")

    def __init__(self, group: FlushGroup) -> None:
        self.group = group
        self.queue: object = getattr(group, "queue", None)
        self.loads: Loads = []
        self.after: list[FlushGroup] = []  # the groups of its queue taken with it
        self.left = 0  # of those and ``group``, how many are not flushed yet

    def __repr__(self) -> str:
        return f"<{len(self.loads) // 2} late loads of {self.group!r}>"
