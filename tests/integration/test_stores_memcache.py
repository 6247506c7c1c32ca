"""MemcacheStore against real memcached processes: one server, and a
HashClient pool of two.

Round trips are counted by wrapping ``get_many``/``set_many`` of the
pymemcache client that talks to each server (memcached's own ``cmd_get``
counts keys, not commands; it is checked too, per server).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from asynq_batching import MissingKeyError, sync
from asynq_batching.stores import MISSING
from asynq_core import asynq


class CallCounter:
    """Wraps methods of one pymemcache client instance, logging each call's keys."""

    def __init__(self, client: Any, *methods: str) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        for name in methods:
            setattr(client, name, self._wrap(name, getattr(client, name)))

    def _wrap(self, name: str, method: Any) -> Any:
        def counted(keys: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, list(keys)))
            return method(keys, *args, **kwargs)

        return counted

    def count(self, name: str) -> int:
        return sum(1 for called, _ in self.calls if called == name)


def cmd_get(address: tuple[str, int]) -> int:
    from pymemcache.client.base import Client

    client = Client(address, timeout=5)
    try:
        return int(client.stats()[b"cmd_get"])
    finally:
        client.close()


def remaining_ttl(address: tuple[str, int], wire_key: str) -> int:
    """The seconds left before ``wire_key`` expires (memcached's meta get ``t`` flag)."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(f"mg {wire_key} t\r\n".encode())
        reply = conn.recv(1024).decode()
    assert reply.startswith("HD"), reply
    (flag,) = [part for part in reply.split() if part.startswith("t")]
    return int(flag[1:])


@pytest.fixture
def address(memcached_server: Any) -> tuple[str, int]:
    return memcached_server.address  # type: ignore[no-any-return]


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own: the servers are shared by the session, and
    memcached's flush_all also drops items written later in the same second."""
    return f"{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def store(address: tuple[str, int], prefix: str) -> Iterator[Any]:
    from asynq_batching.stores.memcache import MemcacheStore

    with MemcacheStore.from_url(
        f"memcached://{address[0]}:{address[1]}", key_prefix=prefix
    ) as store:
        yield store


@asynq()
def read_all(store: Any, keys: list[str]) -> Any:
    return (yield [store.get.asynq(key) for key in keys])


def test_values_round_trip_and_missing_is_not_none(store: Any) -> None:
    store.set("none", None)
    store.set("data", ["x", {"y": 1}])
    assert store.get("none") is None
    assert store.get("absent") is MISSING
    assert store.get_many(["none", "data", "absent"]) == {"none": None, "data": ["x", {"y": 1}]}
    assert store.client.get(store.key_prefix + "data") == b'["x",{"y":1}]'  # prefix on the wire
    store.delete_many(["none", "data"])
    assert store.get_many(["none", "data"]) == {}


def test_a_flush_of_many_lookups_is_one_get_many(store: Any, address: tuple[str, int]) -> None:
    keys = [f"k{i}" for i in range(80)]
    store.set_many({key: i for i, key in enumerate(keys) if i % 2})
    counter = CallCounter(store.client, "get_many", "set_many")
    gets_before = cmd_get(address)

    values = read_all(store, keys + keys[:5])
    assert values == [i if i % 2 else MISSING for i in range(80)] + values[:5]
    assert counter.calls == [("get_many", [store.key_prefix + key for key in keys])]
    assert cmd_get(address) - gets_before == 80  # every key asked once


def test_writes_of_a_round_are_one_set_many(store: Any) -> None:
    counter = CallCounter(store.client, "set_many")

    @asynq()
    def write(i: int) -> Any:
        yield store.set.asynq(f"w{i}", i)

    @asynq()
    def main() -> Any:
        yield [write.asynq(i) for i in range(30)]

    main()
    assert counter.count("set_many") == 1
    assert store.get_many([f"w{i}" for i in range(30)]) == {f"w{i}": i for i in range(30)}


def test_large_flushes_are_split(address: tuple[str, int], prefix: str) -> None:
    from asynq_batching.stores.memcache import MemcacheStore

    url = f"memcached://{address[0]}:{address[1]}"
    with MemcacheStore.from_url(url, max_batch_size=8, key_prefix=prefix) as store:
        counter = CallCounter(store.client, "get_many")
        assert read_all(store, [f"k{i}" for i in range(20)]) == [MISSING] * 20
        assert [len(keys) for _, keys in counter.calls] == [8, 8, 4]


