"""Batch items are futures of their value type; loaders keep key and value types."""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

from asynq_batching import BatchBase, BatchedLoader, BatchItemBase, DebugBatchItem, batched, sync
from asynq_core import FutureBase, asynq

PRICES = {"apple": 3, "pear": 5}


class PriceBatch(BatchBase):
    """Prices looked up together: one request per flush."""

    active: "PriceBatch | None" = None
    requests = 0

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[PriceLookup] = []

    def _try_switch_active_batch(self) -> None:
        if PriceBatch.active is self:
            PriceBatch.active = PriceBatch()

    def _flush(self) -> None:
        PriceBatch.requests += 1
        for lookup in self.lookups:
            lookup.set_value(PRICES[lookup.fruit])


class PriceLookup(BatchItemBase[int]):
    def __init__(self, fruit: str) -> None:
        batch = PriceBatch.active
        if batch is None:
            batch = PriceBatch.active = PriceBatch()
        super().__init__(batch)
        batch.lookups.append(self)
        self.fruit = fruit


@asynq()
def total(fruits: list[str]) -> Generator[Any, Any, int]:
    prices: list[int] = yield [PriceLookup(fruit) for fruit in fruits]
    return sum(prices)


@batched()
def stock(fruits: list[str]) -> dict[str, int]:
    return {fruit: len(fruit) for fruit in fruits}


lookup = PriceLookup("apple")
assert_type(lookup, PriceLookup)
assert_type(lookup.value(), int)
as_future: FutureBase[int] = lookup
assert_type(total(["apple", "pear"]), int)
assert_type(stock, BatchedLoader[str, int])
assert_type(stock("pear"), int)
assert_type(stock.asynq("pear"), FutureBase[int])
assert_type(sync(), DebugBatchItem)

assert lookup.value() == 3
requests_before = PriceBatch.requests
assert total(["apple", "pear"]) == 8
assert PriceBatch.requests == requests_before + 1  # both fruits in one request
assert stock("pear") == 4
