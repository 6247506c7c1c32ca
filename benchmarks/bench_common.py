"""What every implementation's workloads share: the store, the expected results.

Each workload module (workloads_asynq, workloads_asyncio, workloads_floor)
maps a workload name to a factory ``make(n)`` returning a zero-argument
callable that does the whole workload of size ``n`` once and returns its
result. ``check(name, n, result)`` validates that result; the harness calls it
outside the timed region, so a wrong implementation fails loudly instead of
being fast. Nothing here imports an async framework: this module runs in every
benchmark environment.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

__all__ = [
    "WORKLOAD_NAMES",
    "KeyValueStore",
    "item_key",
    "answer_key",
    "user_key",
    "check",
    "OPS_PER_N",
]

# The timed workloads, in report order ("memory" is measured separately: it is
# the fanout at 100,000 tasks under a memory probe).
WORKLOAD_NAMES = ("chain", "fanout", "batch1", "batch2", "sync_const", "sync_sub", "resolvers")

# Operations per unit of N, where it is not one: N resolvers make 2N loads.
OPS_PER_N = {"resolvers": 2}

Factory = Callable[[int], Callable[[], Any]]


def item_key(i: int) -> tuple[str, int]:
    return ("item", i)


def answer_key(aid: int) -> tuple[str, int]:
    return ("answer", aid)


def user_key(uid: int) -> tuple[str, int]:
    return ("user", uid)


def _author_of(aid: int) -> int:
    return aid * 3 + 1


def _name_of(uid: int) -> str:
    return f"user-{uid}"


class KeyValueStore:
    """An in-memory store whose only read is a multi-get; counts round trips.

    Values are computed from the keys, so every implementation reads the same
    data and the check can recompute it.
    """

    __slots__ = ("round_trips",)

    def __init__(self) -> None:
        self.round_trips = 0

    def get_multi(self, keys: list[Hashable]) -> list[Any]:
        self.round_trips += 1
        return [self._value_of(key) for key in keys]

    @staticmethod
    def _value_of(key: Any) -> Any:
        kind, ident = key
        if kind == "item":
            return ident * 2
        if kind == "answer":
            return _author_of(ident)
        if kind == "user":
            return _name_of(ident)
        raise KeyError(f"KeyValueStore.get_multi(): unknown key {key!r}")


def _expect(name: str, n: int, what: str, got: Any, expected: Any) -> None:
    if got != expected:
        shown = repr(got)
        if len(shown) > 200:
            shown = shown[:197] + "..."
        raise AssertionError(f"workload {name} (n={n}): wrong {what}: got {shown}")


def check(name: str, n: int, result: Any) -> None:
    """Raises AssertionError unless ``result`` is what workload ``name`` of size n returns.

    The batch workloads return ``(values, round_trips)``: batching must have
    made exactly one store request per level (1 for batch1, 2 for batch2).
    """
    if name == "chain":
        _expect(name, n, "depth", result, n)
    elif name == "fanout":
        _expect(name, n, "values", result, list(range(n)))
    elif name == "batch1":
        values, round_trips = result
        _expect(name, n, "values", values, [i * 2 for i in range(n)])
        _expect(name, n, "number of store round trips", round_trips, 1)
    elif name == "batch2":
        names, round_trips = result
        _expect(name, n, "names", names, [_name_of(_author_of(aid)) for aid in range(n)])
        _expect(name, n, "number of store round trips", round_trips, 2)
    elif name == "resolvers":
        names, round_trips = result
        _expect(name, n, "names", names, [_name_of(_author_of(aid)) for aid in range(n)])
        _expect(name, n, "number of store round trips", round_trips, 2)
    elif name in ("sync_const", "sync_sub"):
        _expect(name, n, "sum of the call results", result, n * (n - 1) // 2)
    else:
        raise ValueError(f"check(): unknown workload {name!r}; known: {WORKLOAD_NAMES}")
