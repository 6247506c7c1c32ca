"""@batched(key_fn=...): loaders whose keys are compound or unhashable.

Requests are deduplicated and cached by ``key_fn(key)``; the bulk function
gets the original keys, one per ``key_fn`` value, and every requester gets
the value of its key. Each bulk function logs the keys of its calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
from typing import Any

import pytest

from asynq_batching import BatchedLoader, MissingKeyError, batched
from asynq_core import asynq, tracing
from asynq_core.asynq_to_async import request

TITLES = {(1, "en"): "Hello", (1, "fr"): "Bonjour", (2, "en"): "Bye"}


def by_id_and_lang(key: dict[str, Any]) -> tuple[Any, ...]:
    return (key["id"], key["lang"])


def titles_loader(**options: Any) -> tuple[Any, list[list[Any]]]:
    """A loader of titles by ``{"id": ..., "lang": ...}`` (a dict: unhashable)."""
    calls: list[list[Any]] = []

    @batched(key_fn=by_id_and_lang, **options)
    def titles(keys: list[dict[str, Any]]) -> dict[tuple[Any, ...], str]:
        calls.append([dict(key) for key in keys])
        found = {}
        for key in keys:
            if by_id_and_lang(key) in TITLES:
                found[by_id_and_lang(key)] = TITLES[by_id_and_lang(key)]
        return found

    return titles, calls


@asynq()
def gather(loader: Any, keys: list[Any]) -> Any:
    return (yield [loader.asynq(key) for key in keys])


def test_dict_keys_are_deduplicated_by_the_key_function() -> None:
    titles, calls = titles_loader()
    keys = [
        {"id": 1, "lang": "en"},
        {"lang": "en", "id": 1, "trace": "ignored by key_fn"},
        {"id": 1, "lang": "fr"},
        {"id": 1, "lang": "en"},
    ]
    assert gather(titles, keys) == ["Hello", "Hello", "Bonjour", "Hello"]
    # One call, one original key per key_fn value: the first one requested.
    assert calls == [[{"id": 1, "lang": "en"}, {"id": 1, "lang": "fr"}]]


def test_every_requester_gets_the_value_from_a_list_result() -> None:
    calls: list[list[list[int]]] = []

    @batched(key_fn=tuple)
    def sums(keys: list[list[int]]) -> list[int]:
        calls.append([list(key) for key in keys])
        return [sum(key) for key in keys]

    assert gather(sums, [[1, 2], [3], [1, 2], [3]]) == [3, 3, 3, 3]
    assert calls == [[[1, 2], [3]]]


@dataclasses.dataclass
class Query:
    """Unhashable (a dataclass with eq=True and not frozen): needs a key function."""

    table: str
    row: int
    note: str = ""


def test_dataclass_keys_under_asyncio_fill_one_batch() -> None:
    calls: list[list[Query]] = []

    @batched(key_fn=lambda query: (query.table, query.row))
    async def rows(queries: list[Query]) -> dict[tuple[str, int], str]:
        calls.append(list(queries))
        return {(query.table, query.row): f"{query.table}#{query.row}" for query in queries}

    async def main() -> Any:
        return await asyncio.gather(
            rows.asyncio(Query("users", 1)),
            rows.asyncio(Query("users", 1, note="same row")),
            rows.asyncio(Query("posts", 7)),
        )

    assert asyncio.run(main()) == ["users#1", "users#1", "posts#7"]
    assert calls == [[Query("users", 1), Query("posts", 7)]]


def test_a_dict_result_may_be_keyed_by_the_original_hashable_key() -> None:
    calls: list[list[str]] = []

    @batched(key_fn=str.lower)
    def emails(addresses: list[str]) -> dict[str, int]:
        calls.append(list(addresses))
        return {address: len(address) for address in addresses}

    assert gather(emails, ["Ann@X.org", "ann@x.org", "bo@y.org"]) == [9, 9, 8]
    assert calls == [["Ann@X.org", "bo@y.org"]]


def test_a_missing_key_names_the_original_key() -> None:
    titles, _ = titles_loader()
    with pytest.raises(MissingKeyError) as raised:
        titles({"id": 9, "lang": "en"})
    assert raised.value.key == {"id": 9, "lang": "en"}
    assert "titles" in str(raised.value) and "{'id': 9, 'lang': 'en'}" in str(raised.value)
    defaulted, _ = titles_loader(default="?")
    assert defaulted({"id": 9, "lang": "en"}) == "?"


def test_a_split_batch_sends_each_key_function_value_once() -> None:
    titles, calls = titles_loader(max_size=2)
    keys = [{"id": 1, "lang": "en"}, {"id": 1, "lang": "fr"}, {"id": 1, "lang": "en"}]
    keys += [{"id": 2, "lang": "en"}]
    assert gather(titles, keys) == ["Hello", "Bonjour", "Hello", "Bye"]
    assert calls == [[{"id": 1, "lang": "en"}, {"id": 1, "lang": "fr"}], [{"id": 2, "lang": "en"}]]


def test_the_run_cache_is_keyed_by_the_key_function() -> None:
    titles, calls = titles_loader(cache=True)

    @asynq()
    def run() -> Any:
        first = yield titles.asynq({"id": 1, "lang": "en"})
        again = yield titles.asynq({"lang": "en", "id": 1})
        titles.prime({"id": 2, "lang": "en"}, "primed")
        primed = yield titles.asynq({"id": 2, "lang": "en", "extra": True})
        titles.clear({"id": 1, "lang": "en"})
        refetched = yield titles.asynq({"id": 1, "lang": "en"})
        return first, again, primed, refetched

    assert run() == ("Hello", "Hello", "primed", "Hello")
    assert calls == [[{"id": 1, "lang": "en"}], [{"id": 1, "lang": "en"}]]


def test_requests_keep_their_caches_apart_with_a_key_function() -> None:
    titles, calls = titles_loader(cache=True)

    async def handle(prime: bool) -> Any:
        async with request():
            if prime:
                titles.prime({"id": 1, "lang": "en"}, "primed")
            first = await titles.asyncio({"id": 1, "lang": "en"})
            second = await titles.asyncio({"id": 1, "lang": "en"})
            return first, second

    async def main() -> Any:
        return await asyncio.gather(handle(True), handle(False))

    assert asyncio.run(main()) == [("primed", "primed"), ("Hello", "Hello")]
    assert calls == [[{"id": 1, "lang": "en"}]]


class Shard:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[list[Any]] = []

    @batched(key_fn=tuple)
    def values(self, keys: list[list[int]]) -> list[str]:
        self.calls.append([list(key) for key in keys])
        return [f"{self.name}:{sum(key)}" for key in keys]


def test_a_method_loader_with_a_key_function_batches_per_instance() -> None:
    east, west = Shard("east"), Shard("west")

    @asynq()
    def main() -> Any:
        return (
            yield [east.values.asynq([1, 2]), west.values.asynq([1, 2]), east.values.asynq([1, 2])]
        )

    assert main() == ["east:3", "west:3", "east:3"]
    assert east.calls == [[[1, 2]]] and west.calls == [[[1, 2]]]


def test_a_key_function_that_fails_is_a_clear_error_naming_the_loader_and_key() -> None:
    titles, calls = titles_loader()
    with pytest.raises(
        TypeError,
        match=r"@batched\(\) .*titles: key_fn by_id_and_lang failed on the key "
        r"\{'id': 1\}: KeyError: 'lang'",
    ) as raised:
        titles.asynq({"id": 1})
    assert isinstance(raised.value.__cause__, KeyError)

    @asynq()
    def main() -> Any:
        good = titles.asynq({"id": 1, "lang": "en"})
        try:
            titles.asynq({"lang": "en"})
        except TypeError:
            pass
        return (yield good)

    # The bad key fails only its own call; the round goes on without it.
    assert main() == "Hello"
    assert calls == [[{"id": 1, "lang": "en"}]]


def test_a_key_function_returning_an_unhashable_value_is_a_clear_error() -> None:
    @batched(key_fn=lambda key: [key])
    def values(keys: list[int]) -> list[int]:
        return keys

    with pytest.raises(
        TypeError, match=r"values: key_fn .*<lambda> returned \[5\] \(list\) for the key 5: it must"
    ):
        values(5)


def test_an_unhashable_key_without_a_key_function_names_the_fix() -> None:
    @batched()
    def values(keys: list[Any]) -> list[Any]:
        return keys

    with pytest.raises(TypeError, match=r"values: keys must be hashable, got \{'a': 1\}"):
        values.asynq({"a": 1})


def test_key_fn_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"batched\(key_fn='id'\): key_fn must be None or a"):
        batched(key_fn="id")  # type: ignore[arg-type]


def test_a_loader_made_directly_honours_its_key_function() -> None:
    def sums(keys: list[list[int]]) -> list[int]:
        return [sum(key) for key in keys]

    options: dict[str, Any] = {"max_size": None, "missing": "error", "default": None}
    options.update(cache=False, concurrent=False, fetch_in_thread=True)
    loader = BatchedLoader(sums, key_fn=tuple, **options)
    assert gather(loader, [[1, 2], [1, 2]]) == [3, 3]
    plain = BatchedLoader(sums, **options)
    assert type(plain) is BatchedLoader and plain.key_fn is None


def test_record_and_replay_know_a_request_by_its_key_function_value(tmp_path: Any) -> None:
    titles, calls = titles_loader()

    @asynq()
    def main() -> Any:
        first = yield [titles.asynq({"id": 1, "lang": "en"}), titles.asynq({"lang": "en", "id": 1})]
        return first, (
            yield titles.load_many.asynq([{"id": 2, "lang": "en"}, {"id": 9, "lang": "x"}])
        )

    with tracing.record(capture=True, codec=pickle) as recording:
        recorded = main()
    recording.save(tmp_path / "titles.bin")
    fetched = len(calls)
    with tracing.replay(tmp_path / "titles.bin", codec=pickle, check_rounds=True):
        (first, (bye, missing)) = main()
    assert len(calls) == fetched  # served from the recording
    assert first == recorded[0] == ["Hello", "Hello"] and bye == "Bye"
    assert isinstance(missing, MissingKeyError) and missing.key == {"id": 9, "lang": "x"}
