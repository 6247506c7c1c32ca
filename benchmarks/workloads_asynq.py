"""The workloads written once against the asynq API.

The same code runs on this repository's ``asynq`` and on Quora's asynq 1.6,
each in its own environment (the worker checks which one it imported). Only
names both provide are used: ``asynq``, ``ConstFuture``, ``BatchBase``,
``BatchItemBase``. Every function is a generator function, as almost all
asynq functions are; ``leaf`` is the trivial task (returns without yielding).

Except ``resolvers``, ours only (1.6 has no loaders and does not batch under
asyncio): N native coroutines gathered on one event loop, each awaiting two
chained loads of a ``@batched`` loader, the way GraphQL resolvers use
DataLoader. The loader is defined once, as asynq code defines it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bench_common import KeyValueStore, answer_key, item_key, user_key

from asynq import BatchBase, BatchItemBase, ConstFuture, asynq

__all__ = ["WORKLOADS"]


# -- batching: one multi-get per flushed batch ---------------------------------


class StoreClient:
    """Hands out batch items for a store; new items join the active batch."""

    def __init__(self, store: KeyValueStore) -> None:
        self.store = store
        self.active_batch = StoreBatch(self)

    def get(self, key: Any) -> StoreItem:
        return StoreItem(self, key)


class StoreBatch(BatchBase):
    """The keys requested while this batch was active, fetched in one get_multi."""

    def __init__(self, client: StoreClient) -> None:
        super().__init__()
        self.client = client

    def _try_switch_active_batch(self) -> None:
        if self.client.active_batch is self:
            self.client.active_batch = StoreBatch(self.client)

    def _flush(self) -> None:
        items = self.items
        values = self.client.store.get_multi([item.key for item in items])
        for item, value in zip(items, values, strict=True):
            item.set_value(value)


class StoreItem(BatchItemBase):
    """One key of a StoreBatch."""

    def __init__(self, client: StoreClient, key: Any) -> None:
        super().__init__(client.active_batch)
        self.key = key


# -- the async functions ----------------------------------------------------------


@asynq()
def leaf(i):
    return i
    yield  # never reached: makes this a generator function


@asynq()
def chain(depth):
    if depth == 0:
        return 0
    below = yield chain.asynq(depth - 1)
    return below + 1


@asynq()
def fanout(n):
    values = yield [leaf.asynq(i) for i in range(n)]
    return values


@asynq()
def fetch(client, key):
    value = yield client.get(key)
    return value


@asynq()
def fetch_all(client, n):
    values = yield [fetch.asynq(client, item_key(i)) for i in range(n)]
    return values


@asynq()
def author_of_answer(client, aid):
    uid = yield client.get(answer_key(aid))
    return uid


@asynq()
def name_of_user(client, uid):
    name = yield client.get(user_key(uid))
    return name


@asynq()
def all_author_names(client, aids):
    uids = yield [author_of_answer.asynq(client, aid) for aid in aids]
    names = yield [name_of_user.asynq(client, uid) for uid in uids]
    return names


@asynq()
def const_value(i):
    value = yield ConstFuture(i)
    return value


@asynq()
def one_subtask(i):
    value = yield leaf.asynq(i)
    return value


# -- the workloads ----------------------------------------------------------------


def make_chain(n: int) -> Callable[[], Any]:
    return lambda: chain(n)


def make_fanout(n: int) -> Callable[[], Any]:
    return lambda: fanout(n)


def make_batch1(n: int) -> Callable[[], Any]:
    def run() -> Any:
        store = KeyValueStore()
        return fetch_all(StoreClient(store), n), store.round_trips

    return run


def make_batch2(n: int) -> Callable[[], Any]:
    aids = list(range(n))

    def run() -> Any:
        store = KeyValueStore()
        return all_author_names(StoreClient(store), aids), store.round_trips

    return run


def make_sync_const(n: int) -> Callable[[], Any]:
    def run() -> int:
        total = 0
        for i in range(n):
            total += const_value(i)
        return total

    return run


def make_sync_sub(n: int) -> Callable[[], Any]:
    def run() -> int:
        total = 0
        for i in range(n):
            total += one_subtask(i)
        return total

    return run


WORKLOADS: dict[str, Callable[[int], Callable[[], Any]]] = {
    "chain": make_chain,
    "fanout": make_fanout,
    "batch1": make_batch1,
    "batch2": make_batch2,
    "sync_const": make_sync_const,
    "sync_sub": make_sync_sub,
}

try:
    from asynq import batched
except ImportError:  # asynq 1.6
    batched = None

if batched is not None:
    _loop = asyncio.new_event_loop()

    class _Current:
        store = KeyValueStore()

    @batched()
    async def load(keys):
        return _Current.store.get_multi(keys)

    async def resolve_author_name(aid):
        uid = await load.asyncio(answer_key(aid))
        return await load.asyncio(user_key(uid))

    async def resolve_all(aids):
        return await asyncio.gather(*[resolve_author_name(aid) for aid in aids])

    def make_resolvers(n: int) -> Callable[[], Any]:
        aids = list(range(n))

        def run() -> Any:
            store = _Current.store = KeyValueStore()
            return _loop.run_until_complete(resolve_all(aids)), store.round_trips

        return run

    WORKLOADS["resolvers"] = make_resolvers
