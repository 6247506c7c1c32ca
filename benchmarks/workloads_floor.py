"""The workloads on the floor trampoline (``floor.run``) with plain generators.

The same shapes as workloads_asynq: ``yield child(...)`` for a task,
``yield [...]`` for a fanout, ``yield Const(v)`` for a ConstFuture, and
``run(f(x))`` for a synchronous call. The floor has no batching, so batch1 and
batch2 are not measured for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from floor import Const, run

__all__ = ["WORKLOADS"]


def leaf(i):
    return i
    yield  # never reached: makes this a generator function


def chain(depth):
    if depth == 0:
        return 0
    below = yield chain(depth - 1)
    return below + 1


def fanout(n):
    values = yield [leaf(i) for i in range(n)]
    return values


def const_value(i):
    value = yield Const(i)
    return value


def one_subtask(i):
    value = yield leaf(i)
    return value


def make_chain(n: int) -> Callable[[], Any]:
    return lambda: run(chain(n))


def make_fanout(n: int) -> Callable[[], Any]:
    return lambda: run(fanout(n))


def make_sync_const(n: int) -> Callable[[], Any]:
    def run_calls() -> int:
        total = 0
        for i in range(n):
            total += run(const_value(i))
        return total

    return run_calls


def make_sync_sub(n: int) -> Callable[[], Any]:
    def run_calls() -> int:
        total = 0
        for i in range(n):
            total += run(one_subtask(i))
        return total

    return run_calls


WORKLOADS: dict[str, Callable[[int], Callable[[], Any]]] = {
    "chain": make_chain,
    "fanout": make_fanout,
    "sync_const": make_sync_const,
    "sync_sub": make_sync_sub,
}
