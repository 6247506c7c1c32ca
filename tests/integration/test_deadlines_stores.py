"""Deadlines and max_concurrency on real stores: servers we start (redis-server
and memcached on 127.0.0.1, of their own, since these tests freeze them) and
SQLite.

A frozen server (stopped with SIGSTOP: the kernel still accepts connections
and requests, nothing answers them; a SQLite query slowed by a user
function) would hold a request for seconds,
and the clients' own timeouts are 5 seconds: a request that ends at the
deadline shows the client was given the time left.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from asynq_batching.stores import SqlStore
from asynq_core import DeadlineExceededError, asynq, deadline, get_scheduler

from .conftest import Server, start_memcached, start_redis

SHORT = 0.3  # the deadline
EARLY = 1.5  # a request bounded by it ends before this; the frozen server holds it longer
FROZEN = 3.0


class InFlight:
    """Counts the requests running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.ended: list[tuple[float, BaseException | None]] = []

    def around(self, request: Any) -> Any:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        error = None
        try:
            return request()
        except BaseException as failure:
            error = failure
            raise
        finally:
            with self.lock:
                self.now -= 1
                self.ended.append((time.monotonic(), error))


@asynq()
def read_all(store: Any, keys: list[Any]) -> Any:
    return (yield [store.get.asynq(key) for key in keys])


# -- Redis ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_redis(server_dir: Path) -> Iterator[Server]:
    pytest.importorskip("redis")
    server = start_redis(server_dir)
    yield server
    server.stop()


@pytest.fixture
def redis_admin(own_redis: Server) -> Iterator[Any]:
    import redis

    client = redis.Redis(*own_redis.address, socket_timeout=5)
    client.flushall()
    yield client
    thaw_for_good(own_redis)
    client.close()


def redis_store(server: Server, **options: Any) -> Any:
    from asynq_batching.stores.redis import RedisStore

    class CountedRedisStore(RedisStore):
        def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
            return self.in_flight.around(
                lambda: super(CountedRedisStore, self)._fetch(server, keys)
            )

    store = CountedRedisStore.from_url(f"redis://127.0.0.1:{server.port}/0", timeout=5, **options)
    store.in_flight = InFlight()  # type: ignore[attr-defined]
    return store


_thaws: list[threading.Timer] = []


def freeze(server: Server, seconds: float) -> threading.Timer:
    """Stops the server process for ``seconds`` (or until ``thaw``)."""
    os.kill(server.process.pid, signal.SIGSTOP)
    timer = threading.Timer(seconds, thaw, (server,))
    timer.daemon = True
    timer.start()
    _thaws.append(timer)
    return timer


def thaw(server: Server) -> None:
    if server.process.poll() is None:  # not stopped for good by the fixture yet
        os.kill(server.process.pid, signal.SIGCONT)


def thaw_for_good(server: Server) -> None:
    """At the end of a test: no timer of it may thaw a later test's freeze."""
    while _thaws:
        _thaws.pop().cancel()
    thaw(server)


def test_redis_a_request_on_the_schedulers_thread_ends_at_the_deadline(
    own_redis: Server, redis_admin: Any
) -> None:
    import redis

    store = redis_store(own_redis)
    store.fetch_in_thread = False  # nothing but the socket timeout can end it early
    store.set("k", "v")  # a connected connection in the pool
    freeze(own_redis, FROZEN)
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        store.get("k")
    assert time.monotonic() - start < EARLY
    error = raised.value
    assert (error.batch, error.round) == ("CountedRedisStore.get", 1)
    assert "during CountedRedisStore get of b'k'" in str(error)
    assert isinstance(error.__cause__, redis.TimeoutError)
    thaw(own_redis)
    assert store.get("k") == "v"  # its own timeouts are back
    connection = store.client.connection_pool.get_connection()
    assert connection.socket_timeout == 5
    store.client.connection_pool.release(connection)
    store.close()


