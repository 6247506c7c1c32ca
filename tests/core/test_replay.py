"""Record and replay in asynq_core.tracing: ``record(capture=True)``,
``Recording.save`` and ``replay``, through core's seam alone.

``KeyedBatch`` below is a flush group whose futures each ask for a key and
that implements the optional record/replay methods of ``FlushGroup``
(``captured_results``, ``serve_recorded``); a replayed program must never
touch its store (``Store.reachable`` False makes every fetch fail the test).
"""

from __future__ import annotations

import asyncio
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from asynq_core import asynq
from asynq_core.futures import DeferredFuture
from asynq_core.lowlevel import NOT_FOUND
from asynq_core.tracing import (
    KeyResult,
    NotRecordedError,
    RecordedError,
    ReplayError,
    record,
    replay,
)


class StoreDown(Exception):
    """A replayed program reached the store."""


class Store:
    """A key-value store whose lookups batch; ``None`` values are stored Nones,
    absent keys are NOT_FOUND, and a key in ``failing`` raises its error."""

    def __init__(self, name: str, data: dict[Any, Any] | None = None) -> None:
        self.name = name
        self.data: dict[Any, Any] = dict(data or {})
        self.failing: dict[Any, BaseException] = {}
        self.requests: list[list[Any]] = []
        self.reachable = True
        self.batch: KeyedBatch | None = None

    def get(self, key: Any) -> KeyedItem:
        if self.batch is None or self.batch.done:
            self.batch = KeyedBatch(self)
        return KeyedItem(self.batch, key)


class KeyedItem(DeferredFuture[Any]):
    def __init__(self, batch: KeyedBatch, key: Any) -> None:
        super().__init__()
        self.batch = batch
        self.key = key
        batch.items.append(self)

    def flush_group(self) -> KeyedBatch:
        return self.batch

    def _compute(self) -> None:
        from asynq_core.lowlevel import flush_now

        flush_now(self.batch)


class KeyedBatch:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.items: list[KeyedItem] = []
        self.done = False

    @property
    def trace_name(self) -> str:
        return f"{self.store.name}.get"

    def get_priority(self) -> int:
        return 0

    def flush(self) -> None:
        if self.done:
            return
        self.done = True
        store = self.store
        if not store.reachable:
            for item in self.items:
                item.set_error(StoreDown(f"{store.name} was reached during a replay"))
            return
        store.requests.append([item.key for item in self.items])
        for item in self.items:
            if item.key in store.failing:
                item.set_error(store.failing[item.key])
            else:
                item.set_value(store.data.get(item.key, NOT_FOUND))

    def captured_results(self) -> list[tuple[Any, Any, BaseException | None]]:
        return [(item.key, item._value, item._error) for item in self.items]

    def serve_recorded(self, result_of: Any) -> bool:
        if self.done:
            return True
        self.done = True
        for item in self.items:
            value, error = result_of(item.key)
            if error is None:
                item.set_value(value)
            else:
                item.set_error(error)
        return True


