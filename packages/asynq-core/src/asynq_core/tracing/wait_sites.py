"""Where the tasks a recording sees wait: ``WaitSites`` notes, for each task
step that ends waiting on batch items, the yield sites up the asynq stack
that led there, hands them out per flush group when the group flushes, and
names the likely loop of a stack for the N+1 detector. It also names tasks
(their function), which the recording's task steps share.

Invariants:
- A wait is noted only on a future of a flush group; a task waited on is
  not noted, its own waits are when it stops.
- A stack lists at most ``_MAX_STACK`` yield sites, the innermost ones
  (where the loops that make N+1 rounds are), outermost first; a level is a
  task waiting on the one below it, or the running task that called it
  synchronously.
- The stacks above the tasks of one wave are shared by its siblings and
  kept until the next flush starts (``flush_started``), which may make
  their tasks go on; a task that went on since is walked again.
- A stack remembers the iteration index of each of its tasks when first
  seen, and which levels went on since: those are loops, the others
  wrappers made anew each time (``loop_of``). That survives the recording's
  end (``forget_waits``), which drops only what is pending.
- Names are cached per function (an unhashable one is named every time);
  code locations per code object and line, the value keeping the code alive.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from ..futures import DeferredFuture
from ..groups import group_of
from ..task_states import RUNNING
from ..text import name_of
from ..yielded import futures_in
from .events import CodeLocation, YieldStack

if TYPE_CHECKING:
    from ..protocols import FlushGroup, Task, Waiter

# Wait sites are read from the slots of the tasks a recording sees.
# pyright: reportPrivateUsage=false

__all__ = ["WaitSites"]


# How many yield sites up the asynq stack a wait names: the innermost ones,
# where the loops that make N+1 rounds are.
_MAX_STACK = 12


class WaitSites:
    """The wait sites of one recording: the stacks of yields that waited on
    each flush group not flushed yet, and what names them."""

    def __init__(self) -> None:
        # id(group) -> (group, yield stack -> items waited on through it)
        self._waits: dict[int, tuple[FlushGroup, Counter[YieldStack]]] = {}
        self._names: dict[Any, str] = {}
        self._locations: dict[tuple[int, int], tuple[Any, CodeLocation]] = {}
        # yield stack -> (the iteration_index of each of its tasks when first
        # seen, the levels whose task has gone on since): tells loops, whose
        # task goes on, from the wrappers they call, new tasks each time.
        self._progress: dict[YieldStack, tuple[tuple[int, ...], set[int]]] = {}
        # id(task) -> (task, its iteration_index, its stack, their indexes) for
        # the tasks waited on by the tasks that wait on batches: the siblings of
        # a wave share them. Emptied at each flush, which may make them go on.
        self._above: dict[int, tuple[Task, int, YieldStack, tuple[int, ...]]] = {}

    def note_waits(self, task: Task) -> None:
        """Notes the stack of ``task``, which stopped, against each flush group
        whose items it waits on."""
        stack = None
        yielded = task._yielded
        # One batch item is the common case; anything else takes the general route.
        futures = (yielded,) if isinstance(yielded, DeferredFuture) else futures_in(yielded)
        for future in futures:
            if future._state is not None:
                continue  # a task: its own waits are noted when it stops
            group = group_of(future)
            if group is None:
                continue
            if stack is None:
                stack = self._stack_of(task)
            waited = self._waits.get(id(group))
            if waited is None:
                waited = self._waits[id(group)] = (group, Counter())
            waited[1][stack] += 1

    def take_waits(self, group: FlushGroup) -> dict[YieldStack, int]:
        """The stacks that waited on ``group`` and how many of its items each
        waited on; forgets them (the group flushed)."""
        waited = self._waits.pop(id(group), None)
        return dict(waited[1]) if waited is not None else {}

    def flush_started(self) -> None:
        """A flush may make the tasks above the waits go on: walk them anew."""
        self._above.clear()

    def forget_waits(self) -> None:
        """Drops what is pending (the recording stopped); what names stacks stays."""
        self._waits.clear()
        self._above.clear()

    def loop_of(self, stack: YieldStack) -> CodeLocation:
        """The site of ``stack`` most likely to be a loop (see ``NPlusOne``)."""
        progress = self._progress.get(stack)
        moved = progress[1] if progress is not None else ()
        return stack[max(moved)] if moved else stack[-1]

    def name_of(self, task: Task) -> str:
        """The name of ``task``'s function (``text.name_of``), cached per function."""
        fn = getattr(task, "fn", None)
        try:
            name = self._names.get(fn)
        except TypeError:  # an unhashable callable: named every time
            return name_of(task)
        if name is None:
            name = name_of(task)
            if fn is not None:
                self._names[fn] = name
        return name

    def _stack_of(self, task: Task) -> YieldStack:
        """The yield sites from the outermost task waiting (through tasks) on
        ``task`` down to ``task``'s own, at most ``_MAX_STACK`` of them; notes
        which of their tasks went on since this stack was first seen."""
        chain = [task]
        stack: YieldStack = ()
        indexes: tuple[int, ...] = ()
        above = self._above
        while len(chain) < _MAX_STACK:
            waiter = _waiter_of(chain[-1])
            if waiter is None:
                break
            known = above.get(id(waiter))
            if known is not None and known[0] is waiter and known[1] == waiter.iteration_index:
                stack, indexes = known[2], known[3]
                break
            chain.append(waiter)
        for level in range(len(chain) - 1, -1, -1):
            each = chain[level]
            stack += (self._location_of(each),)
            indexes += (each.iteration_index,)
            if len(stack) > _MAX_STACK:  # on top of a known stack
                stack, indexes = stack[1:], indexes[1:]
            if level:
                above[id(each)] = (each, each.iteration_index, stack, indexes)
        progress = self._progress.get(stack)
        if progress is None:
            self._progress[stack] = (indexes, set())
        elif indexes != progress[0]:
            first, moved = progress
            moved.update(level for level, index in enumerate(indexes) if index != first[level])
        return stack

    def _location_of(self, task: Task) -> CodeLocation:
        generator = getattr(task, "_generator", None)
        frame = getattr(generator, "gi_frame", None)
        # Follow ``yield from`` down to the generator that really yielded.
        inner = getattr(generator, "gi_yieldfrom", None)
        inner_frame = getattr(inner, "gi_frame", None)
        while inner_frame is not None:
            frame = inner_frame
            inner = getattr(inner, "gi_yieldfrom", None)
            inner_frame = getattr(inner, "gi_frame", None)
        if frame is None:
            code = getattr(getattr(task, "fn", None), "__code__", None)
            if code is None:
                return CodeLocation("<unknown>", 0, self.name_of(task))
            lineno = code.co_firstlineno
        else:
            code = frame.f_code
            lineno = frame.f_lineno
        # Keyed by id: hashing a code object hashes its whole content. The
        # value keeps the code alive, so the id is not reused meanwhile.
        known = self._locations.get((id(code), lineno))
        if known is not None:
            return known[1]
        function = getattr(code, "co_qualname", code.co_name)
        location = CodeLocation(code.co_filename, lineno, function)
        self._locations[(id(code), lineno)] = (code, location)
        return location


def _waiter_of(task: Task) -> Task | None:
    """The task waiting on ``task`` (the first, if several), or the running task
    that called it synchronously; None for a root."""
    waiter: Waiter | list[Waiter] | None = task._waiters
    if waiter is None:
        creator = getattr(task, "creator", None)
        return creator if creator is not None and creator._state == RUNNING else None
    if type(waiter) is list:
        waiter = waiter[0]
    # A waiter with a _state is a task.
    return waiter if getattr(waiter, "_state", None) is not None else None  # type: ignore[return-value]
