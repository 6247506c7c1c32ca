"""BatchBase and BatchItemBase on their own: registration, flushing once,
errors of _flush going to the items, cancel."""

from __future__ import annotations

from typing import Any

import pytest

from asynq_batching import (
    BatchBase,
    BatchCancelledError,
    BatchingError,
    BatchItemBase,
    batching,
)
from asynq_core import asynq
from asynq_core.futures import DeferredFuture


class Item(BatchItemBase[Any]):
    def __init__(self, batch: BatchBase, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class ScriptedBatch(BatchBase):
    """A batch whose _flush runs ``script(batch)``; counts flushes and switches."""

    def __init__(self, script: Any = None) -> None:
        super().__init__()
        self.script = script or (lambda batch: [i.set_value(i.key * 10) for i in batch.items])
        self.flush_calls = 0
        self.switch_calls = 0
        self.cancel_calls = 0

    def _try_switch_active_batch(self) -> None:
        self.switch_calls += 1

    def _flush(self) -> None:
        self.flush_calls += 1
        self.script(self)

    def _cancel(self) -> None:
        self.cancel_calls += 1


def test_the_umbrella_module_layout() -> None:
    for name in (
        "BatchBase",
        "BatchItemBase",
        "BatchingError",
        "BatchCancelledError",
        "DebugBatch",
        "DebugBatchItem",
        "sync",
    ):
        assert hasattr(batching, name)
    assert issubclass(BatchCancelledError, BatchingError)


def test_items_register_in_their_batch() -> None:
    batch = ScriptedBatch()
    assert batch.is_empty()
    first, second = Item(batch, 1), Item(batch, 2)
    assert batch.items == [first, second]
    assert (first.index, second.index) == (0, 1)
    assert first.batch is batch
    assert first.flush_group() is batch
    assert isinstance(first, DeferredFuture)
    assert not batch.is_empty()
    assert batch.get_priority() == (0, 2)


def test_asking_an_item_value_flushes_its_batch_once() -> None:
    batch = ScriptedBatch()
    first, second = Item(batch, 1), Item(batch, 2)
    assert not batch.is_flushed()
    assert first.value() == 10
    assert second.is_computed() and second.value() == 20
    assert batch.is_flushed() and not batch.is_cancelled()
    assert batch.is_computed() and batch.value() is None
    batch.flush()
    assert (batch.flush_calls, batch.switch_calls) == (1, 1)


def test_an_empty_batch_flushes_without_calling_flush() -> None:
    batch = ScriptedBatch()
    batch.flush()
    assert batch.is_flushed()
    assert batch.flush_calls == 0
    assert batch.switch_calls == 1


def test_adding_to_a_flushed_batch_is_refused() -> None:
    batch = ScriptedBatch()
    Item(batch, 1)
    batch.flush()
    with pytest.raises(BatchingError, match=r"Item\(\): cannot add an item .* flushed"):
        Item(batch, 2)
    assert len(batch.items) == 1


def test_an_item_needs_a_batch() -> None:
    with pytest.raises(TypeError, match=r"Item\(\) takes a BatchBase, got 'nope'"):
        Item("nope", 1)  # type: ignore[arg-type]


def test_items_made_while_flushing_go_to_the_new_active_batch() -> None:
    class Source:
        def __init__(self) -> None:
            self.active = SwitchingBatch(self)

    class SwitchingBatch(BatchBase):
        def __init__(self, source: Source) -> None:
            super().__init__()
            self.source = source

        def _try_switch_active_batch(self) -> None:
            if self.source.active is self:
                self.source.active = SwitchingBatch(self.source)

        def _flush(self) -> None:
            # A follow-up request made while this batch flushes.
            made_during_flush.append(Item(self.source.active, "late"))
            for item in self.items:
                item.set_value(item.key)

    made_during_flush: list[Item] = []
    source = Source()
    first_batch = source.active
    early = Item(first_batch, "early")
    assert early.value() == "early"
    (late,) = made_during_flush
    assert late.batch is source.active
    assert late.batch is not first_batch
    assert first_batch.items == [early]
    assert not late.is_computed()
    assert late.value() == "late"


def test_flush_errors_go_to_the_unset_items_not_to_the_caller() -> None:
    def half_then_fail(batch: BatchBase) -> None:
        batch.items[0].set_value("done")
        raise ConnectionError("store went away")

    batch = ScriptedBatch(half_then_fail)
    done, pending, other = Item(batch, 1), Item(batch, 2), Item(batch, 3)
    batch.flush()  # does not raise
    assert done.value() == "done"
    for item in (pending, other):
        with pytest.raises(ConnectionError, match="store went away"):
            item.value()
    assert batch.is_flushed()


def test_an_item_left_unset_gets_an_assertion_error() -> None:
    batch = ScriptedBatch(lambda batch: batch.items[0].set_value("only the first"))
    first, forgotten = Item(batch, 1), Item(batch, 2)
    batch.flush()
    assert first.value() == "only the first"
    error = forgotten.error()
    assert isinstance(error, AssertionError)
    assert "ScriptedBatch._flush() did not compute" in str(error)


def test_a_batch_without_flush_fails_its_items_clearly() -> None:
    class Lazy(BatchBase):
        def _try_switch_active_batch(self) -> None:
            pass

    batch = Lazy()
    item = Item(batch, 1)
    with pytest.raises(NotImplementedError, match="Lazy does not implement _flush"):
        item.value()


def test_keyboard_interrupt_in_flush_reaches_items_and_caller() -> None:
    def interrupted(batch: BatchBase) -> None:
        raise KeyboardInterrupt

    batch = ScriptedBatch(interrupted)
    item = Item(batch, 1)
    with pytest.raises(KeyboardInterrupt):
        batch.flush()
    assert isinstance(item.error(), KeyboardInterrupt)


def test_cancel_fails_every_item_with_batch_cancelled_error() -> None:
    batch = ScriptedBatch()
    items = [Item(batch, key) for key in range(3)]
    batch.cancel()
    assert batch.is_cancelled()
    assert (batch.cancel_calls, batch.switch_calls) == (1, 1)
    for item in items:
        with pytest.raises(BatchCancelledError):
            item.value()
    batch.flush()  # a cancelled batch is never flushed
    assert batch.flush_calls == 0
    with pytest.raises(BatchingError, match="cancelled"):
        Item(batch, 4)


def test_cancel_with_an_error_uses_it() -> None:
    batch = ScriptedBatch()
    item = Item(batch, 1)
    error = TimeoutError("deadline passed")
    batch.cancel(error)
    assert item.error() is error


def test_cancel_after_flush_changes_nothing() -> None:
    batch = ScriptedBatch()
    item = Item(batch, 1)
    batch.flush()
    batch.cancel()
    assert item.value() == 10
    assert not batch.is_cancelled()
    assert batch.cancel_calls == 0


def test_cancel_with_what_is_not_an_exception_fails_the_items_with_a_type_error() -> None:
    # asynq 1.x stores it as the items' error, and asking their value fails.
    batch = ScriptedBatch()
    item = Item(batch, 1)
    batch.cancel("nope")  # type: ignore[arg-type]
    assert batch.is_cancelled()
    with pytest.raises(TypeError, match=r"ScriptedBatch.cancel\(\) takes an exception.*'nope'"):
        item.value()


def test_its_own_flush_may_cancel_a_batch_as_in_asynq_1x() -> None:
    def store_down(batch: BatchBase) -> None:
        batch.items[0].set_value("first")
        batch.cancel(ConnectionError("store down"))
        for item in batch.items:
            if not item.is_computed():
                item.set_value("too late")

    batch = ScriptedBatch(store_down)
    first, second = Item(batch, 1), Item(batch, 2)
    batch.flush()
    assert batch.is_cancelled() and not batch.is_flushed()
    assert batch.cancel_calls == 1
    assert first.value() == "first"
    with pytest.raises(ConnectionError, match="store down"):
        second.value()


def test_cancel_while_flushing_from_elsewhere_is_refused() -> None:
    seen: list[BaseException] = []
    other = ScriptedBatch()
    Item(other, 1)

    def cancel_other(batch: BatchBase) -> None:
        if batch is not other:
            other_item = Item(other, 2)  # flushes other, whose flush cancels this one
            other.script = lambda other_batch: cancel_first(other_batch)
            other_item.value()
        for item in batch.items:
            item.set_value("flushed")

    def cancel_first(other_batch: BatchBase) -> None:
        try:
            first.cancel()
        except BatchingError as error:
            seen.append(error)
        for item in other_batch.items:
            item.set_value("other")

    first = ScriptedBatch(cancel_other)
    item = Item(first, 1)
    assert item.value() == "flushed"
    assert len(seen) == 1 and "flushing" in str(seen[0])


def test_its_own_flush_may_add_items_to_a_batch_as_in_asynq_1x() -> None:
    def expand(batch: BatchBase) -> None:
        if len(batch.items) == 1:
            added.append(Item(batch, 2))
        for item in batch.items:
            item.set_value(item.key * 10)

    added: list[Item] = []
    batch = ScriptedBatch(expand)
    assert Item(batch, 1).value() == 10
    assert [item.value() for item in added] == [20]
    with pytest.raises(BatchingError, match="flushed"):
        Item(batch, 3)


def test_asking_an_item_while_its_batch_flushes_is_an_error() -> None:
    def peek(batch: BatchBase) -> None:
        with pytest.raises(BatchingError, match=r"while its batch .* is flushing"):
            batch.items[1].value()
        for item in batch.items:
            item.set_value(item.key)

    batch = ScriptedBatch(peek)
    first, second = Item(batch, 1), Item(batch, 2)
    assert (first.value(), second.value()) == (1, 2)


def test_a_failing_subscriber_does_not_leave_items_unset(caplog: pytest.LogCaptureFixture) -> None:
    batch = ScriptedBatch(lambda batch: None)
    items = [Item(batch, key) for key in range(3)]

    def broken_subscriber(future: Any) -> None:
        raise RuntimeError("subscriber bug")

    items[0].on_computed.subscribe(broken_subscriber)
    batch.flush()  # the subscriber's error is reported, not raised (as in asynq 1.x)
    assert all(isinstance(item.error(), AssertionError) for item in items)
    assert "subscriber bug" in caplog.text


def test_a_task_yielding_the_batch_waits_for_its_flush() -> None:
    batch = ScriptedBatch()
    item = Item(batch, 4)

    @asynq()
    def wait_for_batch() -> Any:
        yield batch
        return item.is_computed()

    assert wait_for_batch() is True
    assert item.value() == 40
