"""Batch items and loaders are typed by their values and keys."""

from asynq_batching import BatchBase, BatchItemBase, batched


class Batch(BatchBase):
    def _try_switch_active_batch(self) -> None:
        pass

    def _flush(self) -> None:
        for item in self.items:
            item.set_value(len(self.items))


class Count(BatchItemBase[int]):
    pass


@batched()
def stock(fruits: list[str]) -> dict[str, int]:
    return {fruit: len(fruit) for fruit in fruits}


label: str = Count(Batch()).value()  # error: mypy[assignment] pyright[reportAssignmentType]
stock(1)  # error: mypy[arg-type] pyright[reportArgumentType]
size: str = stock("pear")  # error: mypy[assignment] pyright[reportAssignmentType]


@batched(cache={})
def squares(numbers: list[int]) -> dict[int, int]:
    return {number: number * number for number in numbers}


# load_many gives each key its value or its exception: narrow before use.
square: int = squares.load_many([1])[0]  # error: mypy[assignment] pyright[reportAssignmentType]
squares.load_many(["a"])  # error: mypy[list-item] pyright[reportArgumentType]
squares.prime_many({"a": 1})  # error: mypy[arg-type] pyright[reportArgumentType]
