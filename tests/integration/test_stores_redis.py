"""RedisStore against real redis-server processes (one server, and a two-node cluster).

Round trips are counted by the server itself (``INFO commandstats``): a
flush of N lookups must reach Redis as one MGET per server.
"""

from __future__ import annotations

import asyncio
import enum
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asynq_batching import MissingKeyError, sync
from asynq_batching.stores import MISSING, BytesCodec
from asynq_core import asynq


def command_calls(client: Any, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.fixture
def redis_client(redis_server: Any) -> Iterator[Any]:
    import redis

    client = redis.Redis(*redis_server.address, socket_timeout=5)
    client.flushall()
    client.config_resetstat()
    yield client
    client.close()


@pytest.fixture
def store(redis_server: Any, redis_client: Any) -> Iterator[Any]:
    from asynq_batching.stores.redis import RedisStore

    url = f"redis://127.0.0.1:{redis_server.port}/0"
    with RedisStore.from_url(url, key_prefix="test:") as store:
        yield store


@asynq()
def read_all(store: Any, keys: list[str]) -> Any:
    return (yield [store.get.asynq(key) for key in keys])


def test_values_round_trip_and_missing_is_not_none(store: Any, redis_client: Any) -> None:
    store.set("none", None)
    store.set("data", {"a": [1, 2]})
    assert store.get("none") is None
    assert store.get("absent") is MISSING
    assert store.get("absent", default=0) == 0
    assert store.get_many(["none", "data", "absent"]) == {"none": None, "data": {"a": [1, 2]}}
    assert redis_client.get("test:data") == b'{"a":[1,2]}'  # the prefix is on the wire
    store.delete("data")
    assert store.get("data") is MISSING


def test_json_refuses_at_set_what_it_would_give_back_changed(store: Any, redis_client: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"RedisStore.set\(\): cannot encode the value of 1 \(dict\) with JsonCodec\(\): "
        r"JsonCodec cannot store the int key 1: JSON object keys are text",
    ):
        store.set(1, {1: "a"})

    @asynq()
    def write() -> Any:
        yield store.set.asynq("pair", (1, 2))

    with pytest.raises(TypeError, match=r"of 'pair' \(tuple\) .*: it would come back as a list"):
        asyncio.run(write.asyncio())
    assert redis_client.keys("*") == []


def test_a_foreign_value_names_its_key_and_the_codec(
    store: Any, redis_client: Any, redis_server: Any
) -> None:
    redis_client.set("test:foreign", b"\x80not ours")
    redis_client.set("test:ours", b'"fine"')

    @asynq()
    def read(key: str) -> Any:
        try:
            return (yield store.get.asynq(key))
        except ValueError as error:
            return error

    @asynq()
    def main() -> Any:
        return (yield [read.asynq("ours"), read.asynq("foreign")])

    for ours, foreign in (main(), asyncio.run(main.asyncio())):
        assert ours == "fine"
        assert isinstance(foreign, UnicodeDecodeError)
        assert str(foreign).endswith(
            f"(RedisStore get of b'test:foreign' on server 127.0.0.1:{redis_server.port}, "
            "decoding its 9 bytes with JsonCodec())"
        )


def test_a_flush_of_many_lookups_is_one_mget(store: Any, redis_client: Any) -> None:
    keys = [f"k{i}" for i in range(100)]
    store.set_many({key: i for i, key in enumerate(keys) if i % 3})
    redis_client.config_resetstat()
    values = read_all(store, keys + keys[:10])
    assert values == [i if i % 3 else MISSING for i in range(100)] + values[:10]
    assert command_calls(redis_client, "mget") == 1
    assert command_calls(redis_client, "get") == 0
    assert store.request_count == 2  # the set_many, then the reads


def test_writes_of_a_round_are_one_pipeline(store: Any, redis_client: Any) -> None:
    executed: list[int] = []
    real_pipeline = store.client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        def execute(*a: Any, **k: Any) -> Any:
            executed.append(len(pipe.command_stack))
            return real_execute(*a, **k)

        pipe.execute = execute
        return pipe

    store.client.pipeline = counting_pipeline

    @asynq()
    def write(i: int) -> Any:
        yield store.set.asynq(f"w{i}", i)

    @asynq()
    def main() -> Any:
        yield [write.asynq(i) for i in range(40)]

    main()
    assert executed == [40]
    assert command_calls(redis_client, "set") == 40
    assert store.get_many([f"w{i}" for i in range(40)]) == {f"w{i}": i for i in range(40)}


def test_large_flushes_are_split(redis_server: Any, redis_client: Any) -> None:
    from asynq_batching.stores.redis import RedisStore

    with RedisStore.from_url(f"redis://127.0.0.1:{redis_server.port}", max_batch_size=10) as store:
        keys = [f"k{i}" for i in range(25)]
        assert read_all(store, keys) == [MISSING] * 25
        assert command_calls(redis_client, "mget") == 3
        assert store.request_count == 3


def test_ttl_applies_to_every_set(redis_server: Any, redis_client: Any) -> None:
    from asynq_batching.stores.redis import RedisStore

    with RedisStore.from_url(f"redis://127.0.0.1:{redis_server.port}", ttl=30) as store:
        store.set_many({"a": 1, "b": 2})
        for key in ("a", "b"):
            assert 0 < redis_client.pttl(key) <= 30_000


def test_raw_bytes_with_the_bytes_codec(redis_server: Any, redis_client: Any) -> None:
    from asynq_batching.stores.redis import RedisStore

    with RedisStore(redis_client, codec=BytesCodec()) as store:
        redis_client.set("raw", b"\x00\x01")
        assert store.get("raw") == b"\x00\x01"
        store.set("other", b"bytes")
        assert redis_client.get("other") == b"bytes"


def test_a_refused_connection_fails_only_the_waiting_tasks(closed_port: int) -> None:
    import redis

    from asynq_batching.stores.redis import RedisStore

    with RedisStore.from_url(f"redis://127.0.0.1:{closed_port}", timeout=1) as dead:
        outcomes: dict[str, Any] = {}

        @asynq()
        def from_dead(key: str) -> Any:
            try:
                outcomes[key] = yield dead.get.asynq(key)
            except redis.ConnectionError as error:
                outcomes[key] = error

        @asynq()
        def unrelated() -> Any:
            yield sync()
            outcomes["unrelated"] = "finished"

        @asynq()
        def main() -> Any:
            yield [from_dead.asynq("a"), from_dead.asynq("b"), unrelated.asynq()]

        main()
        assert outcomes["unrelated"] == "finished"
        assert isinstance(outcomes["a"], redis.ConnectionError)
        assert outcomes["a"] is outcomes["b"]  # one request failed, its two waiters learn it
        assert str(outcomes["a"]).endswith(
            f"(RedisStore get of b'a', b'b' on server 127.0.0.1:{closed_port})"
        )


def test_a_hung_server_times_out_instead_of_hanging(silent_server: tuple[str, int]) -> None:
    import redis

    from asynq_batching.stores.redis import RedisStore

    host, port = silent_server
    with RedisStore.from_url(f"redis://{host}:{port}", timeout=0.2, retries=0) as store:
        start = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            read_all(store, ["a", "b"])
        assert time.monotonic() - start < 3


@pytest.mark.parametrize("under_asyncio", [False, True])
def test_a_timeout_is_not_retried(hung_server: Any, under_asyncio: bool) -> None:
    import redis

    from asynq_batching.stores.redis import RedisStore

    host, port = hung_server.address
    with RedisStore.from_url(f"redis://{host}:{port}", timeout=0.2) as store:  # retries=1
        assert store.client.get_connection_kwargs()["socket_timeout"] == 0.2
        with pytest.raises(redis.TimeoutError) as raised:
            if under_asyncio:
                asyncio.run(read_all.asyncio(store, ["a", "b"]))
            else:
                read_all(store, ["a", "b"])
        # One connection, one wait of `timeout`: the request was not sent again.
        assert hung_server.connections() == 1
        assert f"on server {host}:{port}" in str(raised.value)


def test_a_broken_connection_is_retried() -> None:
    import redis

    from asynq_batching.stores.redis import RedisStore

    for retries in (0, 2):
        closing = ClosingServer()
        url = f"redis://127.0.0.1:{closing.port}"
        with RedisStore.from_url(url, timeout=5, retries=retries) as store:
            with pytest.raises(redis.ConnectionError):
                store.get("a")
        closing.stop()
        assert closing.accepted == retries + 1


class ClosingServer:
    """A server that closes every connection as soon as it accepts it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            connection, _ = self.listener.accept()
            if self.stopping:
                connection.close()
                return
            # Counted before the client can see the connection closed.
            self.accepted += 1
            connection.close()

    def stop(self) -> None:
        # Closing the listener would not wake accept(); a last connection does.
        self.stopping = True
        socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        self.thread.join(timeout=5)
        self.listener.close()


def test_bad_arguments_are_refused() -> None:
    from asynq_batching.stores.redis import RedisStore

    with pytest.raises(ValueError, match=r"RedisStore.from_url\(\) takes a redis:// URL"):
        RedisStore.from_url("memcached://127.0.0.1:1")
    with pytest.raises(TypeError, match=r"RedisStore\(\) needs a redis.Redis"):
        RedisStore("localhost")
    with pytest.raises(ValueError, match=r"RedisStore\(\): ttl must be None or a number"):
        RedisStore.from_url("redis://127.0.0.1:1", ttl=-5)
    for retries in (-1, True, 1.5, "2"):  # redis-py retries forever for a negative count
        with pytest.raises(ValueError, match=r"RedisStore.from_url\(\): retries must be an int"):
            RedisStore.from_url("redis://127.0.0.1:1", retries=retries)
    for timeout in (0, -1, float("inf"), float("nan"), True, "5"):
        with pytest.raises(ValueError, match=r"RedisStore.from_url\(\): timeout must be"):
            RedisStore.from_url("redis://127.0.0.1:1", timeout=timeout)


def test_scalar_keys_name_the_redis_key_redis_py_names(redis_client: Any) -> None:
    from asynq_batching.stores.redis import RedisStore

    store = RedisStore(redis_client, codec=BytesCodec())
    redis_client.set(1, b"by redis-py")  # redis-py sends the int 1 as b"1"
    assert store.get(1) == store.get("1") == store.get(b"1") == b"by redis-py"
    store.set(2, b"two")
    store.set(2.5, b"two and a half")
    store.set(3.0, b"three point zero")
    assert redis_client.mget("2", "2.5", "3.0", "3") == [
        b"two",
        b"two and a half",
        b"three point zero",
        None,
    ]
    # 3 == 3.0 in Python, but redis-py sends b"3" and b"3.0": two keys, in one round too.
    assert read_all(store, [3, 3.0, "2", 2, b"2"]) == [MISSING, b"three point zero"] + [b"two"] * 3
    assert asyncio.run(read_all.asyncio(store, [1, "1", 3.0])) == [
        b"by redis-py",
        b"by redis-py",
        b"three point zero",
    ]
    store.delete_many([1, 2.5])
    assert redis_client.exists("1", "2.5") == 0


def test_int_keys_with_a_prefix(store: Any, redis_client: Any) -> None:
    store.set_many({7: "seven", 8: "eight"})
    assert redis_client.get("test:7") == b'"seven"'
    assert store.get_many([7, "8", 9]) == {7: "seven", "8": "eight"}
    with pytest.raises(ValueError, match=r"RedisStore.get\(\): cannot encode the key '\\ud800'"):
        store.get.asynq("\ud800")


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize("key", [True, None, (1, 2), Color.RED, 1j, bytearray(b"1")])
def test_other_keys_are_refused_naming_the_call_and_the_key(store: Any, key: Any) -> None:
    expected = rf"RedisStore.get\(\): keys are str, bytes, int or float, got {re.escape(repr(key))}"
    with pytest.raises(TypeError, match=expected):
        store.get.asynq(key)
    with pytest.raises(TypeError, match=r"RedisStore.get_many\(\): keys are str, bytes, int or"):
        store.get_many.asynq(["fine", key])


# -- Redis Cluster -----------------------------------------------------------


def hash_tag_on(node_slots: range) -> str:
    """A hash tag whose slot is in ``node_slots``."""
    from redis.crc import key_slot

    for i in range(10_000):
        tag = f"t{i}"
        if key_slot(f"{{{tag}}}".encode()) in node_slots:
            return tag
    raise AssertionError("no tag found")


@pytest.fixture
def cluster_store(redis_cluster: Any) -> Iterator[tuple[Any, list[Any]]]:
    import redis

    from asynq_batching.stores.redis import RedisStore

    first, _ = redis_cluster
    nodes = [redis.Redis(*node.address, socket_timeout=5) for node in redis_cluster]
    for node in nodes:
        node.flushall()
    store = RedisStore.from_url(f"redis://127.0.0.1:{first.port}", cluster=True)
    yield store, nodes
    store.close()
    for node in nodes:
        node.close()


def test_cluster_keys_are_grouped_by_slot_one_request_per_node(
    cluster_store: tuple[Any, list[Any]],
) -> None:
    store, nodes = cluster_store
    tag_first, tag_second = hash_tag_on(range(0, 8192)), hash_tag_on(range(8192, 16384))
    keys = [f"{{{tag}}}:{i}" for tag in (tag_first, tag_second) for i in range(30)]
    store.set_many({key: key.upper() for key in keys[::2]})
    assert nodes[0].dbsize() == 15 and nodes[1].dbsize() == 15  # both nodes hold data
    for node in nodes:
        node.config_resetstat()
    store.request_count = 0

    values = read_all(store, keys)
    assert values == [key.upper() if i % 2 == 0 else MISSING for i, key in enumerate(keys)]
    # Each node owns one of the two slots: one MGET each, one request each.
    assert [command_calls(node, "mget") for node in nodes] == [1, 1]
    assert store.request_count == 2


def test_cluster_writes_and_deletes_across_nodes(cluster_store: tuple[Any, list[Any]]) -> None:
    store, nodes = cluster_store
    keys = [f"key-{i}" for i in range(50)]  # spread over many slots
    store.set_many({key: i for i, key in enumerate(keys)})
    assert sum(node.dbsize() for node in nodes) == 50
    assert all(node.dbsize() > 0 for node in nodes)
    assert store.get_many(keys) == {key: i for i, key in enumerate(keys)}
    store.delete_many(keys[:25])
    assert store.get_many(keys) == {key: i for i, key in enumerate(keys) if i >= 25}
    uids = list(range(50))  # int keys: on the node of their digits' slot
    store.set_many({uid: -uid for uid in uids})
    assert nodes[0].get("7") == b"-7" or nodes[1].get("7") == b"-7"
    assert store.get_many([*uids, "7"]) == {**{uid: -uid for uid in uids}, "7": -7}


def test_get_many_settled_gives_each_key_its_value_or_exception(
    store: Any, redis_client: Any, redis_server: Any
) -> None:
    store.set_many({"a": 1, "none": None})
    redis_client.set("test:foreign", b"\x80not ours")
    redis_client.config_resetstat()

    @asynq()
    def main() -> Any:
        return (yield store.get_many_settled.asynq(["a", "none", "foreign", "absent"]))

    for outcomes in (main(), asyncio.run(main.asyncio())):
        assert outcomes["a"] == 1 and outcomes["none"] is None
        assert isinstance(outcomes["foreign"], UnicodeDecodeError)
        assert str(outcomes["foreign"]).endswith(
            f"(RedisStore get of b'test:foreign' on server 127.0.0.1:{redis_server.port}, "
            "decoding its 9 bytes with JsonCodec())"
        )
        assert isinstance(outcomes["absent"], MissingKeyError)
        assert str(outcomes["absent"]) == (
            "RedisStore.get_many_settled(): the store holds no value under the key 'absent'"
        )
    assert command_calls(redis_client, "mget") == 2  # one MGET per call


def test_get_many_settled_of_a_dead_server_names_each_key(store: Any, closed_port: int) -> None:
    import redis

    from asynq_batching.stores.redis import RedisStore

    store.set("live", "here")
    with RedisStore.from_url(f"redis://127.0.0.1:{closed_port}", timeout=1) as dead:

        @asynq()
        def main() -> Any:
            return (yield dead.get_many_settled.asynq(["a", "b"]), store.get.asynq("live"))

        settled, live = main()
        assert live == "here"
        for key in ("a", "b"):
            assert isinstance(settled[key], redis.ConnectionError)
            assert str(settled[key]).endswith(
                f"(RedisStore get of b'{key}' on server 127.0.0.1:{closed_port}, "
                "in a request of 2 keys)"
            )
