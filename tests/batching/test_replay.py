"""Record and replay of asynq-batching's batches (asynq_core.tracing's
``record(capture=True)``, ``Recording.save`` and ``replay``): loaders and
``BatchBase`` subclasses with ``_replay_key`` are recorded by key and served
back without their bulk functions, synchronously, under asyncio, split into
pieces and with concurrent flushes; batches without keys flush as usual."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asynq_batching import BatchBase, BatchItemBase, MissingKeyError, batched, sync
from asynq_core import asynq
from asynq_core.tracing import NotRecordedError, record, replay


class Backend:
    """What loaders read; ``calls`` lists the keys of each bulk call, and once
    ``reachable`` is False any call fails the test."""

    def __init__(self, rows: dict[Any, Any]) -> None:
        self.rows = rows
        self.calls: list[list[Any]] = []
        self.threads: set[str] = set()
        self.reachable = True

    def fetch(self, keys: list[Any]) -> dict[Any, Any]:
        assert self.reachable, f"the backend was called during a replay with {keys}"
        self.calls.append(list(keys))
        self.threads.add(threading.current_thread().name)
        if "boom" in keys:
            raise ConnectionError("the backend is down")
        return {key: self.rows[key] for key in keys if key in self.rows}


@pytest.fixture
def backend() -> Backend:
    return Backend({1: "Ada", 2: "Bo", 3: "Cy", 4: "Di", 5: "Ed", "u1": ["p1", "p2"]})


def record_then_replay(
    path: Path, program: Callable[[], Any], backend: Backend, **options: Any
) -> tuple[Any, Any, int, int]:
    """Runs ``program`` recorded, then replayed with the backend unreachable;
    returns both results and both round counts."""
    with record(capture=True) as recording:
        recorded = program()
    recording.save(path)
    backend.reachable = False
    with replay(path, **options) as replaying, record() as again:
        replayed = program()
    assert replaying.rounds == again.rounds
    return recorded, replayed, recording.rounds, again.rounds


# -- loaders ---------------------------------------------------------------------------


def test_a_loader_is_replayed_by_key_without_its_bulk_function(
    backend: Backend, tmp_path: Path
) -> None:
    @batched()
    def users(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    @asynq()
    def posts_and_names(uid: str) -> Any:
        posts = yield users.asynq(uid)
        return posts, (yield [users.asynq(key) for key in (1, 2, 3)])

    recorded, replayed, rounds, replayed_rounds = record_then_replay(
        tmp_path / "loader.jsonl", lambda: posts_and_names("u1"), backend, check_rounds=True
    )
    assert recorded == replayed == (["p1", "p2"], ["Ada", "Bo", "Cy"])
    assert rounds == replayed_rounds == 2
    assert backend.calls == [["u1"], [1, 2, 3]]


def test_missing_keys_and_failed_bulk_calls_replay_as_they_failed(
    backend: Backend, tmp_path: Path
) -> None:
    @batched()
    def strict(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    @batched(missing="default", default="?")
    def lenient(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    def outcomes() -> list[Any]:
        got: list[Any] = [lenient(9)]
        for key in (9, "boom"):
            try:
                strict(key)
            except Exception as error:
                got.append((type(error), str(error), getattr(error, "key", None)))
        return got

    recorded, replayed, _, _ = record_then_replay(tmp_path / "errors.jsonl", outcomes, backend)
    assert recorded == replayed
    assert replayed[0] == "?"
    assert replayed[1] == (MissingKeyError, str(replayed[1][1]), 9)
    assert replayed[2] == (ConnectionError, "the backend is down", None)


def test_a_split_batch_is_served_piece_by_piece_in_one_round(
    backend: Backend, tmp_path: Path
) -> None:
    @batched(max_size=2)
    def users(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    @asynq()
    def five() -> Any:
        return (yield [users.asynq(key) for key in (1, 2, 3, 4, 5)])

    recorded, replayed, rounds, replayed_rounds = record_then_replay(
        tmp_path / "split.jsonl", five, backend
    )
    assert recorded == replayed == ["Ada", "Bo", "Cy", "Di", "Ed"]
    assert backend.calls == [[1, 2], [3, 4], [5]]
    assert rounds == replayed_rounds == 1


def test_concurrent_loaders_are_served_in_the_same_round(backend: Backend, tmp_path: Path) -> None:
    @batched(concurrent=True)
    def names(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    @batched(concurrent=True)
    def lengths(keys: list[Any]) -> dict[Any, Any]:
        return {key: len(value) for key, value in backend.fetch(keys).items()}

    @asynq()
    def both() -> Any:
        return (yield [names.asynq(1), lengths.asynq(2), names.asynq(3)])

    recorded, replayed, rounds, replayed_rounds = record_then_replay(
        tmp_path / "concurrent.jsonl", both, backend, check_rounds=True
    )
    assert recorded == replayed == ["Ada", 2, "Cy"]
    assert rounds == replayed_rounds == 1
    assert any(name.startswith("asynq-flush") for name in backend.threads)


def test_a_cached_method_loader_is_replayed(backend: Backend, tmp_path: Path) -> None:
    class Repository:
        @batched(cache=True)
        def load(self, keys: list[Any]) -> dict[Any, Any]:
            return backend.fetch(keys)

    repository = Repository()

    @asynq()
    def twice() -> Any:
        first = yield repository.load.asynq(1)
        return first, (yield [repository.load.asynq(1), repository.load.asynq(2)])

    recorded, replayed, _, _ = record_then_replay(tmp_path / "cached.jsonl", twice, backend)
    assert recorded == replayed == ("Ada", ["Ada", "Bo"])
    assert backend.calls == [[1], [2]]


def test_a_synchronous_loader_call_outside_a_task_is_served(
    backend: Backend, tmp_path: Path
) -> None:
    @batched()
    def users(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    recorded, replayed, rounds, replayed_rounds = record_then_replay(
        tmp_path / "direct.jsonl", lambda: [users(1), users(2)], backend, check_rounds=True
    )
    assert recorded == replayed == ["Ada", "Bo"]
    assert rounds == replayed_rounds == 2


def test_a_key_not_recorded_fails_naming_the_loader(backend: Backend, tmp_path: Path) -> None:
    @batched()
    def users(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    path = tmp_path / "one.jsonl"
    with record(capture=True) as recording:
        users(1)
    recording.save(path)
    backend.reachable = False
    with pytest.raises(NotRecordedError) as raised, replay(path):
        users(7)
    assert f"{users.name} asked for the key 7, which the recording does not hold" in str(
        raised.value
    )


# -- asyncio -----------------------------------------------------------------------------


def test_loaders_awaited_by_coroutines_are_replayed_under_asyncio(
    backend: Backend, tmp_path: Path
) -> None:
    @batched()
    def users(keys: list[Any]) -> dict[Any, Any]:
        return backend.fetch(keys)

    @asynq()
    def name_pair(a: int, b: int) -> Any:
        return (yield [users.asynq(a), users.asynq(b)])

    async def resolvers() -> Any:
        return await asyncio.gather(users.asyncio(1), users.asyncio(2), name_pair.asyncio(3, 4))

    recorded, replayed, rounds, replayed_rounds = record_then_replay(
        tmp_path / "asyncio.jsonl", lambda: asyncio.run(resolvers()), backend, check_rounds=True
    )
    assert recorded == replayed == ["Ada", "Bo", ["Cy", "Di"]]
    assert rounds == replayed_rounds == 1


def test_an_async_bulk_function_is_replayed_under_asyncio(backend: Backend, tmp_path: Path) -> None:
    @batched()
    async def users(keys: list[Any]) -> dict[Any, Any]:
        await asyncio.sleep(0)
        return backend.fetch(keys)

    async def resolvers() -> Any:
        return await asyncio.gather(users.asyncio(1), users.asyncio(5))

    recorded, replayed, _, _ = record_then_replay(
        tmp_path / "async_bulk.jsonl", lambda: asyncio.run(resolvers()), backend
    )
    assert recorded == replayed == ["Ada", "Ed"]


# -- batches written by hand ---------------------------------------------------------------


class Prices:
    """A store read through a BatchBase subclass; ``keyed`` says whether its
    batches tell their keys (``_replay_key``)."""

    def __init__(self, keyed: bool) -> None:
        self.keyed = keyed
        self.flushes = 0
        self.active = self._new_batch()

    def _new_batch(self) -> BatchBase:
        return KeyedPriceBatch(self) if self.keyed else PriceBatch(self)

    def price(self, fruit: str) -> PriceItem:
        return PriceItem(self.active, fruit)


class PriceBatch(BatchBase):
    def __init__(self, prices: Prices) -> None:
        super().__init__()
        self.prices = prices

    def _try_switch_active_batch(self) -> None:
        if self.prices.active is self:
            self.prices.active = self.prices._new_batch()

    def _flush(self) -> None:
        self.prices.flushes += 1
        for item in self.items:
            item.set_value(len(item.fruit))  # type: ignore[attr-defined]


class KeyedPriceBatch(PriceBatch):
    def _replay_key(self, item: Any) -> Any:
        return item.fruit


class PriceItem(BatchItemBase[int]):
    def __init__(self, batch: BatchBase, fruit: str) -> None:
        super().__init__(batch)
        self.fruit = fruit


@asynq()
def basket(prices: Prices) -> Any:
    return (yield [prices.price("apple"), prices.price("fig")])


def test_a_batch_with_replay_key_is_recorded_and_served(tmp_path: Path) -> None:
    prices = Prices(keyed=True)
    path = tmp_path / "keyed.jsonl"
    with record(capture=True) as recording:
        assert basket(prices) == [5, 3]
    assert [(result.key, result.value) for result in recording.flushes[0].results or ()] == [
        ("apple", 5),
        ("fig", 3),
    ]
    recording.save(path)
    with replay(path):
        assert basket(prices) == [5, 3]
    assert prices.flushes == 1


def test_a_batch_without_keys_is_not_recorded_and_flushes_as_usual_on_replay(
    tmp_path: Path,
) -> None:
    prices = Prices(keyed=False)
    path = tmp_path / "unkeyed.jsonl"

    @asynq()
    def patient() -> Any:
        yield sync()  # a DebugBatch: no keys either
        return (yield basket.asynq(prices))

    with record(capture=True) as recording:
        assert patient() == [5, 3]
    assert [flush.results for flush in recording.flushes] == [None, None]
    recording.save(path)
    with replay(path):
        assert patient() == [5, 3]
    assert prices.flushes == 2