def test_ttl_applies_to_every_set(address: tuple[str, int], prefix: str) -> None:
    from asynq_batching.stores.memcache import MemcacheStore

    url = f"memcached://{address[0]}:{address[1]}"
    with MemcacheStore.from_url(url, ttl=40, key_prefix=prefix) as store:
        store.set_many({"a": 1, "b": 2})
        for key in ("a", "b"):
            assert 30 <= remaining_ttl(address, prefix + key) <= 40


def test_an_oversized_value_fails_its_write_and_the_client_recovers(store: Any) -> None:
    from pymemcache.exceptions import MemcacheServerError

    huge = "x" * (2 * 1024 * 1024)
    with pytest.raises(MemcacheServerError) as raised:
        store.set("huge", huge)
    message = str(raised.value)
    assert message.startswith("object too large for cache (MemcacheStore set of ")
    assert f"'{store.key_prefix}huge'" in message and f"{len(huge) + 2} bytes" in message
    store.set("small", 1)
    assert store.get("small") == 1


@asynq()
def write_each(store: Any, values: dict[str, Any]) -> Any:
    """Writes each value in its own task, all in one round: key -> "stored" or the error."""

    @asynq()
    def write(key: str, value: Any) -> Any:
        try:
            yield store.set.asynq(key, value)
        except Exception as error:
            return error
        return "stored"

    outcomes = yield [write.asynq(key, value) for key, value in values.items()]
    return dict(zip(values, outcomes, strict=True))


@pytest.mark.parametrize("under_asyncio", [False, True])
def test_an_oversized_value_fails_only_its_own_write_in_a_round(
    store: Any, under_asyncio: bool
) -> None:
    from pymemcache.exceptions import MemcacheServerError

    huge = "x" * (2 * 1024 * 1024)
    values = {"a": 1, "huge": huge, "b": 2}
    if under_asyncio:
        outcomes = asyncio.run(write_each.asyncio(store, values))
    else:
        outcomes = write_each(store, values)
    assert (outcomes["a"], outcomes["b"]) == ("stored", "stored")
    error = outcomes["huge"]
    assert isinstance(error, MemcacheServerError)
    assert "object too large for cache" in str(error) and f"{len(huge) + 2} bytes" in str(error)
    assert f"'{store.key_prefix}huge'" in str(error)
    assert f"'{store.key_prefix}a'" not in str(error)
    assert store.get_many(["a", "b", "huge"]) == {"a": 1, "b": 2}


def test_invalid_keys_are_refused_when_the_call_is_made(store: Any) -> None:
    with pytest.raises(ValueError, match=r"MemcacheStore.get\(\): invalid key 'has space'"):
        store.get.asynq("has space")
    with pytest.raises(ValueError, match=r"MemcacheStore.set\(\): invalid key"):
        store.set.asynq("k" * 300, 1)
    with pytest.raises(TypeError, match=r"MemcacheStore.get_many\(\): keys are str, bytes, int "):
        store.get_many(["fine", True])
    with pytest.raises(
        ValueError, match=r"MemcacheStore.get\(\): invalid key b'\\xff': bytes keys"
    ):
        store.get.asynq(b"\xff")
    with pytest.raises(ValueError, match=r"MemcacheStore.set\(\): invalid key b'a b'"):
        store.set.asynq(b"a b", 1)


def test_scalar_keys_are_sent_as_text(store: Any) -> None:
    store.set(1, "one")
    store.set(2.5, "two and a half")
    store.set(3.0, "three point zero")
    wire = store.client.get_many([store.key_prefix + name for name in ("1", "2.5", "3.0", "3")])
    assert wire == {
        store.key_prefix + "1": b'"one"',
        store.key_prefix + "2.5": b'"two and a half"',
        store.key_prefix + "3.0": b'"three point zero"',
    }
    assert store.get("1") == store.get(b"1") == store.get(1) == "one"
    # 3 == 3.0 in Python, yet they are two keys (as redis-py would name them), in one round too.
    assert read_all(store, [3, 3.0, 1, "1"]) == [MISSING, "three point zero", "one", "one"]
    assert asyncio.run(read_all.asyncio(store, [b"1", 2.5])) == ["one", "two and a half"]
    assert store.get_many([1, "2.5", 4]) == {1: "one", "2.5": "two and a half"}


def test_urls_are_checked() -> None:
    from asynq_batching.stores.memcache import MemcacheStore, parse_memcached_url

    assert parse_memcached_url("memcached://a:1,b,[::1]:3") == [
        ("a", 1),
        ("b", 11211),
        ("::1", 3),
    ]
    with pytest.raises(ValueError, match=r"parse_memcached_url\(\) takes a memcached:// URL"):
        MemcacheStore.from_url("redis://localhost:6379")
    with pytest.raises(ValueError, match="bad server 'host:port'"):
        parse_memcached_url("memcached://host:port")