def test_redis_a_fetch_the_deadline_left_in_flight_ends_at_it_too(
    own_redis: Server, redis_admin: Any
) -> None:
    store = redis_store(own_redis)
    store.set("k", "v")
    freeze(own_redis, FROZEN)
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError), deadline(SHORT):
        store.get("k")
    assert time.monotonic() - start < EARLY
    deadline_passed = start + SHORT
    while not store.in_flight.ended and time.monotonic() < start + FROZEN:
        time.sleep(0.02)
    [(ended, error)] = store.in_flight.ended  # the request in the pool
    assert ended - deadline_passed < EARLY - SHORT
    assert error is not None and "Timeout" in type(error).__name__
    store.close()


def test_redis_a_batch_shared_with_a_task_without_deadline_is_not_cut_short(
    own_redis: Server, redis_admin: Any
) -> None:
    store = redis_store(own_redis)
    store.set_many({"out": "kept", "in": "lost"})

    @asynq()
    def outside() -> Any:
        return (yield store.get.asynq("out"))

    @asynq()
    def inside() -> Any:
        with deadline(SHORT):
            try:
                return store.get("in")
            except DeadlineExceededError as error:
                return error

    @asynq()
    def both() -> Any:
        return (yield [outside.asynq(), inside.asynq()])

    freeze(own_redis, 1.0)
    value, error = both()
    assert (
        value == "kept"
    )  # one MGET, sent without the deadline's timeout, answered after the pause
    assert isinstance(error, DeadlineExceededError) and error.batch == "CountedRedisStore.get"
    assert store.in_flight.ended[0][1] is None
    store.close()


def test_redis_under_asyncio_a_call_ends_at_its_deadline(
    own_redis: Server, redis_admin: Any
) -> None:
    store = redis_store(own_redis)
    store.set("k", "v")
    freeze(own_redis, FROZEN)

    async def main() -> Any:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError), deadline(SHORT):
            await read_all.asyncio(store, ["k"])
        return time.monotonic() - start

    assert asyncio.run(main()) < EARLY  # asyncio.run waits for the executor: the fetch ended too
    thaw(own_redis)
    assert asyncio.run(read_all.asyncio(store, ["k"])) == ["v"]
    store.close()


def test_redis_max_concurrency_bounds_the_requests_in_flight(
    own_redis: Server, redis_admin: Any
) -> None:
    keys = [f"k{i}" for i in range(20)]
    for limit, expected in [(3, 3), (None, 1)]:
        store = redis_store(own_redis, max_batch_size=2, max_concurrency=limit, client_name="maxc")
        store.set_many({key: key.upper() for key in keys})
        timer = freeze(own_redis, SHORT)  # the requests wait together at the server
        assert store.get_many(keys) == {key: key.upper() for key in keys}
        timer.join()
        assert store.in_flight.peak == expected
        assert store.request_count == 20  # 10 sets, 10 gets
        connections = [
            client for client in redis_admin.client_list() if client.get("name") == "maxc"
        ]
        assert len(connections) == expected  # the pool opened one per request in flight
        store.close()


# -- memcached ------------------------------------------------------------------------


@pytest.fixture
def own_memcached(server_dir: Path) -> Iterator[Server]:
    pytest.importorskip("pymemcache")
    server = start_memcached(server_dir)
    yield server
    thaw_for_good(server)
    server.stop()


def memcache_store(server: Server, **options: Any) -> Any:
    from asynq_batching.stores.memcache import MemcacheStore

    class CountedMemcacheStore(MemcacheStore):
        def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
            fetch = super()._fetch
            return self.in_flight.around(lambda: fetch(server, keys))

    store = CountedMemcacheStore.from_url(
        f"memcached://127.0.0.1:{server.port}", timeout=5, **options
    )
    store.in_flight = InFlight()  # type: ignore[attr-defined]
    return store


def test_memcached_a_request_ends_at_the_deadline(own_memcached: Server) -> None:
    store = memcache_store(own_memcached)
    store.set("k", "v")
    timer = freeze(own_memcached, FROZEN)
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        store.get("k")
    assert time.monotonic() - start < EARLY
    assert raised.value.batch == "CountedMemcacheStore.get"
    assert isinstance(raised.value.__cause__, TimeoutError)  # the socket's own
    timer.cancel()
    thaw(own_memcached)
    assert store.get("k") == "v"
    assert (store.client.timeout, store.client.connect_timeout) == (5, 5)
    store.close()