class PlainBatch:
    """A flush group whose futures have no keys: never recorded nor served."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.items: list[PlainItem] = []
        self.done = False

    def get_priority(self) -> int:
        return 1

    def flush(self) -> None:
        if not self.done:
            self.done = True
            self.log.append("flushed")
            for item in self.items:
                item.set_value("plain")


class PlainItem(DeferredFuture[Any]):
    def __init__(self, batch: PlainBatch) -> None:
        super().__init__()
        self.batch = batch
        batch.items.append(self)

    def flush_group(self) -> PlainBatch:
        return self.batch


@pytest.fixture
def users() -> Store:
    return Store("users", {1: "Ada", 2: "Bo", 3: None})


@pytest.fixture
def posts() -> Store:
    return Store("posts", {"p1": [1, 2], "p2": [3]})


@asynq()
def name_of(store: Store, uid: Any) -> Any:
    return (yield store.get(uid))


@asynq()
def authors(posts: Store, users: Store, pids: list[str]) -> Any:
    uid_lists = yield [posts.get(pid) for pid in pids]
    uids = [uid for uid_list in uid_lists for uid in uid_list]
    return (yield [name_of.asynq(users, uid) for uid in uids])


def record_to(path: Path, program: Any, **options: Any) -> Any:
    with record(capture=True, **options) as recording:
        result = program()
    recording.save(path)
    return recording, result


# -- capturing ------------------------------------------------------------------------


def test_capture_keeps_what_each_key_of_each_flush_got(users: Store, posts: Store) -> None:
    users.failing[3] = ValueError("row 3 is corrupt")
    with record(capture=True) as recording:
        with pytest.raises(ValueError, match="row 3 is corrupt"):
            authors(posts, users, ["p1", "p2"])
    first, second = recording.flushes
    assert (first.batch, first.round, first.results) == (
        "posts.get",
        0,
        (KeyResult("p1", [1, 2], None), KeyResult("p2", [3], None)),
    )
    assert second.batch == "users.get" and second.round == 1
    assert second.results is not None
    assert [(result.key, result.value) for result in second.results] == [
        (1, "Ada"),
        (2, "Bo"),
        (3, None),
    ]
    assert str(second.results[2].error) == "row 3 is corrupt"


def test_without_capture_nothing_is_kept_and_save_says_why(users: Store, tmp_path: Path) -> None:
    with record() as recording:
        assert name_of(users, 1) == "Ada"
    assert recording.capture is False
    assert recording.flushes[0].results is None
    with pytest.raises(ValueError, match=r"record\(capture=True\)"):
        recording.save(tmp_path / "never.jsonl")
    assert not (tmp_path / "never.jsonl").exists()


def test_the_file_is_json_lines_a_header_then_a_flush_per_line(
    users: Store, posts: Store, tmp_path: Path
) -> None:
    path = tmp_path / "request.jsonl"
    users.data.pop(2)
    record_to(path, lambda: authors(posts, users, ["p1"]))
    header, *lines = (json.loads(line) for line in path.read_text().splitlines())
    assert header == {"asynq_recording": 1, "codec": None, "values": "json", "rounds": 2}
    assert lines == [
        {
            "round": 0,
            "batch": "posts.get",
            "items": 1,
            "results": [{"key": "p1", "value": [1, 2]}],
        },
        {
            "round": 1,
            "batch": "users.get",
            "items": 2,
            "results": [{"key": 1, "value": "Ada"}, {"key": 2, "not_found": True}],
        },
    ]


def test_values_are_recorded_as_fetched_even_if_the_program_changes_them(
    posts: Store, tmp_path: Path
) -> None:
    path = tmp_path / "mutated.jsonl"

    def program() -> Any:
        uids = name_of(posts, "p1")
        uids.append(99)  # the program changes what it got
        return uids

    record_to(path, program)
    posts.reachable = False
    with replay(path):
        assert name_of(posts, "p1") == [1, 2]


def test_a_group_without_keys_is_recorded_without_results_and_flushed_on_replay(
    users: Store, tmp_path: Path
) -> None:
    log: list[str] = []

    @asynq()
    def mixed() -> Any:
        return (yield [users.get(1), PlainItem(PlainBatch(log))])

    path = tmp_path / "mixed.jsonl"
    recording, result = record_to(path, mixed)
    assert result == ["Ada", "plain"]
    assert [flush.results is None for flush in recording.flushes] == [True, False]
    assert json.loads(path.read_text().splitlines()[1])["results"] is None
    users.reachable = False
    with replay(path):
        assert mixed() == ["Ada", "plain"]
    assert log == ["flushed", "flushed"]


# -- replaying ------------------------------------------------------------------------


def test_replay_serves_the_same_values_in_the_same_rounds_without_the_store(
    users: Store, posts: Store, tmp_path: Path
) -> None:
    path = tmp_path / "request.jsonl"
    recorded, result = record_to(path, lambda: authors(posts, users, ["p1", "p2"]))
    assert result == ["Ada", "Bo", None]
    users.reachable = posts.reachable = False
    with replay(path) as replaying, record() as again:
        assert authors(posts, users, ["p1", "p2"]) == ["Ada", "Bo", None]
    assert replaying.rounds == again.rounds == recorded.rounds == 2
    assert [(flush.batch, flush.round, flush.items) for flush in again.flushes] == [
        (flush.batch, flush.round, flush.items) for flush in recorded.flushes
    ]
    assert users.requests == [[1, 2, 3]] and posts.requests == [["p1", "p2"]]


def test_replay_serves_a_missing_key_as_missing_and_a_stored_none_as_none(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "missing.jsonl"

    @asynq()
    def lookups() -> Any:
        return (yield [users.get(3), users.get(7)])

    record_to(path, lookups)
    users.reachable = False
    with replay(path):
        assert lookups() == [None, NOT_FOUND]


def test_replay_works_under_asyncio(users: Store, posts: Store, tmp_path: Path) -> None:
    path = tmp_path / "asyncio.jsonl"
    record_to(path, lambda: asyncio.run(authors.asyncio(posts, users, ["p2", "p1"])))
    users.reachable = posts.reachable = False
    with replay(path, check_rounds=True) as replaying:
        assert asyncio.run(authors.asyncio(posts, users, ["p2", "p1"])) == [None, "Ada", "Bo"]
    assert replaying.rounds == 2


def test_an_item_flushed_outside_a_task_is_a_round_recorded_and_served(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "direct.jsonl"
    recording, _ = record_to(path, lambda: (users.get(1).value(), users.get(2).value()))
    assert recording.rounds == 2
    users.reachable = False
    with replay(path, check_rounds=True):
        assert users.get(1).value() == "Ada"
        assert users.get(2).value() == "Bo"


def test_each_request_of_a_key_gets_the_next_result_recorded_for_it(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "sequence.jsonl"

    def program() -> list[Any]:
        first = name_of(users, 1)
        users.data[1] = "Ada Lovelace"  # written between two reads
        return [first, name_of(users, 1)]

    record_to(path, program)
    users.reachable = False
    with replay(path):
        assert [name_of(users, 1), name_of(users, 1), name_of(users, 1)] == [
            "Ada",
            "Ada Lovelace",
            "Ada Lovelace",  # the last result again, once they run out
        ]


def test_each_request_gets_a_fresh_value(posts: Store, tmp_path: Path) -> None:
    path = tmp_path / "fresh.jsonl"
    record_to(path, lambda: name_of(posts, "p1"))
    posts.reachable = False
    with replay(path):
        first = name_of(posts, "p1")
        first.append(99)
        assert name_of(posts, "p1") == [1, 2]


def test_replay_can_decorate_a_function(users: Store, tmp_path: Path) -> None:
    path = tmp_path / "decorated.jsonl"
    record_to(path, lambda: name_of(users, 2))
    users.reachable = False

    @replay(path)
    def replayed() -> Any:
        return name_of(users, 2)

    assert replayed() == "Bo"
    assert replayed() == "Bo"  # each call replays on its own


# -- what was not recorded -------------------------------------------------------------


def test_a_key_not_recorded_fails_naming_the_batch_and_the_key(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "one.jsonl"
    record_to(path, lambda: name_of(users, 1))
    users.reachable = False
    with pytest.raises(NotRecordedError) as raised, replay(path):
        name_of(users, 42)
    message = str(raised.value)
    assert "users.get asked for the key 42" in message
    assert "which the recording does not hold (1 key of users.get recorded: 1)" in message
    assert str(path) in message


def test_a_batch_never_recorded_is_named_with_those_that_were(
    users: Store, posts: Store, tmp_path: Path
) -> None:
    path = tmp_path / "users.jsonl"
    record_to(path, lambda: name_of(users, 1))
    posts.reachable = False
    with (
        pytest.raises(
            NotRecordedError,
            match=r"posts.get asked for the key 'p1', and the "
            r"recording has no flush of posts.get \(it has: users.get\)",
        ),
        replay(path),
    ):
        name_of(posts, "p1")


def test_a_program_that_swallows_the_error_still_fails_when_the_block_ends(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "swallowed.jsonl"
    record_to(path, lambda: name_of(users, 1))
    users.reachable = False

    @asynq()
    def tolerant() -> Any:
        try:
            return (yield users.get(5))
        except Exception:
            return "fallback"

    with pytest.raises(NotRecordedError, match="the key 5"), replay(path):
        assert tolerant() == "fallback"


def test_the_block_error_wins_over_a_key_not_recorded(users: Store, tmp_path: Path) -> None:
    path = tmp_path / "own.jsonl"
    record_to(path, lambda: name_of(users, 1))
    users.reachable = False
    with pytest.raises(KeyError, match="own"), replay(path):
        with pytest.raises(NotRecordedError):
            name_of(users, 5)
        raise KeyError("own")


def test_only_the_requests_of_a_key_not_recorded_fail(users: Store, tmp_path: Path) -> None:
    path = tmp_path / "partial.jsonl"
    record_to(path, lambda: name_of(users, 1))
    users.reachable = False

    @asynq()
    def each() -> Any:
        first, second = users.get(1), users.get(9)
        yield [first, second]  # the error of one does not stop the other
        return first, second

    with pytest.raises(NotRecordedError), replay(path):
        with pytest.raises(NotRecordedError):
            each()
        users.reachable = True  # untouched: the recorded key is served, the other fails
    assert users.requests == [[1]]


# -- errors ----------------------------------------------------------------------------


class Unreachable(ConnectionError):
    """An error of a module-level type: rebuilt as itself."""


def test_a_recorded_error_is_replayed_with_its_type_and_message(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "errors.jsonl"
    users.failing[1] = Unreachable("users: connection refused (users.get of 1)")
    users.failing[2] = OSError(111, "Connection refused")
    users.failing[3] = KeyError(3)

    @asynq()
    def outcomes() -> Any:
        items = [users.get(1), users.get(2), users.get(3)]
        try:
            yield items
        except Exception:  # the first of them; each item keeps its own
            pass
        return [item.error() for item in items]

    _, recorded = record_to(path, outcomes)
    users.reachable = False
    with replay(path):
        replayed = outcomes()
    for before, after in zip(recorded, replayed, strict=True):
        assert type(after) is type(before)
        assert str(after) == str(before)
        assert after is not before
    assert replayed[1].errno == 111


def test_an_error_whose_type_cannot_be_found_is_a_recorded_error(
    users: Store, tmp_path: Path
) -> None:
    class LocalError(Exception):
        def __init__(self, code: int) -> None:
            super().__init__(code)
            self.code = code

        def __str__(self) -> str:
            return f"failed with code {self.code}"

    path = tmp_path / "local.jsonl"
    users.failing[1] = LocalError(7)
    record_to(path, lambda: users.get(1).error())
    users.reachable = False
    with replay(path):
        error = users.get(1).error()
    assert type(error) is RecordedError
    assert error.type_name.endswith("LocalError") and error.message == "failed with code 7"
    assert str(error) == f"{error.type_name}: failed with code 7 (a recorded error)"


# -- codecs ----------------------------------------------------------------------------


def test_the_default_codec_refuses_what_json_would_change_naming_the_batch_and_key(
    posts: Store, tmp_path: Path
) -> None:
    posts.data["p3"] = (4, 5)
    with record(capture=True) as recording:
        name_of(posts, "p3")
    path = tmp_path / "tuple.jsonl"
    with pytest.raises(TypeError) as raised:
        recording.save(path)
    assert str(raised.value) == (
        "Recording.save(): cannot encode the value of the key 'p3' of posts.get (round 0) "
        "with the default codec (JSON): JSON cannot store a tuple: it would come back as a list"
    )
    assert not path.exists()


@pytest.mark.parametrize("codec", [pickle, "object"], ids=["dumps/loads", "encode/decode"])
def test_a_codec_stores_what_json_cannot(posts: Store, tmp_path: Path, codec: Any) -> None:
    class PickleBytes:
        def encode(self, value: Any) -> bytes:
            return pickle.dumps(value)

        def decode(self, data: bytes) -> Any:
            return pickle.loads(data)

    if codec == "object":
        codec = PickleBytes()
    posts.data[("p", 3)] = {4, 5}
    path = tmp_path / "pickled.jsonl"
    record_to(path, lambda: name_of(posts, ("p", 3)), codec=codec)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["values"] == "base64"
    assert header["codec"] == ("pickle" if codec is pickle else PickleBytes.__qualname__)
    posts.reachable = False
    with replay(path, codec=codec):
        assert name_of(posts, ("p", 3)) == {4, 5}


def test_a_codec_of_text_is_written_as_text(users: Store, tmp_path: Path) -> None:
    path = tmp_path / "text.jsonl"
    record_to(path, lambda: name_of(users, 1), codec=json)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["values"] == "str"
    assert json.loads(lines[1])["results"] == [{"key": "1", "value": '"Ada"'}]
    users.reachable = False
    with replay(path, codec=json):
        assert name_of(users, 1) == "Ada"


def test_replay_refuses_another_codec_than_the_recording_was_saved_with(
    users: Store, tmp_path: Path
) -> None:
    path = tmp_path / "json.jsonl"
    record_to(path, lambda: name_of(users, 1))
    with pytest.raises(
        ValueError,
        match=r"was saved with the default codec \(JSON\), and "
        r"replay\(\) was given the codec pickle: pass the codec",
    ):
        replay(path, codec=pickle)
    pickled = tmp_path / "pickle.jsonl"
    record_to(pickled, lambda: name_of(users, 1), codec=pickle)
    with pytest.raises(ValueError, match="was saved with the codec pickle"):
        replay(pickled)


def test_bad_options_are_refused_naming_the_function() -> None:
    with pytest.raises(TypeError, match=r"record\(\): codec must have encode\(\) and decode\(\)"):
        record(capture=True, codec=object())
    with pytest.raises(ValueError, match=r"record\(\): a codec is used only with capture=True"):
        record(codec=pickle)
    with pytest.raises(TypeError, match=r"record\(\): capture must be True or False, got 1"):
        record(capture=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"replay\(\): check_rounds must be True or False"):
        replay("x.jsonl", check_rounds="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"replay\(\) takes a file path"):
        replay(42)  # type: ignore[arg-type]


def test_a_missing_file_is_named_with_the_function(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        replay(tmp_path / "absent.jsonl")
    assert "replay(): no recording at this path" in str(raised.value)
    assert str(tmp_path / "absent.jsonl") in str(raised.value)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "is empty, not a recording"),
        ("\udcff", "is not UTF-8 text, not a recording"),
        ("{]\n", "line 1: not JSON"),
        ('{"format": 2}\n', "line 1: not a recording of asynq"),
        (
            '{"asynq_recording": 1, "codec": null, "values": "json", "rounds": 1}\n{"round": 0}\n',
            "line 2: not a recorded flush",
        ),
        (
            '{"asynq_recording": 1, "codec": null, "values": "json", "rounds": 1}\n'
            '{"round": 3, "batch": "b", "items": 0, "results": []}\n',
            "has a flush of b in round 3, after its last round (0)",
        ),
    ],
)
def test_a_file_that_is_not_a_recording_is_refused_naming_the_line(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match=re.escape(complaint)) as raised:
        replay(path)
    assert str(path) in str(raised.value)


# -- rounds ----------------------------------------------------------------------------


@asynq()
def one_by_one(store: Store, keys: list[Any]) -> Any:
    values = []
    for key in keys:
        values.append((yield store.get(key)))
    return values


@asynq()
def all_at_once(store: Store, keys: list[Any]) -> Any:
    return (yield [store.get(key) for key in keys])


def test_by_default_keys_are_served_whatever_their_round(users: Store, tmp_path: Path) -> None:
    path = tmp_path / "batched.jsonl"
    record_to(path, lambda: all_at_once(users, [1, 2]))
    users.reachable = False
    with replay(path) as replaying:
        assert one_by_one(users, [1, 2]) == ["Ada", "Bo"]
    assert replaying.rounds == 2


def test_check_rounds_serves_a_key_only_in_its_recorded_round(users: Store, tmp_path: Path) -> None:
    path = tmp_path / "batched.jsonl"
    record_to(path, lambda: all_at_once(users, [1, 2]))
    users.reachable = False
    with replay(path, check_rounds=True):
        assert all_at_once(users, [1, 2]) == ["Ada", "Bo"]
    with pytest.raises(NotRecordedError) as raised, replay(path, check_rounds=True):
        one_by_one(users, [1, 2])
    assert str(raised.value).endswith(
        "users.get asked for the key 2 in round 1; with check_rounds=True it is served only "
        "in the rounds it was recorded in: 0"
    )


def test_check_rounds_fails_a_block_that_skips_recorded_requests(
    users: Store, posts: Store, tmp_path: Path
) -> None:
    path = tmp_path / "two_rounds.jsonl"
    record_to(path, lambda: authors(posts, users, ["p1"]))
    posts.reachable = users.reachable = False
    with pytest.raises(ReplayError) as raised, replay(path, check_rounds=True):
        assert name_of(posts, "p1") == [1, 2]
    assert str(raised.value) == (
        f"replay of {path} with check_rounds=True: the block did not ask in the recorded "
        "rounds:\n  the block took 1 round, the recording 2 rounds\n"
        "  round 1 did not ask for users.get: 1, 2"
    )
    with replay(path):  # without check_rounds, asking for less is fine
        assert name_of(posts, "p1") == [1, 2]
