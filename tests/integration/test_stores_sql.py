"""SqlStore on the standard library's sqlite3 (the embedded default), and the
SQL it sends to other DB-API drivers.

Round trips are counted by SQLite itself: ``set_trace_callback`` reports
every statement the connection runs.
"""

from __future__ import annotations

import asyncio
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asynq_batching import MissingKeyError, sync
from asynq_batching.stores import MISSING, PickleCodec, SqlStore
from asynq_core import asynq


class Traced:
    """The statements a sqlite3 connection runs (transaction control left out)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.statements: list[str] = []
        connection.set_trace_callback(self.statements.append)

    def of(self, verb: str) -> list[str]:
        return [sql for sql in self.statements if sql.lstrip().upper().startswith(verb)]


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "store.db")
    connection.execute("CREATE TABLE users (uid TEXT PRIMARY KEY, name TEXT)")
    connection.commit()
    yield connection
    connection.close()


@pytest.fixture
def users(connection: sqlite3.Connection) -> SqlStore:
    return SqlStore(connection, "users", key_column="uid", value_column="name")


@asynq()
def read_all(store: Any, keys: list[Any]) -> Any:
    return (yield [store.get.asynq(key) for key in keys])


def test_null_is_a_stored_none_and_no_row_is_missing(users: SqlStore) -> None:
    users.set_many({"u1": "Ada", "u2": None})
    assert users.get("u1") == "Ada"
    assert users.get("u2") is None
    assert users.get("u3") is MISSING
    assert users.get_many(["u1", "u2", "u3"]) == {"u1": "Ada", "u2": None}
    users.set("u1", "Grace")  # an upsert
    assert users.get("u1") == "Grace"
    users.delete("u1")
    assert users.get("u1") is MISSING


def test_a_flush_of_many_lookups_is_one_select(
    users: SqlStore, connection: sqlite3.Connection
) -> None:
    users.set_many({f"u{i}": f"User {i}" for i in range(0, 100, 2)})
    traced = Traced(connection)
    keys = [f"u{i}" for i in range(100)]
    expected = [f"User {i}" if i % 2 == 0 else MISSING for i in range(100)]
    assert read_all(users, [*keys, "u0"]) == [*expected, "User 0"]
    (select,) = traced.statements
    assert select.startswith("SELECT uid, name FROM users WHERE uid IN (")
    assert select.count("'u") == 100  # each key once


def test_large_flushes_are_split(connection: sqlite3.Connection) -> None:
    store = SqlStore(connection, "users", key_column="uid", value_column="name", max_batch_size=10)
    traced = Traced(connection)
    store.set_many({f"u{i}": str(i) for i in range(25)})
    assert len(traced.of("INSERT")) == 3
    traced.statements.clear()
    assert read_all(store, [f"u{i}" for i in range(25)]) == [str(i) for i in range(25)]
    assert len(traced.of("SELECT")) == 3
    assert store.request_count == 6


def test_writes_of_a_round_are_one_committed_statement(
    users: SqlStore, connection: sqlite3.Connection, tmp_path: Path
) -> None:
    traced = Traced(connection)

    @asynq()
    def write(i: int) -> Any:
        yield users.set.asynq(f"u{i}", f"name {i}")

    @asynq()
    def main() -> Any:
        yield [write.asynq(i) for i in range(30)]

    main()
    (insert,) = traced.of("INSERT")
    assert "ON CONFLICT (uid) DO UPDATE SET name = excluded.name" in insert
    other = sqlite3.connect(tmp_path / "store.db")  # sees only committed rows
    try:
        assert other.execute("SELECT COUNT(*) FROM users").fetchone() == (30,)
    finally:
        other.close()


def test_a_failed_write_is_rolled_back_and_fails_only_its_tasks(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "checked.db")
    connection.execute("CREATE TABLE scores (name TEXT PRIMARY KEY, score INTEGER NOT NULL)")
    scores = SqlStore(connection, "scores", key_column="name", value_column="score")
    outcomes: dict[str, Any] = {}

    @asynq()
    def bad_write() -> Any:
        try:
            yield scores.set.asynq("nobody", None)  # violates NOT NULL
        except sqlite3.IntegrityError as error:
            outcomes["write"] = error

    @asynq()
    def bystander() -> Any:
        yield sync()
        outcomes["bystander"] = "finished"

    @asynq()
    def main() -> Any:
        yield [bad_write.asynq(), bystander.asynq()]

    main()
    assert isinstance(outcomes["write"], sqlite3.IntegrityError)
    assert outcomes["bystander"] == "finished"
    assert not connection.in_transaction
    scores.set("alice", 3)
    assert scores.get("alice") == 3
    connection.close()


def test_integer_keys_and_a_codec(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    blobs = SqlStore(connection, "blobs", key_column="id", value_column="data", codec=PickleCodec())
    blobs.set_many({1: {"a": (1, 2)}, 2: None})
    assert blobs.get_many([1, 2, 3]) == {1: {"a": (1, 2)}, 2: None}
    (stored,) = connection.execute("SELECT data FROM blobs WHERE id = 1").fetchone()
    assert isinstance(stored, bytes)


@pytest.fixture
def by_id(tmp_path: Path) -> Iterator[SqlStore]:
    connection = sqlite3.connect(tmp_path / "ids.db")
    connection.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    yield SqlStore(connection, "people", key_column="id", value_column="name")
    connection.close()


def test_a_key_of_another_type_finds_the_row_the_database_matches(by_id: SqlStore) -> None:
    by_id.set("3", "cy")  # SQLite stores the integer 3
    assert by_id.get("3") == "cy"
    assert by_id.get(3) == "cy"
    assert by_id.get("4") is MISSING
    by_id.set(5, "eve")
    # Both spellings of a key in one request, present and absent keys mixed.
    assert by_id.get_many(["3", 3, "4", 5, "5", 6]) == {"3": "cy", 3: "cy", 5: "eve", "5": "eve"}
    assert read_all(by_id, ["5", 3, "3", "x"]) == ["eve", "cy", "cy", MISSING]


def test_a_key_of_another_type_under_asyncio(by_id: SqlStore) -> None:
    by_id.set_many({1: "ada", 2: "bo"})
    assert asyncio.run(read_all.asyncio(by_id, ["1", 2, "2", 9])) == ["ada", "bo", "bo", MISSING]


def test_a_text_key_column_read_with_int_keys(users: SqlStore) -> None:
    users.set_many({"1": "ada", "u2": "bo"})
    assert users.get(1) == "ada"
    assert users.get_many([1, "1", "u2", 2]) == {1: "ada", "1": "ada", "u2": "bo"}


def test_keys_of_the_columns_type_cost_one_select(by_id: SqlStore) -> None:
    by_id.set_many({1: "ada", 3: "cy"})
    traced = Traced(by_id.connection)
    assert by_id.get_many([1, 2, 3]) == {1: "ada", 3: "cy"}
    assert len(traced.of("SELECT")) == 1
    traced.statements.clear()
    # Another type: the rows the first SELECT returned are told apart by a second one.
    before = by_id.request_count
    assert by_id.get_many([1, "3", 2]) == {1: "ada", "3": "cy"}
    assert len(traced.of("SELECT")) == 2
    assert by_id.request_count == before + 2


@pytest.mark.parametrize("paramstyle", ["qmark", "named", "numeric"])
def test_paramstyles_sqlite_understands(connection: sqlite3.Connection, paramstyle: str) -> None:
    store = SqlStore(
        connection, "users", key_column="uid", value_column="name", paramstyle=paramstyle
    )
    store.set_many({"a": "A", "b": "B"})
    assert store.get_many(["a", "b", "c"]) == {"a": "A", "b": "B"}
    store.delete_many(["a"])
    assert store.get_many(["a", "b"]) == {"b": "B"}


class RecordingConnection:
    """A DB-API connection of a server driver, reduced to recording what it is sent."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, Any]] = []
        self.commits = 0

    def cursor(self) -> RecordingConnection:
        return self

    def execute(self, sql: str, params: Any) -> None:
        self.executed.append((sql, params))

    def fetchall(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        pass


@pytest.mark.parametrize(
    ("paramstyle", "select", "params"),
    [
        ("format", "IN (%s, %s)", ["k1", "k2"]),
        ("pyformat", "IN (%(p0)s, %(p1)s)", {"p0": "k1", "p1": "k2"}),
        ("numeric", "IN (:1, :2)", ["k1", "k2"]),
        ("named", "IN (:p0, :p1)", {"p0": "k1", "p1": "k2"}),
    ],
)
def test_the_sql_sent_in_each_paramstyle(paramstyle: str, select: str, params: Any) -> None:
    connection = RecordingConnection()
    store = SqlStore(connection, "kv", key_column="k", value_column="v", paramstyle=paramstyle)
    assert store.get_many(["k1", "k2"]) == {}
    ((sql, sent),) = connection.executed
    assert sql == f"SELECT k, v FROM kv WHERE k {select}"
    assert sent == params


def test_a_failed_rollback_is_reported_with_the_statements_error() -> None:
    class Broken(RecordingConnection):
        def execute(self, sql: str, params: Any) -> None:
            raise RuntimeError("disk full")

        def rollback(self) -> None:
            raise ConnectionError("connection lost")

    store = SqlStore(Broken(), "kv", key_column="k", value_column="v", paramstyle="qmark")
    with pytest.raises(RuntimeError) as raised:
        store.set("a", 1)
    assert str(raised.value) == (
        "disk full (and the rollback failed: ConnectionError('connection lost')) "
        "(SqlStore(kv) set of 'a')"
    )


def test_mysql_upserts() -> None:
    connection = RecordingConnection()
    store = SqlStore(
        connection,
        "kv",
        key_column="k",
        value_column="v",
        paramstyle="format",
        upsert="on_duplicate_key",
    )
    store.set_many({"a": 1, "b": 2})
    ((sql, params),) = connection.executed
    assert sql == (
        "INSERT INTO kv (k, v) VALUES (%s, %s), (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)"
    )
    assert params == ["a", 1, "b", 2]
    assert connection.commits == 1


def test_arguments_are_checked(connection: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match=r"SqlStore\(\): table must be a plain SQL identifier"):
        SqlStore(connection, "users; DROP TABLE users", key_column="uid", value_column="name")
    with pytest.raises(ValueError, match=r"SqlStore\(\): value_column must be a plain SQL"):
        SqlStore(connection, "users", key_column="uid", value_column="name--")
    with pytest.raises(TypeError, match=r"SqlStore\(\) needs a DB-API connection"):
        SqlStore("users.db", "users", key_column="uid", value_column="name")
    with pytest.raises(ValueError, match=r"cannot tell the paramstyle .* pass paramstyle="):
        SqlStore(RecordingConnection(), "kv", key_column="k", value_column="v")
    with pytest.raises(ValueError, match=r"paramstyle must be one of"):
        SqlStore(connection, "users", key_column="uid", value_column="name", paramstyle="dollar")
    with pytest.raises(ValueError, match=r"upsert must be one of"):
        SqlStore(connection, "users", key_column="uid", value_column="name", upsert="merge")
    assert (
        SqlStore(connection, "main.users", key_column="uid", value_column="name").get("nobody")
        is MISSING
    )


def test_a_recording_of_concurrent_asyncio_requests_counts_what_reached_sqlite(
    connection: sqlite3.Connection, users: SqlStore
) -> None:
    from asynq_core.tracing import assert_max_rounds, record

    users.set_many({f"u{index}": f"name{index}" for index in range(8)})
    traced = Traced(connection)

    @asynq()
    def names_of(keys: list[str]) -> Any:
        first = yield [users.get.asynq(key) for key in keys[:2]]
        second = yield [users.get.asynq(key) for key in keys[2:]]
        return first + second

    async def two_requests() -> Any:
        return await asyncio.gather(
            names_of.asyncio(["u0", "u1", "u2", "u3"]), names_of.asyncio(["u4", "u5", "u6", "u7"])
        )

    with record() as recording, assert_max_rounds(2):
        assert asyncio.run(two_requests()) == [
            ["name0", "name1", "name2", "name3"],
            ["name4", "name5", "name6", "name7"],
        ]
    selects = traced.of("SELECT")
    assert len(selects) == 2  # one statement per round, both requests' keys in it
    assert recording.rounds == 2
    assert [(flush.items, flush.round) for flush in recording.flushes] == [(4, 0), (4, 1)]
    assert sum(flush.items for flush in recording.flushes) == 8


def test_get_many_settled_gives_each_key_its_value_or_exception(
    connection: sqlite3.Connection,
) -> None:
    connection.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    blobs = SqlStore(connection, "blobs", key_column="id", value_column="data", codec=PickleCodec())
    blobs.set_many({1: {"a": (1, 2)}, 2: None})
    connection.execute("INSERT INTO blobs VALUES (3, ?)", (b"not a pickle",))
    connection.commit()
    traced = Traced(connection)
    outcomes = blobs.get_many_settled([1, 2, 3, 4])
    assert len(traced.of("SELECT")) == 1
    assert outcomes[1] == {"a": (1, 2)} and outcomes[2] is None
    assert isinstance(outcomes[3], pickle.UnpicklingError)
    assert "(SqlStore(blobs) get of 3, decoding its 12 bytes with PickleCodec(" in str(outcomes[3])
    assert isinstance(outcomes[4], MissingKeyError) and outcomes[4].key == 4
    assert "SqlStore(blobs).get_many_settled(): the store holds no value under the key 4" == str(
        outcomes[4]
    )
    assert asyncio.run(blobs.get_many_settled.asyncio([2]))[2] is None


def test_get_many_settled_on_a_closed_database_names_each_key(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "closed.db")
    connection.execute("CREATE TABLE users (uid TEXT PRIMARY KEY, name TEXT)")
    users = SqlStore(connection, "users", key_column="uid", value_column="name")
    connection.close()

    @asynq()
    def main() -> Any:
        settled, unrelated = yield users.get_many_settled.asynq(["a", "b"]), sync()
        return settled, unrelated

    settled, unrelated = main()
    assert unrelated is None  # the other task of the round finished
    for key in ("a", "b"):
        error = settled[key]
        assert isinstance(error, sqlite3.ProgrammingError)
        assert str(error).endswith(f"(SqlStore(users) get of {key!r}, in a request of 2 keys)")