def test_memcached_max_concurrency_bounds_the_requests_in_flight(own_memcached: Server) -> None:
    from pymemcache.client.base import Client, PooledClient

    keys = [f"k{i}" for i in range(20)]
    for limit, expected in [(3, 3), (None, 1)]:
        store = memcache_store(own_memcached, max_batch_size=2, max_concurrency=limit)
        assert isinstance(store.client, PooledClient if limit else Client)
        store.set_many({key: key.upper() for key in keys})
        timer = freeze(own_memcached, SHORT)  # the requests wait together at the server
        assert store.get_many(keys) == {key: key.upper() for key in keys}
        timer.join()
        assert store.in_flight.peak == expected
        store.close()

    with pytest.raises(ValueError, match=r"max_concurrency=2\): Client owns one socket"):
        from asynq_batching.stores.memcache import MemcacheStore

        MemcacheStore(Client(own_memcached.address), max_concurrency=2)


# -- SQLite ----------------------------------------------------------------------------


@pytest.fixture
def slow_users(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A view whose every row takes 10 ms to compute (a user function)."""
    connection = sqlite3.connect(tmp_path / "slow.db")

    def slow(name: str) -> str:
        time.sleep(0.01)
        return name

    connection.create_function("slow", 1, slow)
    connection.execute("CREATE TABLE users (uid INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}") for i in range(400)])
    connection.execute("CREATE VIEW slow_users AS SELECT uid, slow(name) AS name FROM users")
    connection.commit()
    yield connection
    connection.close()


def test_sqlite_a_slow_statement_is_interrupted_at_the_deadline(
    slow_users: sqlite3.Connection,
) -> None:
    store = SqlStore(slow_users, "slow_users", key_column="uid", value_column="name")
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError) as raised, deadline(SHORT):
        read_all(store, list(range(400)))  # 4 s of work
    assert time.monotonic() - start < EARLY
    assert raised.value.batch == "SqlStore(slow_users).get"
    cause = raised.value.__cause__
    assert isinstance(cause, sqlite3.OperationalError) and "interrupted" in str(cause)
    assert store.get_many(range(3)) == {0: "u0", 1: "u1", 2: "u2"}  # no handler left behind


def test_sqlite_statement_timeout_gets_the_time_left(slow_users: sqlite3.Connection) -> None:
    given: list[float | None] = []
    store = SqlStore(
        slow_users,
        "users",
        key_column="uid",
        value_column="name",
        statement_timeout=lambda cursor, seconds: given.append(seconds),
    )
    assert store.get(1) == "u1"
    with deadline(5):
        assert store.get(2) == "u2"
    assert given[0] is None
    assert given[1] is not None and 4 < given[1] <= 5
    with pytest.raises(TypeError, match="statement_timeout must be callable"):
        SqlStore(slow_users, "users", key_column="uid", value_column="name", statement_timeout=3)


def test_after_a_deadline_nothing_is_left_pending(slow_users: sqlite3.Connection) -> None:
    store = SqlStore(slow_users, "slow_users", key_column="uid", value_column="name")
    with pytest.raises(DeadlineExceededError), deadline(SHORT):
        read_all(store, list(range(400)))
    scheduler = get_scheduler()
    assert scheduler.pending_groups() == [] and scheduler._in_flight == []


def test_redis_cluster_requests_under_a_deadline_go_to_each_node(redis_cluster: Any) -> None:
    import redis

    from asynq_batching.stores.redis import RedisStore

    first, _ = redis_cluster
    nodes = [redis.Redis(*node.address, socket_timeout=5) for node in redis_cluster]
    for node in nodes:
        node.flushall()
    store = RedisStore.from_url(f"redis://127.0.0.1:{first.port}", cluster=True)
    keys = [f"key{i}" for i in range(40)]  # on both nodes, in many slots
    try:
        with deadline(5):
            store.set_many({key: key.upper() for key in keys})
            assert store.get_many([*keys, "absent"]) == {key: key.upper() for key in keys}
            store.delete_many(keys[:20])
            assert store.get_many(keys) == {key: key.upper() for key in keys[20:]}
        assert all(node.dbsize() > 0 for node in nodes)
        assert store.request_count == 8  # each operation: one request per node
    finally:
        store.close()
        for node in nodes:
            node.close()
