"""What a task yields and waits on: the structures of futures, and the tree of
tasks waiting on each other.

A task may yield a future, None, or lists, tuples and dicts of them, nested.
This module owns walking those structures: the uncomputed futures in the
order the task runs them (asynq 1.x's: list and tuple items first to last,
dict values last to first), the values sent back once they are computed
(the first error in structure order wins), and the two wrappers a task may
wait on instead of what it yielded (``ContextFailure``, ``BadYield``). And the
tree of waiting tasks: its depth-first order (in which asynq 1.x resumes the
tasks a flush wakes) and, when nothing can go on, who waits on whom.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from .errors import AsyncTaskError
from .futures import FutureBase
from .task_states import RUNNING, WAITING
from .text import name_of

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypeAlias

    from .protocols import Task

    # What a task may yield, as checkers see it: the items of structures are
    # not typed (checkers cannot follow the nesting); anything else a task
    # yields is refused at run time (``uncomputed_in`` names it).
    Yielded: TypeAlias = "FutureBase[Any] | list[Any] | tuple[Any, ...] | dict[Any, Any] | None"
    # What a waiting task waits on: what it yielded, or one of the wrappers.
    WaitedOn: TypeAlias = "Yielded | ContextFailure | BadYield"

# The slots of tasks and futures (``_computed``, ``_yielded``, ...) are read
# here by design: they are the scheduler's, whose helpers these are.
# pyright: reportPrivateUsage=false

__all__ = [
    "BadYield",
    "ContextFailure",
    "bad_yield_message",
    "depth_first",
    "describe_stall",
    "first_failure",
    "futures_in",
    "in_one_fan_out",
    "result_of",
    "uncomputed_in",
]


class BadYield:
    """What a task waits on when it yielded a structure holding something that
    is not a future: as asynq 1.x, the futures in it run first; then the first
    problem in structure order (a failed future's error, or ``error``, the
    TypeError naming the value) is raised at the yield."""

    __slots__ = ("yielded", "error")

    def __init__(self, yielded: Yielded, error: BaseException) -> None:
        self.yielded = yielded
        self.error = error


def first_failure(yielded: Yielded, bad_value_error: BaseException) -> BaseException | None:
    """The first error in structure order of a yielded structure whose futures
    are computed: a future's error, or ``bad_value_error`` for a value that is
    not a future."""
    if yielded is None:
        return None
    if isinstance(yielded, FutureBase):
        return yielded._error
    if isinstance(yielded, (list, tuple)):
        items: Any = yielded
    elif isinstance(yielded, dict):  # pyright: ignore[reportUnnecessaryIsInstance]  # items may be anything
        items = yielded.values()
    else:
        return bad_value_error
    for item in items:
        error = first_failure(item, bad_value_error)
        if error is not None:
            return error
    return None


class ContextFailure:
    """What a task waits on when pausing one of its contexts failed: the error
    is thrown at the yield once the dependencies (still all run) are done."""

    __slots__ = ("yielded", "error")

    def __init__(self, yielded: WaitedOn, error: BaseException) -> None:
        self.yielded = yielded
        self.error = error


def in_one_fan_out(woken: list[Task]) -> bool:
    """True when ``woken`` are children of one waiting task, in the order of
    the list it yielded: the common case, where the depth-first order is
    theirs already (see ``depth_first``), found without walking the tree."""
    parent = woken[0]._waiters
    if parent is None or type(parent) is list or parent._state != WAITING:
        return False
    yielded: WaitedOn = parent._yielded
    if type(yielded) is not list:
        return False
    count = len(woken)
    index = 0
    for item in yielded:
        if item is woken[index]:
            if item._waiters is not parent:
                return False
            index += 1
            if index == count:
                return True
    return False


def depth_first(woken: list[Task], roots: Iterable[Task | FutureBase[Any]]) -> list[Task]:
    """``woken`` (tasks made ready by a flush, in the order they were woken)
    in the order asynq 1.x resumes them: the depth-first order of the tree of
    waiting tasks under ``roots``, each task's dependencies in the order it
    runs them. Those not in the tree keep their order, after the others."""
    pending = {id(task): task for task in woken}
    ordered: list[Task] = []
    seen: set[int] = set()
    # Tasks and the other futures they wait on (told apart by _state).
    to_visit: list[Task | FutureBase[Any]] = list(roots)
    to_visit.reverse()
    while to_visit and pending:
        task = to_visit.pop()
        key = id(task)
        found = pending.pop(key, None)
        if found is not None:
            ordered.append(found)
        elif task._state == WAITING and key not in seen:  # a task waited on twice: once
            seen.add(key)
            below = futures_in(task._yielded)  # type: ignore[union-attr]  # WAITING: a task
            below.reverse()
            to_visit += below  # batch items among them are skipped when popped
    ordered += pending.values()
    return ordered


def result_of(yielded: Any) -> tuple[Any, BaseException | None]:
    """The value sent back for a yielded structure whose futures are all computed,
    and the first error in structure order (None if none failed)."""
    if isinstance(yielded, FutureBase):
        return yielded._value, yielded._error
    # Dispatched on the type (cheaper than isinstance), which checkers cannot
    # follow: hence ``yielded: Any``, of which type() is unknown to pyright.
    kind = type(yielded)  # pyright: ignore[reportUnknownVariableType]
    if kind is list:
        try:
            values: list[Any] = [item._value for item in yielded]
        except AttributeError:  # None or nested: the general route below
            pass
        else:
            for item in yielded:
                if item._error is not None:
                    return values, item._error
            return values, None
    if kind is list or kind is tuple:
        values = []
        first_error = None
        for item in yielded:
            if item is None:
                values.append(None)
                continue
            value, error = result_of(item)
            if error is not None and first_error is None:
                first_error = error
            values.append(value)
        return (values if kind is list else tuple(values)), first_error
    if kind is dict:
        result: dict[Any, Any] = {}
        first_error = None
        for key, item in yielded.items():
            value, error = (None, None) if item is None else result_of(item)
            if error is not None and first_error is None:
                first_error = error
            result[key] = value
        return result, first_error
    if kind is ContextFailure:
        value, error = result_of(yielded.yielded)
        return value, yielded.error
    if kind is BadYield:
        return None, first_failure(yielded.yielded, yielded.error)
    if yielded is None:
        return None, None
    # Subclasses of list/tuple/dict take the generic route.
    if isinstance(yielded, dict):
        return result_of(dict(yielded))  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(yielded, (list, tuple)):
        value, error = result_of(list(yielded))  # pyright: ignore[reportUnknownArgumentType]
        return (value if isinstance(yielded, list) else tuple(value)), error
    raise AssertionError(f"unexpected yielded value {yielded!r}")


def uncomputed_in(
    yielded: WaitedOn, task: Task | None, out: list[FutureBase[Any]], tolerant: bool = False
) -> list[FutureBase[Any]]:
    """Appends to ``out`` every uncomputed future in a yielded structure, in the
    order the task runs them (asynq 1.x's: dict values last to first).

    Raises TypeError for anything that is not a future, None, list, tuple or
    dict (``tolerant``: skips it).
    """
    if isinstance(yielded, FutureBase):
        if not yielded._computed:
            # A task is a future (which the Task protocol cannot say).
            if yielded is task:  # type: ignore[comparison-overlap]
                raise AsyncTaskError(f"{task!r} yielded itself")
            out.append(yielded)
    elif isinstance(yielded, (list, tuple)):
        for item in yielded:
            if item is not None:
                uncomputed_in(item, task, out, tolerant)
    elif isinstance(yielded, dict):
        for item in reversed(list(yielded.values())):
            if item is not None:
                uncomputed_in(item, task, out, tolerant)
    elif yielded is not None and not tolerant:
        raise TypeError(bad_yield_message(yielded, task))
    return out


def bad_yield_message(value: object, task: Task | None) -> str:
    name = name_of(task)
    hint = ""
    if inspect.isgenerator(value):
        hint = (
            " It is a generator: call the function through .asynq() and decorate it with @asynq()."
        )
    elif inspect.isawaitable(value):
        hint = " It is an awaitable: asynq tasks yield futures, not coroutines."
    return (
        f"{name} yielded {value!r} of type {type(value).__name__}: a task may yield "
        f"only futures, None, or lists, tuples and dicts of them.{hint}"
    )


def futures_in(yielded: WaitedOn) -> list[FutureBase[Any]]:
    """The uncomputed futures of what a task yielded (and waits on), in run order."""
    if yielded is None:
        return []
    if type(yielded) is list:
        try:  # the common case, a list of futures, without the recursion
            return [item for item in yielded if not item._computed]
        except AttributeError:  # None or nested: the general route
            pass
    elif isinstance(yielded, FutureBase):
        return [] if yielded._computed else [yielded]
    while type(yielded) is ContextFailure or type(yielded) is BadYield:
        yielded = yielded.yielded
    try:
        return uncomputed_in(yielded, None, [], tolerant=True)
    except AsyncTaskError:
        return []


def describe_stall(root: Task) -> str:
    """Says which tasks wait on each other when nothing can go on."""
    chain = [root]
    seen = {id(root)}
    current = root
    while True:
        # The futures with a _state are tasks.
        deps: list[Task] = [dep for dep in futures_in(current._yielded) if dep._state is not None]  # type: ignore[misc]
        if not deps:
            break
        current = deps[0]
        chain.append(current)
        if id(current) in seen:
            names = " -> ".join(repr(task) for task in chain)
            return f"dependency cycle: {names}"
        seen.add(id(current))
    names = " -> ".join(repr(task) for task in chain)
    if len(chain) > 1 and current._state == RUNNING:
        return f"dependency cycle: {names}, which asked synchronously for the value of {root!r}"
    never_set = [dep for dep in futures_in(current._yielded) if dep._state is None]
    culprits = ", ".join(repr(dep) for dep in never_set[:3]) or "a future it waits on"
    return (
        f"{root!r} can never be computed: nothing is ready to run and no batch is "
        f"pending (waiting chain: {names}); {culprits} is never set"
    )
