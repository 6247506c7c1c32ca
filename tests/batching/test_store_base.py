"""BatchedStore, the client API shared by the stores, on an in-process backend.

``ShardedDict`` implements the four backend hooks over dicts, one per
"server", logging each request and failing on demand, so the batching rules
(one request per server per chunk, errors confined to their keys, MISSING
versus None, writes before reads) are checked without any server.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import enum
import pickle
import sys
import threading
import zlib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import pytest

from asynq_batching import MissingKeyError
from asynq_batching.stores import (
    MISSING,
    BatchedStore,
    BytesCodec,
    JsonCodec,
    PickleCodec,
    StoreError,
)
from asynq_core import asynq


class ShardedDict(BatchedStore):
    def __init__(self, servers: int = 1, **options: Any) -> None:
        options.setdefault("codec", JsonCodec())
        options.setdefault("max_batch_size", 100)
        super().__init__(**options)
        self.shards: dict[str, dict[Any, Any]] = {f"s{i}": {} for i in range(servers)}
        self.requests: list[tuple[str, str | None, list[Any]]] = []
        self.down: dict[str, BaseException] = {}
        self.refuse: set[Any] = set()

    def shard_of(self, key: Any) -> str:
        names = sorted(self.shards)
        return names[zlib.crc32(str(key).encode()) % len(names)]

    def _partition(self, keys: list[Any]) -> Iterable[tuple[str | None, list[Any]]]:
        by_shard: dict[str, list[Any]] = {}
        for key in keys:
            by_shard.setdefault(self.shard_of(key), []).append(key)
        return list(by_shard.items())

    def _shard(self, operation: str, server: str | None, keys: list[Any]) -> dict[Any, Any]:
        assert server is not None
        self.requests.append((operation, server, list(keys)))
        if server in self.down:
            raise self.down[server]
        return self.shards[server]

    def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
        shard = self._shard("get", server, keys)
        return {key: shard[key] for key in keys if key in shard}

    def _store(self, server: str | None, values: dict[Any, Any]) -> Collection[Any]:
        shard = self._shard("set", server, list(values))
        refused = [key for key in values if key in self.refuse]
        shard.update((key, data) for key, data in values.items() if key not in self.refuse)
        return refused

    def _remove(self, server: str | None, keys: list[Any]) -> None:
        shard = self._shard("delete", server, keys)
        for key in keys:
            shard.pop(key, None)

    def put(self, key: Any, value: Any) -> None:
        """Writes directly, bypassing the client."""
        self.shards[self.shard_of(key)][key] = self.codec.encode(value)  # type: ignore[union-attr]


def test_missing_keys_are_distinct_from_stored_none() -> None:
    store = ShardedDict()
    store.put("none", None)
    assert store.get("none") is None
    assert store.get("absent") is MISSING
    assert store.get("absent", default="fallback") == "fallback"
    assert store.get("none", default="fallback") is None
    assert store.get_many(["none", "absent"]) == {"none": None}


def test_missing_survives_copy_and_pickle() -> None:
    assert copy.deepcopy(MISSING) is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert repr(MISSING) == "MISSING"


def test_set_get_delete_round_trip() -> None:
    store = ShardedDict()
    store.set("k", {"nested": [1, 2]})
    assert store.get("k") == {"nested": [1, 2]}
    store.set_many({"a": 1, "b": 2})
    assert store.get_many(["a", "b", "k", "c"]) == {"a": 1, "b": 2, "k": {"nested": [1, 2]}}
    store.delete("a")
    store.delete_many(["b", "never there"])
    assert store.get_many(["a", "b", "k"]) == {"k": {"nested": [1, 2]}}


def test_lookups_of_one_round_are_one_request() -> None:
    store = ShardedDict()
    for i in range(20):
        store.put(f"k{i}", i)
    keys = [f"k{i}" for i in range(20)] + ["k3", "absent", "k3"]

    @asynq()
    def read(key: str) -> Any:
        return (yield store.get.asynq(key))

    @asynq()
    def main() -> Any:
        return (yield [read.asynq(key) for key in keys])

    assert main() == [*range(20), 3, MISSING, 3]
    assert store.request_count == 1
    ((operation, _, sent),) = store.requests
    assert operation == "get"
    assert sent == [f"k{i}" for i in range(20)] + ["absent"]  # each key once


def test_large_batches_are_split_by_max_batch_size() -> None:
    store = ShardedDict(max_batch_size=7)
    keys = [f"k{i}" for i in range(30)]
    store.set_many({key: key.upper() for key in keys})
    assert [len(sent) for _, _, sent in store.requests] == [7, 7, 7, 7, 2]
    store.requests.clear()
    assert store.get_many(keys) == {key: key.upper() for key in keys}
    assert [len(sent) for _, _, sent in store.requests] == [7, 7, 7, 7, 2]
    assert store.request_count == 10


def test_one_request_per_server_per_flush() -> None:
    store = ShardedDict(servers=3)
    keys = [f"k{i}" for i in range(60)]
    store.set_many(dict.fromkeys(keys, 1))
    store.requests.clear()
    assert store.get_many(keys) == dict.fromkeys(keys, 1)
    servers = [server for _, server, _ in store.requests]
    assert sorted(servers) == ["s0", "s1", "s2"]
    for _, server, sent in store.requests:
        assert all(store.shard_of(key) == server for key in sent)


def test_a_failing_server_fails_only_its_keys() -> None:
    store = ShardedDict(servers=2)
    keys = [f"k{i}" for i in range(20)]
    store.set_many(dict.fromkeys(keys, "v"))
    down = ConnectionRefusedError("s1 is down")
    store.down["s1"] = down
    outcomes: dict[str, Any] = {}

    @asynq()
    def read(key: str) -> Any:
        try:
            outcomes[key] = yield store.get.asynq(key)
        except ConnectionRefusedError as error:
            outcomes[key] = error

    @asynq()
    def main() -> Any:
        yield [read.asynq(key) for key in keys]

    main()
    on_s1 = [key for key in keys if store.shard_of(key) == "s1"]
    assert {key: outcomes[key] for key in keys if key not in on_s1} == {
        key: "v" for key in keys if key not in on_s1
    }
    errors = {id(outcomes[key]): outcomes[key] for key in on_s1}
    [error] = errors.values()  # one request failed: its waiters share its error
    assert isinstance(error, ConnectionRefusedError) and error.__cause__ is down
    shown = ", ".join(repr(key) for key in on_s1[:3])
    assert str(error) == (
        f"s1 is down (ShardedDict get of {shown} and {len(on_s1) - 3} more keys on server s1)"
    )
    assert str(down) == "s1 is down"  # the original is left as it was


def test_a_failing_chunk_does_not_stop_the_next_chunks() -> None:
    store = ShardedDict(max_batch_size=2)
    store.set_many({"a": 1, "b": 2, "c": 3})
    calls = 0

    def fail_first_request(operation: str, server: Any, keys: list[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("first request timed out")

    store.on_request.subscribe(fail_first_request)

    @asynq()
    def read(key: str) -> Any:
        try:
            return (yield store.get.asynq(key))
        except TimeoutError:
            return "timed out"

    @asynq()
    def main() -> Any:
        return (yield [read.asynq(key) for key in "abc"])

    assert main() == ["timed out", "timed out", 3]


def test_an_undecodable_value_fails_only_its_key() -> None:
    store = ShardedDict()
    store.put("good", "fine")
    store.shards["s0"]["bad"] = b"{not json"

    @asynq()
    def main() -> Any:
        good = store.get.asynq("good")
        bad = store.get.asynq("bad")
        yield [good, bad.batch]  # wait for the flush without raising
        return good.value(), bad.error()

    good, error = main()
    assert good == "fine"
    assert isinstance(error, ValueError)
    assert str(error).endswith(
        "(ShardedDict get of 'bad' on server s0, decoding its 9 bytes with JsonCodec())"
    )


@pytest.mark.parametrize(
    ("data", "error_type"),
    [(b"\x80not utf-8", UnicodeDecodeError), (b"\x00\x01", ValueError), (b"[1,", ValueError)],
)
def test_a_foreign_value_names_its_key_and_the_codec(data: bytes, error_type: type) -> None:
    store = ShardedDict()
    store.shards["s0"]["foreign"] = data
    with pytest.raises(error_type) as raised:
        store.get("foreign")
    assert str(raised.value).endswith(
        f"(ShardedDict get of 'foreign' on server s0, decoding its {len(data)} bytes "
        "with JsonCodec())"
    )
    pickled = ShardedDict(codec=PickleCodec())
    pickled.shards["s0"]["foreign"] = data
    with pytest.raises(Exception, match=r"decoding its \d+ bytes with PickleCodec\(protocol="):
        pickled.get("foreign")


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ({1: "a"}, r"the int key 1: JSON object keys are text, it would come back as '1'"),
        ((1, 2), r"a tuple: it would come back as a list"),
        ({"ids": [1, (2, 3)]}, r"a tuple at \['ids'\]\[1\]: it would come back as a list"),
        ([{"a": {True: 1}}], r"the bool key True at \[0\]\['a'\]: JSON object keys are text"),
        (Color.RED, r"a Color: it would not come back as it went"),
        (collections.OrderedDict(a=1), r"an OrderedDict: it would not come back as it went"),
        ({"blob": b"x"}, r"a bytes at \['blob'\]: it would not come back"),
        ({"s": {1}}, r"a set at \['s'\]"),
    ],
)
def test_json_refuses_what_it_would_not_give_back(value: Any, refusal: str) -> None:
    with pytest.raises(TypeError, match=rf"^JsonCodec cannot store {refusal}"):
        JsonCodec().encode(value)
    store = ShardedDict()
    kind = type(value).__name__
    with pytest.raises(
        TypeError,
        match=rf"ShardedDict.set\(\): cannot encode the value of 'k' \({kind}\) with "
        rf"JsonCodec\(\): JsonCodec cannot store {refusal}",
    ):
        store.set.asynq("k", value)
    assert store.requests == []


def test_json_refuses_a_value_that_contains_itself() -> None:
    looped: list[Any] = [1]
    looped.append({"again": looped})
    with pytest.raises(ValueError, match=r"JsonCodec cannot store a list that contains itself"):
        JsonCodec().encode(looped)


def test_json_gives_back_what_it_takes() -> None:
    value = {
        "none": None,
        "flags": [True, False],
        "numbers": [0, -1, 2**80, 1.5, -0.0, float("inf")],
        "text": "é\u2028",
        "nested": [[{"k": []}], {}],
    }
    codec = JsonCodec()
    assert codec.decode(codec.encode(value)) == value
    shared = [1, 2]
    assert codec.decode(codec.encode({"a": shared, "b": shared})) == {"a": [1, 2], "b": [1, 2]}


def test_writes_of_a_round_flush_before_its_reads() -> None:
    store = ShardedDict()

    @asynq()
    def writer() -> Any:
        yield store.set.asynq("k", "written")

    @asynq()
    def reader() -> Any:
        return (yield store.get.asynq("k"))

    @asynq()
    def main() -> Any:
        # The reader asks first, yet the write is sent first.
        read, _ = yield [reader.asynq(), writer.asynq()]
        return read

    assert main() == "written"
    assert [operation for operation, _, _ in store.requests] == ["set", "get"]


def test_the_last_write_of_a_round_wins() -> None:
    store = ShardedDict()

    @asynq()
    def main() -> Any:
        yield [store.set.asynq("k", 1), store.set.asynq("k", 2)]

    main()
    assert store.get("k") == 2
    assert store.requests[0] == ("set", "s0", ["k"])


def test_a_backend_may_fail_single_keys_of_a_write_with_errors_of_their_own() -> None:
    class PickyDict(ShardedDict):
        def _store(
            self, server: str | None, values: dict[Any, Any]
        ) -> Mapping[Any, BaseException | None]:
            super()._store(server, {k: v for k, v in values.items() if k.startswith("ok")})
            return {
                key: None if key == "quiet" else ValueError(f"too big: {key}")
                for key in values
                if not key.startswith("ok")
            }

    store = PickyDict()

    @asynq()
    def write(key: str) -> Any:
        try:
            yield store.set.asynq(key, 1)
        except Exception as error:
            return error
        return "stored"

    @asynq()
    def main() -> Any:
        return (yield [write.asynq(key) for key in ("ok1", "big", "quiet", "ok2")])

    ok1, big, quiet, ok2 = main()
    assert (ok1, ok2) == ("stored", "stored")
    assert isinstance(big, ValueError) and str(big) == "too big: big"
    assert isinstance(quiet, StoreError) and "did not store 'quiet'" in str(quiet)
    assert store.get_many(["ok1", "big", "ok2"]) == {"ok1": 1, "ok2": 1}


def test_errors_keep_their_type_and_name_the_request() -> None:
    class Odd(Exception):
        def __init__(self, code: int, detail: str) -> None:
            super().__init__(code)
            self.detail = detail

    for raised, message in [
        (OSError(5, "I/O error"), "[Errno 5] I/O error (ShardedDict get of 'k' on server s0)"),
        (TimeoutError("timed out"), "timed out (ShardedDict get of 'k' on server s0)"),
        (KeyError(b"raw"), "\"raw (ShardedDict get of 'k' on server s0)\""),
        (RuntimeError(), "ShardedDict get of 'k' on server s0"),
        (Odd(7, "x"), "Odd(7)"),  # cannot be copied: raised as it is
    ]:
        store = ShardedDict()
        store.down["s0"] = raised
        with pytest.raises(type(raised)) as caught:
            store.get("k")
        if isinstance(raised, Odd):
            assert caught.value is raised and repr(raised) == message
        else:
            assert str(caught.value) == message and caught.value.__cause__ is raised


def test_keys_the_server_refuses_fail_with_store_error() -> None:
    store = ShardedDict()
    store.refuse.add("refused")
    with pytest.raises(StoreError, match="did not store 'refused'"):
        store.set_many({"ok": 1, "refused": 2})
    assert store.get("ok") == 1


def test_bad_input_is_refused_when_the_call_is_made() -> None:
    store = ShardedDict()
    with pytest.raises(TypeError, match=r"ShardedDict.get\(\): keys must be hashable, got \[1\]"):
        store.get.asynq([1])
    with pytest.raises(TypeError, match=r"ShardedDict.get_many\(\) takes an iterable of keys"):
        store.get_many.asynq("abc")  # refused at the call, not when the task runs
    with pytest.raises(TypeError, match=r"ShardedDict.delete_many\(\): keys must be hashable"):
        store.delete_many.asynq(["fine", {}])
    with pytest.raises(TypeError, match=r"ShardedDict.set_many\(\) takes a mapping"):
        store.set_many([("a", 1)])
    with pytest.raises(TypeError, match=r"ShardedDict.set\(\): cannot encode the value of 'k'"):
        store.set.asynq("k", object())
    with pytest.raises(TypeError, match=r"ShardedDict.set_many\(\): cannot encode"):
        store.set_many({"fine": 1, "bad": {1, 2}})
    assert store.requests == []  # nothing half-sent
    assert store.get("fine") is MISSING


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "10"])
def test_max_batch_size_must_be_a_positive_int(size: Any) -> None:
    with pytest.raises(ValueError, match=r"ShardedDict: max_batch_size must be an int >= 1"):
        ShardedDict(max_batch_size=size)


def test_a_codec_needs_encode_and_decode() -> None:
    with pytest.raises(TypeError, match="ShardedDict: codec must have encode"):
        ShardedDict(codec="json")


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        (JsonCodec(), {"list": [1, "two", None], "unicode": "é"}),
        (PickleCodec(), {("tuple", "key"): {1, 2}, "bytes": b"\x00"}),
        (BytesCodec(), b"\x00\xffraw"),
    ],
)
def test_codecs_round_trip(codec: Any, value: Any) -> None:
    assert isinstance(codec.encode(value), bytes)
    assert codec.decode(codec.encode(value)) == value
    store = ShardedDict(codec=codec)
    store.set("k", value)
    assert store.get("k") == value


def test_bytes_codec_refuses_other_values() -> None:
    with pytest.raises(TypeError, match="BytesCodec stores bytes, got str"):
        BytesCodec().encode("text")
    # They would come back as bytes: refused rather than changed.
    for value in (bytearray(b"x"), memoryview(b"x")):
        refused = rf"BytesCodec stores bytes, got {type(value).__name__} .*bytes\(value\)"
        with pytest.raises(TypeError, match=refused):
            BytesCodec().encode(value)


def test_on_request_sees_every_request() -> None:
    store = ShardedDict(servers=2, max_batch_size=3)
    seen: list[tuple[str, Any, int]] = []
    store.on_request.subscribe(
        lambda operation, server, keys: seen.append((operation, server, len(keys)))
    )
    keys = [f"k{i}" for i in range(10)]
    store.set_many(dict.fromkeys(keys, 0))
    store.get_many(keys)
    assert len(seen) == store.request_count == len(store.requests)
    assert [(op, server, len(sent)) for op, server, sent in store.requests] == seen


def test_batches_are_per_thread() -> None:
    store = ShardedDict()
    store.set_many({"main": 1, "thread": 2})
    pending_here = store.get.asynq("main")
    result: dict[str, Any] = {}

    def other_thread() -> None:
        item = store.get.asynq("thread")
        result["same batch"] = item.batch is pending_here.batch
        result["value"] = item.value()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert result == {"same batch": False, "value": 2}
    assert not pending_here.is_computed()
    assert pending_here.value() == 1


def test_without_a_codec_values_pass_through() -> None:
    store = ShardedDict(codec=None)
    marker = object()
    store.set("k", marker)
    assert store.get("k") is marker


def test_get_many_calls_of_one_round_share_one_request() -> None:
    store = ShardedDict()
    store.set_many({"a": 1, "b": 2, "c": 3})
    store.requests.clear()

    @asynq()
    def main() -> Any:
        return (
            yield [
                store.get_many.asynq(["a", "b"]),
                store.get_many.asynq(["b", "c", "x"]),
                store.get.asynq("c"),
            ]
        )

    assert main() == [{"a": 1, "b": 2}, {"b": 2, "c": 3}, 3]
    assert store.requests == [("get", "s0", ["a", "b", "c", "x"])]


def test_a_key_that_cannot_be_hashed_is_refused_when_the_call_is_made() -> None:
    store = ShardedDict()
    # A tuple is Hashable to isinstance, yet hashing this one fails.
    with pytest.raises(
        TypeError, match=r"ShardedDict.get\(\): keys must be hashable, got \('x', \[1\]\)"
    ):
        store.get.asynq(("x", [1]))
    with pytest.raises(TypeError, match=r"ShardedDict.delete_many\(\): keys must be hashable"):
        store.delete_many.asynq(["fine", ("y", [2])])
    assert store.get("fine") is MISSING  # the store still works
    assert [operation for operation, _, _ in store.requests] == ["get"]


def test_the_store_works_in_a_thread_whose_batch_another_thread_flushed() -> None:
    store = ShardedDict()
    store.set_many({"a": 1, "b": 2})
    pending = store.get.asynq("a")
    worker = threading.Thread(target=pending.value)  # flushes this thread's batch there
    worker.start()
    worker.join()
    assert pending.value() == 1
    assert store.get("b") == 2  # a new batch replaced the flushed one
    assert store.get_many(["a", "b"]) == {"a": 1, "b": 2}


@pytest.mark.parametrize("other_sets", [0, 5])
@pytest.mark.parametrize("other_deletes", [0, 5])
def test_a_set_and_a_delete_of_one_key_in_one_round_end_deleted(
    other_sets: int, other_deletes: int
) -> None:
    store = ShardedDict()
    store.set("k", "old")
    store.requests.clear()

    @asynq()
    def main() -> Any:
        yield [
            store.delete.asynq("k"),
            store.set.asynq("k", "new"),
            *(store.set.asynq(f"s{i}", i) for i in range(other_sets)),
            *(store.delete.asynq(f"d{i}") for i in range(other_deletes)),
            store.get.asynq("k"),
        ]

    main()
    # Sets, then deletes, then gets, whatever the sizes of the batches.
    assert [operation for operation, _, _ in store.requests] == ["set", "delete", "get"]
    assert store.get("k") is MISSING


@pytest.mark.parametrize("codec", [None, PickleCodec(), JsonCodec()])
def test_storing_missing_is_a_clear_error(codec: Any) -> None:
    store = ShardedDict(codec=codec)
    with pytest.raises(TypeError, match=r"ShardedDict.set\(\): cannot store MISSING .* under 'k'"):
        store.set.asynq("k", MISSING)
    with pytest.raises(TypeError, match=r"ShardedDict.set_many\(\): cannot store MISSING"):
        store.set_many({"a": 1, "b": MISSING})
    assert store.requests == []


def test_a_store_subclass_may_leave_max_batch_size_to_its_default() -> None:
    class Minimal(BatchedStore):
        def __init__(self) -> None:
            super().__init__()
            self.data: dict[Any, Any] = {}

        def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
            return {key: self.data[key] for key in keys if key in self.data}

        def _store(self, server: str | None, values: dict[Any, Any]) -> Collection[Any]:
            self.data.update(values)
            return ()

    store = Minimal()
    assert store.max_batch_size == 100
    store.set_many({f"k{i}": i for i in range(250)})
    assert store.request_count == 3
    assert store.get("k249") == 249


def test_star_import_works_without_the_optional_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    import asynq_batching.stores as stores

    for name in ("redis", "pymemcache"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    for name in ("asynq_batching.stores.redis", "asynq_batching.stores.memcache"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    namespace: dict[str, Any] = {}
    exec("from asynq_batching.stores import *", namespace)
    assert namespace["SqlStore"] is stores.SqlStore
    assert "RedisStore" not in stores.__all__ and "MemcacheStore" not in stores.__all__
    with pytest.raises(ImportError, match="pip install 'asynq-batching\\[redis\\]'"):
        _ = stores.RedisStore  # still looked up by name (it needs the redis extra)


# -- get_many_settled: each key's value or exception ------------------------------------


def test_get_many_settled_gives_each_key_its_value_or_exception() -> None:
    store = ShardedDict(servers=2)
    down = ConnectionRefusedError(111, "s1 is down")
    store.down["s1"] = down
    keys = [f"k{i}" for i in range(12)]
    on_s1 = [key for key in keys if store.shard_of(key) == "s1"]
    on_s0 = [key for key in keys if key not in on_s1]
    assert len(on_s1) >= 2 and len(on_s0) >= 3
    missing, bad, *present = on_s0
    for key in present:
        store.put(key, key.upper())
    store.shards["s0"][bad] = b"{not json"

    outcomes = store.get_many_settled(keys)
    assert list(outcomes) == keys
    assert {key: outcomes[key] for key in present} == {key: key.upper() for key in present}
    # A key the store does not hold: a KeyError naming the store and the key.
    assert isinstance(outcomes[missing], MissingKeyError)
    assert outcomes[missing].key == missing
    assert str(outcomes[missing]) == (
        f"ShardedDict.get_many_settled(): the store holds no value under the key {missing!r}"
    )
    # A value the codec cannot decode: the codec's error, naming the key.
    assert isinstance(outcomes[bad], ValueError)
    assert f"(ShardedDict get of {bad!r} on server s0, decoding its 9 bytes" in str(outcomes[bad])
    # A failed request: the backend's error for each of its keys, naming that key.
    for key in on_s1:
        error = outcomes[key]
        assert isinstance(error, ConnectionRefusedError) and error.__cause__ is down
        assert str(error) == (
            f"[Errno 111] s1 is down (ShardedDict get of {key!r} on server s1, "
            f"in a request of {len(on_s1)} keys)"
        )
    assert len(store.requests) == 2  # one request per server, as get_many


def test_get_many_settled_in_a_round_with_get_and_under_asyncio() -> None:
    store = ShardedDict()
    store.put("a", 1)

    @asynq()
    def main() -> Any:
        return (yield store.get_many_settled.asynq(["a", "b"]), store.get.asynq("a"))

    for settled, single in (main(), asyncio.run(main.asyncio())):
        assert single == 1 and settled["a"] == 1
        assert isinstance(settled["b"], MissingKeyError)
    assert [operation for operation, _, _ in store.requests] == ["get", "get"]
    settled = asyncio.run(store.get_many_settled.asyncio(["b", "a"]))
    assert list(settled) == ["b", "a"] and settled["a"] == 1


def test_get_many_settled_checks_keys_at_the_call() -> None:
    store = ShardedDict()
    with pytest.raises(TypeError, match=r"get_many_settled\(\) takes an iterable of keys"):
        store.get_many_settled("ab")
    with pytest.raises(TypeError, match=r"get_many_settled\(\): keys must be hashable"):
        store.get_many_settled(["a", ["b"]])
    assert store.requests == []
    assert store.get_many_settled([]) == {}


def test_a_plain_get_keeps_the_shared_request_error() -> None:
    store = ShardedDict()
    store.down["s0"] = TimeoutError("timed out")

    @asynq()
    def main() -> Any:
        plain = [store.get.asynq("x"), store.get.asynq("y")]
        settled = store.get_many_settled.asynq(["x", "y"])
        yield [plain[0].batch]
        return [item.error() for item in plain], (yield settled)

    (first, second), settled = main()
    assert first is second  # one request failed: its waiters share its error
    assert str(first) == "timed out (ShardedDict get of 'x', 'y' on server s0)"
    assert str(settled["y"]) == (
        "timed out (ShardedDict get of 'y' on server s0, in a request of 2 keys)"
    )
