"""Loaders with a key function, a cache mapping and per-key outcomes keep
their key and value types; ``load_many`` gives each key ``V | Exception``."""

import sqlite3
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache, TTLCache
from typing_extensions import reveal_type

from asynq_batching import BatchedLoader, LoadMany, MissingKeyError, batched
from asynq_batching.stores import SqlStore
from asynq_core import FutureBase, asynq


@dataclass
class Query:
    """Unhashable (eq=True, not frozen): the loader dedupes by its key function."""

    table: str
    row: int


def row_key(query: Query) -> tuple[str, int]:
    return (query.table, query.row)


@batched(key_fn=row_key, cache={})
def rows(queries: list[Query]) -> list[str]:
    return [f"{query.table}#{query.row}" for query in queries]


squares_cache: LRUCache[int, int] = LRUCache(maxsize=100)


@batched(cache=squares_cache)
def squares(numbers: list[int]) -> dict[int, int]:
    return {number: number * number for number in numbers if number >= 0}


@batched(cache=TTLCache(maxsize=100, ttl=60), key_fn=str.lower)
def emails(addresses: list[str]) -> dict[str, int]:
    return {address.lower(): len(address) for address in addresses}


@asynq()
def found_total(numbers: list[int]) -> Generator[Any, Any, int]:
    outcomes = yield squares.load_many.asynq(numbers)
    total = 0
    for outcome in outcomes:
        if not isinstance(outcome, Exception):
            total += outcome
    return total


reveal_type(rows)  # revealed: BatchedLoader[Query, str]
reveal_type(rows.load_many)  # revealed: LoadMany[Query, str]
reveal_type(rows.load_many([Query("users", 1)]))  # revealed: list[str | Exception]
reveal_type(squares.load_many.asynq([1, 2]))  # revealed: FutureBase[list[int | Exception]]
reveal_type(found_total([1, -2]))  # revealed: int

outcomes = squares.load_many([3, -1])
first, missing = outcomes
if isinstance(missing, MissingKeyError):
    reveal_type(missing)  # revealed: MissingKeyError
if not isinstance(first, Exception):
    reveal_type(first)  # revealed: int

squares.prime_many({10: 100})
squares.prime_many([(11, 121)])
rows.prime_many([(Query("users", 2), "primed")])
emails.clear("Ann@X.org")
squares.clear_all()
as_loader: BatchedLoader[int, int] = squares
as_many: LoadMany[int, int] = squares.load_many
as_future: FutureBase[list[int | Exception]] = squares.load_many.asynq([1])

connection = sqlite3.connect(":memory:")
connection.execute("CREATE TABLE users (uid TEXT PRIMARY KEY, name TEXT)")
users = SqlStore(connection, "users", key_column="uid", value_column="name")
users.set("1", "ann")
reveal_type(users.get_many_settled(["1", "2"]))  # revealed: dict[Any, Any]
settled = users.get_many_settled(["1", "2"])

assert rows(Query("posts", 7)) == "posts#7"
assert rows.load_many([Query("users", 2)]) == ["primed"]
assert first == 9 and isinstance(missing, MissingKeyError)
assert found_total([1, -2]) == 1
assert emails("Ann@X.org") == emails("ann@x.org") == 9
assert 1 in squares_cache and 3 not in squares_cache  # cleared, then 1 loaded
assert settled["1"] == "ann" and isinstance(settled["2"], MissingKeyError)