def test_a_refused_connection_fails_only_the_waiting_tasks(closed_port: int) -> None:
    from asynq_batching.stores.memcache import MemcacheStore

    with MemcacheStore.from_url(f"memcached://127.0.0.1:{closed_port}", timeout=1) as dead:
        outcomes: dict[str, Any] = {}

        @asynq()
        def from_dead(key: str) -> Any:
            try:
                outcomes[key] = yield dead.get.asynq(key)
            except ConnectionRefusedError as error:
                outcomes[key] = error

        @asynq()
        def unrelated() -> Any:
            yield sync()
            outcomes["unrelated"] = "finished"

        @asynq()
        def main() -> Any:
            yield [from_dead.asynq("a"), unrelated.asynq(), from_dead.asynq("b")]

        main()
        assert outcomes["unrelated"] == "finished"
        assert isinstance(outcomes["a"], ConnectionRefusedError)
        assert outcomes["b"] is outcomes["a"]


def test_a_hung_server_times_out_instead_of_hanging(silent_server: tuple[str, int]) -> None:
    from asynq_batching.stores.memcache import MemcacheStore

    host, port = silent_server
    with MemcacheStore.from_url(f"memcached://{host}:{port}", timeout=0.2) as store:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            read_all(store, ["a", "b"])
        assert time.monotonic() - start < 3


# -- a HashClient pool of two servers ------------------------------------------


@pytest.fixture
def pool(memcached_pair: Any, prefix: str) -> Iterator[Any]:
    from asynq_batching.stores.memcache import MemcacheStore

    url = "memcached://" + ",".join(f"127.0.0.1:{server.port}" for server in memcached_pair)
    with MemcacheStore.from_url(url, key_prefix=prefix) as store:
        yield store


def test_a_pool_gets_one_get_many_per_server_per_flush(pool: Any, memcached_pair: Any) -> None:
    keys = [f"key{i}" for i in range(60)]
    pool.set_many({key: i for i, key in enumerate(keys)})
    counters = [CallCounter(client, "get_many") for client in pool.client.clients.values()]
    gets_before = [cmd_get(server.address) for server in memcached_pair]

    assert read_all(pool, keys) == list(range(60))
    assert [counter.count("get_many") for counter in counters] == [1, 1]
    asked = [
        cmd_get(server.address) - before
        for server, before in zip(memcached_pair, gets_before, strict=True)
    ]
    assert sum(asked) == 60
    assert all(count > 0 for count in asked)  # the keys really are spread over both servers
    assert pool.request_count == 4  # set_many and get_many, each once per server


def test_a_pool_places_keys_where_hash_client_looks(pool: Any) -> None:
    keys = [f"place{i}" for i in range(30)]
    pool.set_many(dict.fromkeys(keys, "v"))
    assert all(pool.client.get(pool.key_prefix + key) == b'"v"' for key in keys)
    pool.set_many(dict.fromkeys(range(30), "n"))
    assert all(pool.client.get(pool.key_prefix + str(uid)) == b'"n"' for uid in range(30))
    pool.client.set(pool.key_prefix + "direct", b"[1]")
    assert pool.get("direct") == [1]


def test_a_dead_server_in_the_pool_fails_only_its_keys(
    memcached_server: Any, closed_port: int, prefix: str
) -> None:
    from pymemcache.client.hash import HashClient

    from asynq_batching.stores.memcache import MemcacheStore

    client = HashClient(
        [memcached_server.address, ("127.0.0.1", closed_port)], connect_timeout=1, timeout=1
    )
    with MemcacheStore(client, key_prefix=prefix) as store:
        keys = [f"k{i}" for i in range(40)]
        alive = f"127.0.0.1:{memcached_server.port}"
        on_live = [key for key in keys if client.hasher.get_node(prefix + key) == alive]
        assert 0 < len(on_live) < len(keys)
        outcomes: dict[str, Any] = {}

        @asynq()
        def write_then_read(key: str) -> Any:
            try:
                yield store.set.asynq(key, key)
                outcomes[key] = yield store.get.asynq(key)
            except ConnectionRefusedError as error:
                outcomes[key] = error

        @asynq()
        def main() -> Any:
            yield [write_then_read.asynq(key) for key in keys]

        main()
        assert {key: outcomes[key] for key in on_live} == {key: key for key in on_live}
        errors = [outcomes[key] for key in keys if key not in on_live]
        assert all(isinstance(error, ConnectionRefusedError) for error in errors)
        # The error names the dead server, and the keys its request carried.
        assert f"on server 127.0.0.1:{closed_port})" in str(errors[0])
        assert f"MemcacheStore set of '{prefix}k" in str(errors[0])


