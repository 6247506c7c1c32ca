"""Record and replay on real stores: a program recorded against SQLite or a
real redis-server is replayed with its store unreachable (the SQLite
connection closed, a Redis client pointed at a port nothing listens on)
and gets the same values and errors, in the same rounds, without one request."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asynq_batching import batched
from asynq_batching.stores import MISSING, PickleCodec, SqlStore
from asynq_core import asynq
from asynq_core.tracing import NotRecordedError, record, replay

# -- SQLite ------------------------------------------------------------------------------


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "app.db")
    connection.execute("CREATE TABLE answers (aid INTEGER PRIMARY KEY, author INTEGER)")
    connection.execute("CREATE TABLE users (uid INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO answers VALUES (?, ?)", [(10, 1), (11, 2), (12, 9)])
    connection.executemany("INSERT INTO users VALUES (?, ?)", [(1, "Ada"), (2, None)])
    connection.commit()
    yield connection
    connection.close()


@asynq()
def author_names(answers: SqlStore, users: SqlStore, aids: list[int]) -> Any:
    uids = yield [answers.get.asynq(aid) for aid in aids]
    names = yield [users.get.asynq(uid, "nobody") for uid in uids]
    return names, (yield users.get.asynq(9))  # the same missing key, without a default


def test_a_program_recorded_on_sqlite_replays_with_the_connection_closed(
    connection: sqlite3.Connection, tmp_path: Path
) -> None:
    answers = SqlStore(connection, "answers", key_column="aid", value_column="author")
    users = SqlStore(connection, "users", key_column="uid", value_column="name")
    path = tmp_path / "request.jsonl"
    with record(capture=True) as recording:
        recorded = author_names(answers, users, [10, 11, 12])
        users.set(3, "Cy")
        recorded_after_set = users.get_many([3, 1])
    recording.save(path)
    assert recorded == (["Ada", None, "nobody"], MISSING)
    assert recorded_after_set == {3: "Cy", 1: "Ada"}
    requests = answers.request_count + users.request_count
    connection.close()
    with pytest.raises(sqlite3.ProgrammingError):  # what touching the store now does
        users.get(1)

    with replay(path, check_rounds=True) as replaying, record() as again:
        assert author_names(answers, users, [10, 11, 12]) == recorded
        assert users.set(3, "Cy") is None
        assert users.get_many([3, 1]) == recorded_after_set
    assert replaying.rounds == again.rounds == recording.rounds == 5
    assert [(flush.batch, flush.round, flush.items) for flush in again.flushes] == [
        (flush.batch, flush.round, flush.items) for flush in recording.flushes
    ]
    assert answers.request_count + users.request_count == requests + 1  # only the probe


def test_an_sqlite_error_is_replayed_with_its_type_and_message(
    connection: sqlite3.Connection, tmp_path: Path
) -> None:
    missing_table = SqlStore(connection, "ghosts", key_column="k", value_column="v")
    path = tmp_path / "error.jsonl"
    with record(capture=True) as recording:
        with pytest.raises(sqlite3.OperationalError) as recorded:
            missing_table.get(1)
    recording.save(path)
    connection.close()
    with replay(path), pytest.raises(sqlite3.OperationalError) as replayed:
        missing_table.get(1)
    assert str(replayed.value) == str(recorded.value)
    assert "no such table: ghosts" in str(replayed.value)
    assert "SqlStore(ghosts) get of 1" in str(replayed.value)


def test_a_codec_keeps_sqlite_values_json_would_change(
    connection: sqlite3.Connection, tmp_path: Path
) -> None:
    blobs = SqlStore(connection, "users", key_column="uid", value_column="name")
    connection.execute("INSERT INTO users VALUES (5, ?)", (b"\x00\xff",))
    connection.commit()
    path = tmp_path / "bytes.jsonl"
    with record(capture=True) as json_recording:
        assert blobs.get(5) == b"\x00\xff"
    with pytest.raises(TypeError, match="JSON cannot store a bytes"):
        json_recording.save(path)
    with record(capture=True, codec=PickleCodec()) as recording:
        blobs.get(5)
    recording.save(path)
    connection.close()
    with replay(path, codec=PickleCodec()):
        assert blobs.get(5) == b"\x00\xff"


def test_a_key_not_recorded_fails_naming_the_store_batch_and_the_key(
    connection: sqlite3.Connection, tmp_path: Path
) -> None:
    users = SqlStore(connection, "users", key_column="uid", value_column="name")
    path = tmp_path / "one.jsonl"
    with record(capture=True) as recording:
        users.get(1)
    recording.save(path)
    connection.close()
    with pytest.raises(NotRecordedError) as raised, replay(path):
        users.get(2)
    assert "SqlStore(users).get asked for the key 2, which the recording does not hold" in str(
        raised.value
    )


# -- Redis -------------------------------------------------------------------------------


@pytest.fixture
def redis_url(redis_server: Any) -> Iterator[str]:
    import redis

    client = redis.Redis(*redis_server.address, socket_timeout=5)
    client.flushall()
    client.close()
    yield f"redis://127.0.0.1:{redis_server.port}/0"


@asynq()
def profile(store: Any, uid: str) -> Any:
    yield store.set.asynq(f"seen:{uid}", True)
    name, friends = yield [store.get.asynq(f"name:{uid}"), store.get.asynq(f"friends:{uid}")]
    return name, (yield [store.get.asynq(f"name:{friend}") for friend in friends])


def test_a_program_recorded_on_redis_replays_against_a_dead_server(
    redis_url: str, closed_port: int, tmp_path: Path
) -> None:
    from asynq_batching.stores.redis import RedisStore

    path = tmp_path / "redis.jsonl"
    with RedisStore.from_url(redis_url, key_prefix="app:") as live:
        live.set_many({"name:1": "Ada", "name:2": "Bo", "friends:1": ["2", "3"]})
        with record(capture=True) as recording:
            recorded = profile(live, "1")
            recorded_async = asyncio.run(profile.asyncio(live, "1"))
        recording.save(path)
    assert recorded == recorded_async == ("Ada", ["Bo", MISSING])

    dead_url = f"redis://127.0.0.1:{closed_port}/0"
    with RedisStore.from_url(dead_url, key_prefix="app:", retries=0, timeout=1) as dead:
        with pytest.raises(Exception, match=r"Connection refused|Error 111"):
            dead.get("name:1")
        requests = dead.request_count
        with replay(path, check_rounds=True) as replaying, record() as again:
            assert profile(dead, "1") == recorded
            assert asyncio.run(profile.asyncio(dead, "1")) == recorded
        assert dead.request_count == requests
    assert replaying.rounds == again.rounds == recording.rounds


def test_concurrent_loaders_on_redis_replay_in_one_round(
    redis_url: str, closed_port: int, tmp_path: Path
) -> None:
    import redis

    clients = {"client": redis.Redis.from_url(redis_url, socket_timeout=5)}
    clients["client"].mset({"user:1": "Ada", "post:7": "hello"})

    @batched(concurrent=True)
    def users(keys: list[int]) -> list[Any]:
        values = clients["client"].mget([f"user:{key}" for key in keys])
        return [value.decode() if value is not None else None for value in values]

    @batched(concurrent=True)
    def posts(keys: list[int]) -> list[Any]:
        values = clients["client"].mget([f"post:{key}" for key in keys])
        return [value.decode() if value is not None else None for value in values]

    @asynq()
    def page() -> Any:
        return (yield [users.asynq(1), posts.asynq(7), users.asynq(2)])

    path = tmp_path / "concurrent.jsonl"
    with record(capture=True) as recording:
        assert page() == ["Ada", "hello", None]
    recording.save(path)
    assert recording.rounds == 1 and len(recording.flushes) == 2
    clients["client"].close()
    clients["client"] = redis.Redis(port=closed_port, socket_timeout=1)
    with replay(path, check_rounds=True) as replaying:
        assert page() == ["Ada", "hello", None]
    assert replaying.rounds == 1
