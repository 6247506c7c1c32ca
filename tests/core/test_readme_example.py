"""The README's batching example, run with asynq-core alone.

The asynq version of ``all_author_names`` is taken from the README itself and
run against two stores whose lookups are deferred futures: whatever the number
of answers, it makes exactly two round trips, one per store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from asynq_core import asynq
from asynq_core.futures import DeferredFuture

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_asynq_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    for block in blocks:
        if "@asynq()\ndef all_author_names" in block:
            # With asynq-core alone the same decorator comes from asynq_core.
            return str(block).replace("from asynq import asynq", "from asynq_core import asynq")
    raise AssertionError("README.md has no @asynq() all_author_names example")


class Lookup(DeferredFuture[Any]):
    __slots__ = ("store", "key")

    def __init__(self, store: Store, key: Any) -> None:
        super().__init__()
        self.store = store
        self.key = key

    def flush_group(self) -> Store:
        return self.store


class Store:
    """A dict read through one multi-key request per flush."""

    def __init__(self, data: dict[Any, Any]) -> None:
        self.data = data
        self.pending: list[Lookup] = []
        self.round_trips = 0

    def get(self, key: Any) -> Lookup:
        lookup = Lookup(self, key)
        self.pending.append(lookup)
        return lookup

    def get_priority(self) -> Any:
        return len(self.pending)

    def flush(self) -> None:
        lookups, self.pending = self.pending, []
        if lookups:
            self.round_trips += 1
        for lookup in lookups:
            lookup.set_value(self.data[lookup.key])


@pytest.mark.parametrize("n", [1, 2, 10, 200])
def test_the_readme_example_makes_two_round_trips_whatever_n(n: int) -> None:
    answers = Store({aid: 1000 + aid % 7 for aid in range(n)})
    users = Store({1000 + uid: f"user {uid}" for uid in range(7)})

    @asynq()
    def author_of_answer(aid: int) -> Any:
        return (yield answers.get(aid))

    @asynq()
    def name_of_user(uid: int) -> Any:
        return (yield users.get(uid))

    namespace: dict[str, Any] = {
        "asynq": asynq,
        "author_of_answer": author_of_answer,
        "name_of_user": name_of_user,
    }
    exec(readme_asynq_example(), namespace)
    all_author_names = namespace["all_author_names"]

    aids = list(range(n))
    assert all_author_names(aids) == [f"user {aid % 7}" for aid in aids]
    assert (answers.round_trips, users.round_trips) == (1, 1)