def test_a_ttl_over_30_days_is_sent_as_a_unix_time(address: tuple[str, int], prefix: str) -> None:
    from asynq_batching.stores.memcache import MemcacheStore

    forty_days = 40 * 24 * 3600  # memcached reads a relative expiry over 30 days as a Unix time
    url = f"memcached://{address[0]}:{address[1]}"
    with MemcacheStore.from_url(url, ttl=forty_days, key_prefix=prefix) as store:
        store.set_many({"a": 1, "b": 2})
        assert store.get_many(["a", "b"]) == {"a": 1, "b": 2}
        for key in ("a", "b"):
            assert forty_days - 10 <= remaining_ttl(address, prefix + key) <= forty_days + 1
    with pytest.raises(ValueError, match=r"MemcacheStore\(\): ttl=3153600000 would end after 2038"):
        MemcacheStore.from_url(url, ttl=100 * 365 * 24 * 3600)


def test_bad_timeouts_are_refused() -> None:
    from asynq_batching.stores.memcache import MemcacheStore

    for timeout in (0, -1, float("inf"), float("nan"), True, "5"):
        with pytest.raises(ValueError, match=r"MemcacheStore.from_url\(\): timeout must be"):
            MemcacheStore.from_url("memcached://127.0.0.1:1", timeout=timeout)


def test_a_pool_that_ignores_errors_reads_misses_and_drops_writes_of_a_dead_server(
    memcached_server: Any, closed_port: int, prefix: str
) -> None:
    from pymemcache.client.hash import HashClient

    from asynq_batching.stores.memcache import MemcacheStore

    client = HashClient(
        [memcached_server.address, ("127.0.0.1", closed_port)],
        connect_timeout=1,
        timeout=1,
        ignore_exc=True,
    )
    with MemcacheStore(client, key_prefix=prefix) as store:
        keys = [f"k{i}" for i in range(40)]
        alive = f"127.0.0.1:{memcached_server.port}"
        on_live = [key for key in keys if client.hasher.get_node(prefix + key) == alive]
        assert 0 < len(on_live) < len(keys)

        @asynq()
        def write_then_read(key: str) -> Any:
            yield store.set.asynq(key, key)
            value = yield store.get.asynq(key)
            yield store.delete.asynq(key)
            return value

        @asynq()
        def main() -> Any:
            return (yield [write_then_read.asynq(key) for key in keys])

        assert main() == [key if key in on_live else MISSING for key in keys]
        assert store.get_many(keys) == {}


def test_get_many_settled_gives_each_key_its_value_or_exception(store: Any, prefix: str) -> None:
    store.set_many({"a": [1], "none": None})
    store.client.set(prefix + "foreign", b"{not json")
    outcomes = store.get_many_settled(["a", "none", "foreign", "absent"])
    assert outcomes["a"] == [1] and outcomes["none"] is None
    assert isinstance(outcomes["foreign"], ValueError)
    assert f"(MemcacheStore get of '{prefix}foreign' on server " in str(outcomes["foreign"])
    assert isinstance(outcomes["absent"], MissingKeyError) and outcomes["absent"].key == "absent"
    assert asyncio.run(store.get_many_settled.asyncio(["a"])) == {"a": [1]}


def test_get_many_settled_with_a_dead_server_in_the_pool(
    memcached_server: Any, closed_port: int, prefix: str
) -> None:
    from pymemcache.client.hash import HashClient

    from asynq_batching.stores.memcache import MemcacheStore

    client = HashClient(
        [memcached_server.address, ("127.0.0.1", closed_port)], connect_timeout=1, timeout=1
    )
    with MemcacheStore(client, key_prefix=prefix) as store:
        keys = [f"k{i}" for i in range(40)]
        alive = f"127.0.0.1:{memcached_server.port}"
        on_live = [key for key in keys if client.hasher.get_node(prefix + key) == alive]
        on_dead = [key for key in keys if key not in on_live]
        assert len(on_live) > 1 and len(on_dead) > 1
        client.clients[alive].set_many({prefix + key: b'"v"' for key in on_live[1:]})

        outcomes = store.get_many_settled(keys)
        assert isinstance(outcomes[on_live[0]], MissingKeyError)
        assert all(outcomes[key] == "v" for key in on_live[1:])
        for key in on_dead:
            error = outcomes[key]
            assert isinstance(error, ConnectionRefusedError)
            assert str(error).endswith(
                f"(MemcacheStore get of '{prefix}{key}' on server 127.0.0.1:{closed_port}, "
                f"in a request of {len(on_dead)} keys)"
            )
