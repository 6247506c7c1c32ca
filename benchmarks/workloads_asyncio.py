"""The workloads in plain asyncio, with aiodataloader for the batches.

What each asynq construct becomes (the natural asyncio spelling):
- yielding a child task in a chain -> awaiting the child as a Task
  (``await asyncio.ensure_future(child(...))``): an asynq task is a unit the
  scheduler runs, interleaves and shares, and asyncio's unit is the Task.
  Awaiting the bare coroutine instead is a plain function call no scheduler
  sees (about 0.2 us per level here, faster than any trampoline, the floor
  included); the Python recursion limit is raised for the 1000-deep chain;
- yielding one trivial subtask (sync_sub) -> ``await child(...)``;
- yielding a list of tasks (fanout, batch1, batch2) -> ``asyncio.gather``,
  which wraps each coroutine in a Task;
- yielding a ConstFuture (sync_const) -> awaiting an asyncio Future that
  already has its result;
- a BatchBase subclass -> an aiodataloader ``DataLoader`` (created per
  request, as its documentation advises; one ``get_multi`` per dispatch);
- resolvers (N gathered coroutines, each awaiting two chained loads): the
  same with ``loader.load``, aiodataloader's own use;
- a synchronous call ``f(x)`` (sync_const, sync_sub, and the entry of every
  workload) -> ``loop.run_until_complete(f(x))`` on one event loop kept for the
  whole process. ``asyncio.run`` per call would be the other option; it
  builds and closes a loop each time and costs far more, so the persistent
  loop is the stronger peer.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from aiodataloader import DataLoader
from bench_common import KeyValueStore, answer_key, item_key, user_key

__all__ = ["WORKLOADS"]

# A chain of coroutines awaiting coroutines is as deep on Python's stack as it
# is long; 10,000 leaves room for the 1000-deep chain plus asyncio's frames.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)


def _run(coroutine: Any) -> Any:
    return _loop.run_until_complete(coroutine)


def _store_loader(store: KeyValueStore) -> DataLoader:
    async def load_many(keys: list[Any]) -> list[Any]:
        return store.get_multi(keys)

    return DataLoader(load_many, cache=False)


async def leaf(i: int) -> int:
    return i


async def chain(depth: int) -> int:
    if depth == 0:
        return 0
    below = await asyncio.ensure_future(chain(depth - 1))
    return below + 1


async def fanout(n: int) -> list[int]:
    return await asyncio.gather(*[leaf(i) for i in range(n)])


async def fetch(loader: DataLoader, key: Any) -> Any:
    return await loader.load(key)


async def fetch_all(store: KeyValueStore, n: int) -> list[Any]:
    loader = _store_loader(store)
    return await asyncio.gather(*[fetch(loader, item_key(i)) for i in range(n)])


async def author_of_answer(loader: DataLoader, aid: int) -> int:
    return await loader.load(answer_key(aid))


async def name_of_user(loader: DataLoader, uid: int) -> str:
    return await loader.load(user_key(uid))


async def all_author_names(store: KeyValueStore, aids: list[int]) -> list[str]:
    loader = _store_loader(store)
    uids = await asyncio.gather(*[author_of_answer(loader, aid) for aid in aids])
    names = await asyncio.gather(*[name_of_user(loader, uid) for uid in uids])
    return names


async def resolve_author_name(loader: DataLoader, aid: int) -> str:
    uid = await loader.load(answer_key(aid))
    return await loader.load(user_key(uid))


async def resolve_all(store: KeyValueStore, aids: list[int]) -> list[str]:
    loader = _store_loader(store)
    return await asyncio.gather(*[resolve_author_name(loader, aid) for aid in aids])


async def const_value(i: int) -> int:
    done: asyncio.Future[int] = _loop.create_future()
    done.set_result(i)
    return await done


async def one_subtask(i: int) -> int:
    return await leaf(i)


def make_chain(n: int) -> Callable[[], Any]:
    return lambda: _run(chain(n))


def make_fanout(n: int) -> Callable[[], Any]:
    return lambda: _run(fanout(n))


def make_batch1(n: int) -> Callable[[], Any]:
    def run() -> Any:
        store = KeyValueStore()
        return _run(fetch_all(store, n)), store.round_trips

    return run


def make_batch2(n: int) -> Callable[[], Any]:
    aids = list(range(n))

    def run() -> Any:
        store = KeyValueStore()
        return _run(all_author_names(store, aids)), store.round_trips

    return run


def make_resolvers(n: int) -> Callable[[], Any]:
    aids = list(range(n))

    def run() -> Any:
        store = KeyValueStore()
        return _run(resolve_all(store, aids)), store.round_trips

    return run


def make_sync_const(n: int) -> Callable[[], Any]:
    def run() -> int:
        total = 0
        for i in range(n):
            total += _run(const_value(i))
        return total

    return run


def make_sync_sub(n: int) -> Callable[[], Any]:
    def run() -> int:
        total = 0
        for i in range(n):
            total += _run(one_subtask(i))
        return total

    return run


WORKLOADS: dict[str, Callable[[int], Callable[[], Any]]] = {
    "chain": make_chain,
    "fanout": make_fanout,
    "batch1": make_batch1,
    "batch2": make_batch2,
    "sync_const": make_sync_const,
    "sync_sub": make_sync_sub,
    "resolvers": make_resolvers,
}
