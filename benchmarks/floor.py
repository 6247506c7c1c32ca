"""The floor: the least a generator scheduler can do, as a lower bound.

``run(generator)`` drives plain generators with no bookkeeping: a yielded
generator is run to its return value (kept on an explicit stack, so chains do
not deepen Python's), a yielded list is run element by element, a yielded
``Const`` gives back its value. No task objects, no states, no errors carried
between generators (an exception simply escapes ``run``), no batching. Any
real scheduler pays more; the distance to this is its overhead.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

__all__ = ["Const", "run"]


class Const:
    """A value yielded where a real framework would yield a ready future."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def run(generator: Generator[Any, Any, Any]) -> Any:
    """Runs ``generator`` and whatever it yields to completion; returns its return value."""
    callers: list[Generator[Any, Any, Any]] = []
    sent: Any = None
    while True:
        try:
            yielded = generator.send(sent)
        except StopIteration as stop:
            if not callers:
                return stop.value
            generator = callers.pop()
            sent = stop.value
            continue
        if type(yielded) is list:
            sent = [run(child) for child in yielded]
        elif type(yielded) is Const:
            sent = yielded.value
        else:
            callers.append(generator)
            generator = yielded
            sent = None
