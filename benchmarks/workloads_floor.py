"""The workloads on the floor trampoline (``floor.run``) with plain generators.

The same shapes as workloads_asynq: ``yield child(...)`` for a task,
``yield [...]`` for a fanout, ``yield Const(v)`` for a ConstFuture, and
``run(f(x))`` for a synchronous call. The floor has no batching, so batch1 and
batch2 are not measured for it.

For ``resolvers`` the floor is the least a DataLoader-style design can do on
asyncio: a load is an asyncio Future appended to a list, the first one of a
batch queues the dispatch with ``call_soon``, the dispatch makes one
``get_multi`` and sets the futures (no cache, no checks, no class).
"""

from __future__ import annotations

import asyncio
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

_loop = asyncio.new_event_loop()


def make_resolvers(n: int) -> Callable[[], Any]:
    from bench_common import KeyValueStore, answer_key, user_key

    aids = list(range(n))

    def run() -> Any:
        store = KeyValueStore()
        keys: list[Any] = []
        futures: list[asyncio.Future[Any]] = []

        def dispatch() -> None:
            batch_keys, batch_futures = keys[:], futures[:]
            del keys[:], futures[:]
            for future, value in zip(batch_futures, store.get_multi(batch_keys), strict=True):
                future.set_result(value)

        def load(key: Any) -> asyncio.Future[Any]:
            future = _loop.create_future()
            if not keys:
                _loop.call_soon(dispatch)
            keys.append(key)
            futures.append(future)
            return future

        async def resolve_author_name(aid: int) -> Any:
            uid = await load(answer_key(aid))
            return await load(user_key(uid))

        async def resolve_all() -> Any:
            return await asyncio.gather(*[resolve_author_name(aid) for aid in aids])

        return _loop.run_until_complete(resolve_all()), store.round_trips

    return run


WORKLOADS["resolvers"] = make_resolvers
