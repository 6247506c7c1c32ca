"""The protocols of the scheduler's collaborators: what it needs of a task, of
a waiter, of a task context, of a flush group and of a tracer, and what
futures need of the scheduler. Typing only: the scheduler calls these methods
(double dispatch) and never tests classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Generator

    import qcore

    from .scheduler import TaskScheduler
    from .yielded import WaitedOn

__all__ = ["FlushGroup", "GroupRegistry", "Task", "TaskContext", "Tracer", "Waiter"]


class FlushGroup(Protocol):
    """What the scheduler needs of a group of deferred futures (e.g. a batch).

    Optional, for flushes that wait on I/O: a group may also have
    - ``begin_flush()``, called on the scheduler's thread: marks the group as
      flushing and returns ``fetch`` (or None if there is nothing to do).
      ``fetch()`` does the I/O, may run in any thread, touches no scheduler
      state and does not raise; it returns ``deliver``, which the scheduler
      calls on its own thread to set the group's futures.
    - ``concurrent = True``: groups pending at the same time that all say so
      are flushed in one round, their fetches running together in threads.
    - ``async flush_async()``: used under asyncio instead of a fetch in the
      loop's executor (e.g. for an asyncio client).
    - ``queue``: the same object on the successive groups of one source (the
      batches of one loader), which the asyncio domain may then take
      together as DataLoader would fill one queue (see ``batch_clock``).
    - ``cancel(error)``: fails every future of the group with ``error``;
      called on the pending groups of a run abandoned because an error
      escaped its outermost synchronous call (a group without it is dropped).
    - ``release()``: called by the asyncio domain once the round that flushed
      the group is over (its hooks and recordings ran): the group may let go
      of its futures (a loader's batch does, so that it and its items, which
      refer to each other, are freed as soon as nothing else holds them
      rather than by the garbage collector).
    A group that is also a future (e.g. a BatchBase) must be computed once its
    flush is complete (a group the asyncio domain finds still uncomputed after
    its round is failed with its ``cancel``).

    Optional, for record and replay (``tracing.record(capture=True)``,
    ``tracing.replay``), for a group whose futures each ask for a key:
    - ``captured_results()``, called after its flush: what it fetched, a list
      of ``(key, value, error)``, one per key: the error its fetch of that key
      raised, else None and its value (``groups.NOT_FOUND`` for a key its
      store does not hold); None if its futures have no keys (nothing is
      recorded then).
    - ``serve_recorded(result_of)``, called instead of a flush: computes every
      future of the group from ``result_of(key)``, the ``(value, error)``
      recorded for that key (the error is a ``tracing.NotRecordedError`` for a
      key the recording lacks), and returns True; after it the group counts as
      flushed (``flush()`` and ``flush_async()`` do nothing, ``begin_flush()``
      returns None). It returns False, touching nothing, if its futures have no
      keys: the group is then flushed as usual.
    """

    def get_priority(self) -> Any:
        """Comparable; of the pending groups, the highest is flushed first."""

    def flush(self) -> None:
        """Computes every future of the group; a no-op once flushed."""


class GroupRegistry(Protocol):
    """What a future needs of the scheduler that waits on it: a deferred future
    hands it the group whose flush computes it (``_schedule_computation``).

    Optional: ``run_native(call)``, which the asyncio domain has: a native
    call (``native_calls.NativeCall``) hands it its coroutine to run on the
    loop; under a scheduler without it, the call fails."""

    def add_pending_group(self, group: FlushGroup) -> None:
        """Remembers a group some task waits on; it is flushed in a later round."""


class Waiter(Protocol):
    """What a future calls on what waits on it (a task, or a call awaiting it
    under asyncio) once it is computed: once per registration."""

    def _dependency_done(self) -> None:
        """One of the futures it waits on is computed."""

    @property
    def _scheduler(self) -> object:
        """The scheduler that runs it if it is a task (read when a task it
        waits on finishes, to wake it without a call), else None."""


class TaskContext(Protocol):
    """What the scheduler needs of a task context (the seam asynq-contexts plugs
    into; ``lowlevel.enter_context``): an error of either method is thrown
    into the task (or raised to its synchronous caller)."""

    def pause(self) -> None:
        """The task stops running (it waits, or it is done)."""

    def resume(self) -> None:
        """The task runs again."""


class Task(Protocol):
    """What the scheduler needs of a task (an ``AsyncTask``): its slots, which
    the scheduler reads and writes between steps, and the methods it calls;
    and ``creator``, the task that was running when it was created (None for
    a root), which requests and recordings follow up.

    A task is a future (the first five slots and ``_notify`` are
    ``FutureBase``'s) and a ``Waiter`` of the futures it yields. ``_state`` is
    one of ``task_states`` (typed as FutureBase types it: None there means
    "not a task"); ``_generator`` is None once the task is done; ``_yielded``
    is what it waits on; ``_pending`` counts those futures not yet computed.
    """

    _computed: bool
    _value: Any
    _error: BaseException | None
    _waiters: Any
    _on_computed: qcore.EventHook | None
    _state: int | None
    _generator: Generator[Any, Any, Any] | None
    _yielded: WaitedOn
    _pending: int
    _contexts: dict[int, TaskContext] | None
    _depth: int
    _scheduler: TaskScheduler
    iteration_index: int
    creator: Task | None

    def _notify(self) -> None:
        """Wakes its waiters and subscribers (it is computed)."""

    def _dependency_done(self) -> None:
        """One of the futures it waits on is computed."""

    def _schedule_computation(self, scheduler: GroupRegistry) -> None:
        """Queues it on ``scheduler`` if it is new (or fails it: too deep)."""

    def _finish(self, value: Any, error: BaseException | None) -> None:
        """Ends it with ``value`` or ``error`` (a cancellation)."""


class Tracer(Protocol):
    """What observes a scheduler (a ``tracing`` recording; see
    ``lowlevel.add_tracer``). Every event is given to the tracers active when
    it began; times are ``time.perf_counter()`` seconds.

    Optional: ``_serve_round(groups, dispatched)``, called once per round after
    its before-hooks and before any of its ``groups`` flushes, may compute them
    itself (a ``tracing.replay``: see ``FlushGroup.serve_recorded``);
    ``dispatched`` is true for a round the asyncio domain dispatched. Of the
    active tracers that have it, only the latest registered is called."""

    def _step_started(self) -> None:
        """A task step begins (steps and flushes may nest: a synchronous call)."""

    def _step_ended(self, task: Task, start: float, end: float) -> None:
        """The step of ``task`` that began at ``start`` ended."""

    def _round_started(self) -> None:
        """The next flush starts a round (said by the asyncio domain, whose
        rounds are dispatched whether or not a task stepped in between)."""

    def _flush_started(self, group: FlushGroup) -> None:
        """A round whose first group is ``group`` begins."""

    def _flush_ended(
        self, group: FlushGroup, start: float, end: float, error: BaseException | None
    ) -> None:
        """That round ended, with its first error (None if none)."""
