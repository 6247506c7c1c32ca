"""BatchBase/BatchItemBase subclasses written the 1.x way (compat_app's memcache
batch, with a module-level active batch switched in _try_switch_active_batch)."""

from __future__ import annotations

from typing import Any

import compat_app as app
import pytest

from asynq import (
    BatchBase,
    BatchCancelledError,
    BatchingError,
    BatchItemBase,
    FutureBase,
    asynq,
    get_scheduler,
)
from asynq.batching import DebugBatchItem


def test_batch_and_items_are_futures_with_the_1x_attributes() -> None:
    app.store.data.update({"a": 1, "b": 2})
    batch = app._active_batch
    first = app.MemcacheBatchItem("get", "a")
    second = app.MemcacheBatchItem("get", "b")
    assert isinstance(batch, FutureBase) and isinstance(first, FutureBase)
    assert batch.items == [first, second]
    assert (first.batch, first.index, second.index) == (batch, 0, 1)
    assert not batch.is_flushed() and not batch.is_empty()
    assert batch.get_priority() == (0, 2)
    # Asking an item's value outside any task flushes its batch.
    assert second.value() == 2
    assert first.is_computed() and first.value() == 1
    assert batch.is_flushed() and batch.is_computed()
    assert app.store.requests == [("get_multi", ["a", "b"])]


def test_a_flush_switches_the_module_level_active_batch() -> None:
    old = app._active_batch
    app.MemcacheBatchItem("get", "x").value()
    assert app._active_batch is not old
    assert app._active_batch.is_empty() and not app._active_batch.is_flushed()
    with pytest.raises(BatchingError, match="flushed"):
        BatchItemBase(old)


def test_sets_and_gets_of_one_round_go_in_one_flush() -> None:
    @asynq()
    def write_then_read() -> Any:
        yield app.mc_set.asynq("k1", "v1"), app.mc_set.asynq("k2", "v2")
        return (yield app.mc_get.asynq("k1"), app.mc_get.asynq("k2"), app.mc_get.asynq("k1"))

    assert write_then_read() == ("v1", "v2", "v1")
    assert app.store.requests == [("set_multi", ["k1", "k2"]), ("get_multi", ["k1", "k2"])]
    assert app.MemcacheBatch.flush_count == 2


def test_a_failed_request_fails_only_the_tasks_waiting_on_its_items() -> None:
    app.seed_answers(2)
    app.store.fail_next_request = ConnectionError("memcache down")
    outcomes: dict[str, Any] = {}

    @asynq()
    def guarded(aid: int) -> Any:
        try:
            outcomes[f"a{aid}"] = yield app.author_of_answer.asynq(aid)
        except ConnectionError as error:
            outcomes[f"a{aid}"] = error

    @asynq()
    def unrelated() -> Any:
        outcomes["sync"] = yield DebugBatchItem("other", result="ok")

    @asynq()
    def page() -> Any:
        yield guarded.asynq(0), guarded.asynq(1), unrelated.asynq()

    page()
    assert isinstance(outcomes["a0"], ConnectionError)
    assert outcomes["a1"] is outcomes["a0"]
    assert outcomes["sync"] == "ok"
    # The next round uses a fresh batch and works again.
    assert app.all_author_names([0, 1]) == ["user0", "user1"]


def test_an_item_the_flush_forgot_fails_with_an_assertion_error() -> None:
    class ForgetfulBatch(app.MemcacheBatch):
        def _flush(self) -> None:
            self.items[0].set_value("only the first")

    class Item(BatchItemBase):
        pass

    batch = ForgetfulBatch(app.store)
    first, second = Item(batch), Item(batch)
    batch.flush()
    assert first.value() == "only the first"
    with pytest.raises(AssertionError):
        second.value()


def test_cancel_fails_every_item() -> None:
    batch = app._active_batch
    first = app.MemcacheBatchItem("get", "a")
    batch.cancel()
    assert batch.is_cancelled()
    assert isinstance(first.error(), BatchCancelledError)
    assert isinstance(first.error(), BatchingError)

    batch = app._active_batch
    assert batch is not first.batch  # cancel switched the active batch too
    second = app.MemcacheBatchItem("get", "b")
    batch.cancel(TimeoutError("too slow"))
    with pytest.raises(TimeoutError, match="too slow"):
        second.value()


class SlowStoreBatch(BatchBase):
    """A second kind of batch, of lower priority than the memcache one."""

    active: SlowStoreBatch | None = None
    flushed: list[str] = []

    def get_priority(self) -> Any:
        return (-1, len(self.items))

    def _try_switch_active_batch(self) -> None:
        if SlowStoreBatch.active is self:
            SlowStoreBatch.active = SlowStoreBatch()

    def _flush(self) -> None:
        SlowStoreBatch.flushed.append("slow")
        for item in self.items:
            item.set_value(f"slow {item.key}")


class SlowStoreItem(BatchItemBase):
    def __init__(self, key: str) -> None:
        if SlowStoreBatch.active is None:
            SlowStoreBatch.active = SlowStoreBatch()
        super().__init__(SlowStoreBatch.active)
        self.key = key


def test_the_pending_batch_of_highest_priority_is_flushed_first() -> None:
    SlowStoreBatch.flushed = []
    order: list[Any] = []
    get_scheduler().on_before_batch_flush.subscribe(lambda batch: order.append(type(batch)))
    app.store.data["fast"] = "memcache"

    @asynq()
    def slow() -> Any:
        return (yield SlowStoreItem("key"))

    @asynq()
    def both() -> Any:
        return (yield slow.asynq(), app.mc_get.asynq("fast"))

    assert both() == ("slow key", "memcache")
    assert order == [app.MemcacheBatch, SlowStoreBatch]


def test_flush_hooks_see_each_batch_before_and_after() -> None:
    events: list[tuple[str, Any]] = []
    scheduler = get_scheduler()
    scheduler.on_before_batch_flush.subscribe(lambda batch: events.append(("before", batch)))
    scheduler.on_after_batch_flush.subscribe(
        lambda batch: events.append(("after", batch.is_flushed()))
    )
    app.seed_answers(1)
    app.all_author_names([0])
    assert [kind for kind, _ in events] == ["before", "after", "before", "after"]
    assert all(isinstance(batch, app.MemcacheBatch) for kind, batch in events if kind == "before")
    assert all(flushed is True for kind, flushed in events if kind == "after")


def test_debug_batch_item_and_sync_let_other_tasks_run_first() -> None:
    log: list[str] = []

    @asynq()
    def waits() -> Any:
        log.append("waits: before")
        value = yield DebugBatchItem(result=3)
        log.append("waits: after")
        return value

    @asynq()
    def quick() -> Any:
        log.append("quick")
        return 4
        yield

    @asynq()
    def both() -> Any:
        return (yield waits.asynq(), quick.asynq())

    assert both() == (3, 4)
    assert log == ["waits: before", "quick", "waits: after"]
