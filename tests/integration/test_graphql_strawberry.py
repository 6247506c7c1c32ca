"""examples/graphql_strawberry.py: asynq loaders behind a real GraphQL server.

What is measured, on the example's own schema and SQLite data:

- a query d levels deep makes exactly d flushes (requests to the database,
  loaders without cache), each holding every key of its level once, whatever
  the number of answers; strawberry's DataLoader and aiodataloader, run on the
  same schema (the same resolvers, their loaders in place of ours), make as
  many flushes, but without a cache they send a key once per resolver asking;
- two concurrent operations share the flushes of their levels (the loaders
  are shared, DataLoaders are per request) and never each other's cached
  values; a later request starts empty;
- a resolver that fails gives an error for its path only; an operation
  cancelled (a timeout) leaves the batch another operation waits on, and its
  result, intact; when graphql-core cancels the siblings of a failed non-null
  field, a field elsewhere that waits on the same key still gets its value
  (with strawberry's cached DataLoader it is cancelled too).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# Test dependencies (hatch.toml, .ci/run): skipped without them, except under
# CI=true, where a missing one fails, as the servers of conftest.py do.
if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("strawberry")
    pytest.importorskip("aiodataloader")

import aiodataloader
import strawberry
from strawberry.dataloader import DataLoader as StrawberryDataLoader

from asynq_core import request, tracing

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# open_db(4, 5): 20 answers; user u wrote u, u + 4, ...; best answer of u is 16 + u.
N_USERS = 4
IDS = list(range(1, 13))  # three answers by each user
USERS = [1, 2, 3, 4]
BEST = [17, 18, 19, 20]

DEPTH_QUERIES = {
    1: "query($ids: [Int!]!) { answers(ids: $ids) { id text } }",
    2: "query($ids: [Int!]!) { answers(ids: $ids) { id author { name } } }",
    3: "query($ids: [Int!]!) { answers(ids: $ids) { id author { name bestAnswer { text } } } }",
    4: (
        "query($ids: [Int!]!) { answers(ids: $ids) { id author { name "
        "bestAnswer { text author { name } } } } }"
    ),
}
# What each flush of a depth-d query holds, level by level.
LEVEL_KEYS = [("answers", IDS), ("users", USERS), ("answers", BEST), ("users", USERS)]


@pytest.fixture(scope="module")
def gql() -> Iterator[ModuleType]:
    """examples/graphql_strawberry.py, loaded under a name of its own (strawberry
    looks the module up by name to resolve the annotations)."""
    name = "asynq_example_graphql_strawberry"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "graphql_strawberry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def new_site(gql: ModuleType, cache: bool = False, latency: float = 0.0) -> Any:
    return gql.Site(gql.open_db(N_USERS, answers_per_user=5), cache=cache, latency=latency)


async def execute(gql: ModuleType, query: str, context: Any, **variables: Any) -> Any:
    return await gql.schema.execute(query, variable_values=variables, context_value=context)


def check_ok(result: Any) -> dict[str, Any]:
    assert result.errors is None, result.errors
    data: dict[str, Any] = result.data
    return data


# -- the peers, on the same schema ---------------------------------------------


class _Load:
    """A DataLoader as the resolvers call a loader: ``.asyncio(key)``."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def asyncio(self, key: Any) -> Any:
        return self.loader.load(key)


def _aligned(fetch: Any) -> Any:
    """The example's bulk function as a DataLoader's: a list aligned with the keys."""

    async def load(keys: list[Any]) -> list[Any]:
        found = await fetch(keys)
        return [found[key] if key in found else KeyError(key) for key in keys]

    return load


class _Votes:
    """The example's votes store as a DataLoader over the same table, called as
    the resolver calls the store: ``votes.get.asyncio(aid, default)``."""

    def __init__(self, site: Any, make_loader: Any) -> None:
        async def fetch(aids: list[int]) -> list[Any]:
            site.queries.append(("votes", list(aids)))
            marks = ", ".join("?" * len(aids))
            sql = f"SELECT aid, count FROM votes WHERE aid IN ({marks})"
            counts = dict(site.db.execute(sql, aids).fetchall())
            return [counts.get(aid) for aid in aids]

        self.loader = make_loader(fetch)
        self.get = self

    async def asyncio(self, aid: int, default: Any) -> Any:
        count = await self.loader.load(aid)
        return default if count is None else count


class PeerContext:
    """The example's Site with DataLoaders in place of its asynq loaders and
    store, made per operation (in the loop), as DataLoaders are meant to be."""

    def __init__(self, site: Any, peer: str, cache: bool) -> None:
        self.site = site
        loader_class = StrawberryDataLoader if peer == "strawberry" else aiodataloader.DataLoader

        def make_loader(fetch: Any) -> Any:
            return loader_class(fetch, cache=cache)

        self.votes = _Votes(site, make_loader)
        self.answer_by_id = _Load(make_loader(_aligned(site.fetch_answers)))
        self.user_by_id = _Load(make_loader(_aligned(site.fetch_users)))


async def run_peer(gql: ModuleType, site: Any, peer: str, cache: bool, query: str) -> Any:
    return await execute(gql, query, PeerContext(site, peer, cache), ids=IDS)


# -- flushes -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_a_query_d_levels_deep_makes_d_flushes_each_key_once(gql: ModuleType, depth: int) -> None:
    site = new_site(gql, cache=False)
    data = check_ok(asyncio.run(execute(gql, DEPTH_QUERIES[depth], site, ids=IDS)))
    assert [answer["id"] for answer in data["answers"]] == IDS
    assert len(site.queries) == depth
    for (table, keys), (level_table, level_keys) in zip(
        site.queries, LEVEL_KEYS[:depth], strict=True
    ):
        assert table == level_table
        assert sorted(keys) == level_keys  # every key of the level, each once
    if depth == 4:
        author = data["answers"][4]["author"]  # answer 5, by user 1
        assert author == {
            "name": "User 1",
            "bestAnswer": {"text": "Answer 17", "author": {"name": "User 1"}},
        }


@pytest.mark.parametrize("n_answers", [1, 40, 400])
def test_the_number_of_flushes_does_not_grow_with_the_answers(
    gql: ModuleType, n_answers: int
) -> None:
    site = gql.Site(gql.open_db(10, answers_per_user=n_answers // 10 + 2), cache=False)
    ids = list(range(1, n_answers + 1))
    data = check_ok(asyncio.run(execute(gql, DEPTH_QUERIES[4], site, ids=ids)))
    assert len(data["answers"]) == n_answers
    assert [table for table, _ in site.queries] == ["answers", "users", "answers", "users"]
    assert [len(keys) for _, keys in site.queries] == [n_answers, *[min(n_answers, 10)] * 3]


def test_with_the_cache_the_fourth_level_comes_from_the_request(gql: ModuleType) -> None:
    site = new_site(gql, cache=True)
    check_ok(asyncio.run(execute(gql, DEPTH_QUERIES[4], site, ids=IDS)))
    # The authors of the best answers are the users of the second level.
    assert [(table, sorted(keys)) for table, keys in site.queries] == LEVEL_KEYS[:3]


@pytest.mark.parametrize("peer", ["strawberry", "aiodataloader"])
@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_flushes_against_dataloader_on_the_same_schema(
    gql: ModuleType, peer: str, cache: bool, depth: int
) -> None:
    """The same flushes as theirs (d, or 3 at depth 4 with a cache: the last
    level's users are cached); without a cache they send a key once per
    resolver asking (12 user keys for 4 users), ours once per flush."""
    ours = new_site(gql, cache=cache)
    our_data = check_ok(asyncio.run(execute(gql, DEPTH_QUERIES[depth], ours, ids=IDS)))
    theirs = new_site(gql)
    their_data = check_ok(asyncio.run(run_peer(gql, theirs, peer, cache, DEPTH_QUERIES[depth])))
    assert their_data == our_data
    flushes = 3 if cache and depth == 4 else depth
    assert len(ours.queries) == len(theirs.queries) == flushes
    assert [len(keys) for _, keys in ours.queries] == [12, 4, 4, 4][:flushes]
    their_keys = [len(keys) for _, keys in theirs.queries]
    assert their_keys == ([12, 4, 4, 4] if cache else [12] * 4)[:flushes]


def test_the_resolver_kinds_share_flushes(gql: ModuleType) -> None:
    """A native resolver on a loader, one on the SqlStore and an asynq function
    (``headline``) asking for the same keys: one flush per table and level
    (with the request's cache, headline's answer is the one Query.answers loaded)."""
    site = new_site(gql, cache=True)
    query = "query($ids: [Int!]!) { answers(ids: $ids) { votes headline author { name } } }"
    data = check_ok(asyncio.run(execute(gql, query, site, ids=IDS)))
    assert data["answers"][0] == {
        "votes": 1,
        "headline": "Answer 1 (by User 1, 1 votes)",
        "author": {"name": "User 1"},
    }
    assert data["answers"][6]["votes"] == 0  # no row for answer 7: the store's default
    # Round 1: answers (Query.answers and headline's first yield); round 2:
    # users (author, headline) and votes (votes, headline).
    assert sorted((table, tuple(sorted(keys))) for table, keys in site.queries) == [
        ("answers", tuple(IDS)),
        ("users", tuple(USERS)),
        ("votes", tuple(IDS)),
    ]


def test_concurrent_operations_share_flushes_where_dataloaders_do_not(gql: ModuleType) -> None:
    """Two operations at once, depth 4: their levels share 4 flushes; with
    DataLoaders made per request (as they must be, to keep caches apart) 8."""
    query = DEPTH_QUERIES[4]

    async def two(context: Any) -> list[Any]:
        first, second = await asyncio.gather(
            gql.schema.execute(query, variable_values={"ids": IDS[:6]}, context_value=context()),
            gql.schema.execute(query, variable_values={"ids": IDS[6:]}, context_value=context()),
        )
        return [check_ok(first), check_ok(second)]

    ours = new_site(gql, cache=False)
    our_data = asyncio.run(two(lambda: ours))
    assert [(table, sorted(keys)) for table, keys in ours.queries] == LEVEL_KEYS
    for peer in ("strawberry", "aiodataloader"):
        theirs = new_site(gql)
        assert asyncio.run(two(lambda: PeerContext(theirs, peer, False))) == our_data  # noqa: B023
        assert len(theirs.queries) == 8


# -- requests --------------------------------------------------------------------

NAME_OF_1 = "{ user(id: 1) { name } }"


def name_in(result: Any) -> str:
    name: str = check_ok(result)["user"]["name"]
    return name


def test_without_a_request_a_cache_holds_nothing(gql: ModuleType) -> None:
    """The same schema without AsynqRequest: each load in a native resolver is
    a run of its own, so the cache=True loaders cache nothing (4 flushes, not
    3 as with the request), and batching is unchanged."""
    bare = strawberry.Schema(query=gql.Query)
    site = new_site(gql, cache=True)
    result = asyncio.run(
        bare.execute(DEPTH_QUERIES[4], variable_values={"ids": IDS}, context_value=site)
    )
    check_ok(result)
    assert [(table, sorted(keys)) for table, keys in site.queries] == LEVEL_KEYS


def test_concurrent_requests_never_see_each_others_cached_values(gql: ModuleType) -> None:
    site = new_site(gql, cache=True)

    async def primed(name: str) -> str:
        async with request():  # the server's request: the extension joins it
            site.user_by_id.prime(1, gql.User(id=1, name=name, best_answer_id=None))
            await asyncio.sleep(0)  # both requests primed before either runs its query
            return name_in(await execute(gql, NAME_OF_1, site))

    async def both() -> list[str]:
        return list(await asyncio.gather(primed("first"), primed("second")))

    assert asyncio.run(both()) == ["first", "second"]
    assert site.queries == []
    # A later request starts empty: the database's value, one query.
    assert name_in(asyncio.run(execute(gql, NAME_OF_1, site))) == "User 1"
    assert site.queries == [("users", [1])]


def test_a_request_keeps_its_values_while_the_store_changes(gql: ModuleType) -> None:
    """A request spanning two operations reads its cached value again; one that
    starts after the store changed reads the new value; so does a later one."""
    site = new_site(gql, cache=True)

    async def scenario() -> dict[str, str]:
        first_read, renamed = asyncio.Event(), asyncio.Event()
        names: dict[str, str] = {}

        async def long_request() -> None:
            async with request():
                names["long, before"] = name_in(await execute(gql, NAME_OF_1, site))
                first_read.set()
                await renamed.wait()
                names["long, after"] = name_in(await execute(gql, NAME_OF_1, site))

        async def renaming_request() -> None:
            await first_read.wait()
            site.db.execute("UPDATE users SET name = 'Renamed' WHERE uid = 1")
            names["concurrent"] = name_in(await execute(gql, NAME_OF_1, site))
            renamed.set()

        await asyncio.gather(long_request(), renaming_request())
        names["later"] = name_in(await execute(gql, NAME_OF_1, site))
        return names

    assert asyncio.run(scenario()) == {
        "long, before": "User 1",
        "concurrent": "Renamed",
        "long, after": "User 1",  # from its own cache: no query
        "later": "Renamed",
    }
    assert site.queries == [("users", [1])] * 3


def test_a_failing_resolver_fails_only_its_field(gql: ModuleType) -> None:
    site = new_site(gql, cache=False)
    site.db.execute("UPDATE users SET best_aid = 999 WHERE uid = 2")  # a dangling reference
    query = """{
      ok: answer(id: 1) { text }
      missing: answer(id: 998) { text }
      deep: answers(ids: [1, 2]) { id author { name bestAnswer { text } } }
    }"""
    result = asyncio.run(execute(gql, query, site))
    assert result.data == {
        "ok": {"text": "Answer 1"},
        "missing": None,
        "deep": [
            {"id": 1, "author": {"name": "User 1", "bestAnswer": {"text": "Answer 17"}}},
            {"id": 2, "author": {"name": "User 2", "bestAnswer": None}},
        ],
    }
    errors = {tuple(error.path): error for error in result.errors}
    assert set(errors) == {("missing",), ("deep", 1, "author", "bestAnswer")}
    for path, key in ((("missing",), 998), (("deep", 1, "author", "bestAnswer"), 999)):
        original = errors[path].original_error
        assert type(original).__name__ == "MissingKeyError" and original.key == key
    # Still one flush per level: the missing keys were asked with the others.
    assert [(table, sorted(keys)) for table, keys in site.queries] == [
        ("answers", [1, 2, 998]),
        ("users", [1, 2]),
        ("answers", [17, 999]),
    ]


def test_a_cancelled_request_leaves_the_shared_batch_to_the_other(gql: ModuleType) -> None:
    """Both requests wait on the same flush; one is cancelled while it is in
    flight (its query sent, 50 ms of latency to go): the flush goes on, and the
    other request gets its whole result from it."""
    site = new_site(gql, cache=True, latency=0.05)
    query = DEPTH_QUERIES[2]

    async def scenario() -> tuple[asyncio.Task[Any], Any]:
        doomed = asyncio.create_task(execute(gql, query, site, ids=IDS))
        survivor = asyncio.create_task(execute(gql, query, site, ids=IDS[::-1]))
        while not site.queries:  # until the first flush is sent
            await asyncio.sleep(0.001)
        doomed.cancel()
        await asyncio.gather(doomed, return_exceptions=True)
        return doomed, await survivor

    doomed, survivor = asyncio.run(scenario())
    assert doomed.cancelled()
    answers = check_ok(survivor)["answers"]
    assert [answer["id"] for answer in answers] == IDS[::-1]
    assert answers[0]["author"] == {"name": "User 4"}  # answer 12
    # One flush per level for both requests: nothing was fetched again.
    assert [(table, sorted(keys)) for table, keys in site.queries] == LEVEL_KEYS[:2]


def test_a_timed_out_request_fails_alone(gql: ModuleType) -> None:
    """``asyncio.wait_for`` around one operation, as a server's timeout: it
    raises TimeoutError; the concurrent operation on the same keys is whole."""
    site = new_site(gql, cache=False, latency=0.05)
    query = DEPTH_QUERIES[4]

    async def scenario() -> list[Any]:
        doomed = asyncio.wait_for(execute(gql, query, site, ids=IDS), timeout=0.075)
        survivor = execute(gql, query, site, ids=IDS)
        return list(await asyncio.gather(doomed, survivor, return_exceptions=True))

    doomed, survivor = asyncio.run(scenario())
    assert isinstance(doomed, asyncio.TimeoutError)
    assert len(check_ok(survivor)["answers"]) == len(IDS)
    assert [(table, sorted(keys)) for table, keys in site.queries] == LEVEL_KEYS


def test_siblings_cancelled_by_graphql_core_leave_a_shared_key_alone(gql: ModuleType) -> None:
    """A non-null field that fails (a vote count beyond GraphQL's Int) nulls its
    parent, and graphql-core cancels the parent's other fields still running:
    here ``first.author``, waiting on answer 17, which ``second`` waits on too.
    With asynq each await has its own future: ``second`` gets its value. With
    strawberry's DataLoader (cache on) both awaits share the cached future: the
    cancel reaches ``second``, and the whole operation ends in CancelledError."""
    query = """{
      first: answer(id: 1) { votes author { bestAnswer { text } } }
      second: answer(id: 5) { author { name bestAnswer { text } } }
    }"""

    def site_with_a_bad_count() -> Any:
        site = new_site(gql, cache=True)
        site.db.execute("UPDATE votes SET count = 3000000000 WHERE aid = 1")
        return site

    ours = site_with_a_bad_count()
    result = asyncio.run(execute(gql, query, ours))
    assert result.data == {
        "first": None,
        "second": {"author": {"name": "User 1", "bestAnswer": {"text": "Answer 17"}}},
    }
    assert [error.path for error in result.errors] == [["first", "votes"]]
    assert "non 32-bit signed integer" in result.errors[0].message
    assert ("answers", [17]) in ours.queries

    theirs = site_with_a_bad_count()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(execute(gql, query, PeerContext(theirs, "strawberry", cache=True)))


# -- tracing ----------------------------------------------------------------------
# Native resolvers make no task step: the domain tells recordings where each of
# its rounds starts, so a GraphQL query is guarded like a synchronous call.


def test_a_recording_sees_every_flush_of_native_resolvers(gql: ModuleType) -> None:
    site = new_site(gql, cache=False)
    with tracing.record() as recording:
        check_ok(asyncio.run(execute(gql, DEPTH_QUERIES[4], site, ids=IDS)))
    assert len(site.queries) == 4
    assert [flush.items for flush in recording.flushes] == [12, 4, 4, 4]


def test_a_recording_counts_the_rounds_of_native_resolvers(gql: ModuleType) -> None:
    site = new_site(gql, cache=False)
    with tracing.record() as recording, tracing.assert_max_rounds(4):
        check_ok(asyncio.run(execute(gql, DEPTH_QUERIES[4], site, ids=IDS)))
    assert len(site.queries) == 4
    assert recording.rounds == 4


# -- the README's section "Coming from DataLoader" ---------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(marker: str) -> str:
    section = README.read_text().split("## Coming from DataLoader", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    [block] = [block for block in blocks if marker in block]
    return str(block)


# What the README's blocks take as given, and a Query to run them.
README_PRELUDE = """
import asyncio

import strawberry


class Db:
    def __init__(self):
        self.calls = []

    async def fetch(self, sql, uids):
        self.calls.append(list(uids))
        return [{"uid": uid, "name": f"User {uid}"} for uid in uids]


db = Db()


@strawberry.type
class User:
    id: int
    name: str
"""
README_QUERY = """
@strawberry.type
class Query:
    @strawberry.field
    def answers(self) -> list[Answer]:
        return [Answer(author_id=uid) for uid in (1, 2, 1, 3, 2)]

    @strawberry.field
    async def me(self) -> User:
        # The request's cache: both awaits get the one value loaded for it.
        first, second = await asyncio.gather(user_by_id.asyncio(1), user_by_id.asyncio(1))
        assert first is second
        return first
"""


def test_the_readme_loader_and_extension_run_as_written(gql: ModuleType) -> None:
    """The README's two blocks, with a fake ``db``, a ``User`` type and a Query:
    two operations at once, every author loaded in one call, each key once."""
    module = ModuleType("asynq_readme_dataloader")
    sys.modules[module.__name__] = module  # strawberry resolves annotations there
    try:
        for code in (
            README_PRELUDE,
            readme_block("async def user_by_id"),
            README_QUERY,
            readme_block("class AsynqRequest"),
        ):
            exec(code, module.__dict__)
        query = "{ answers { author { name } } me { name } }"

        async def two() -> list[Any]:
            execute = module.schema.execute
            return list(await asyncio.gather(execute(query), execute(query)))

        for result in asyncio.run(two()):
            data = check_ok(result)
            names = [answer["author"]["name"] for answer in data["answers"]]
            assert names == ["User 1", "User 2", "User 1", "User 3", "User 2"]
            assert data["me"] == {"name": "User 1"}
        assert [sorted(keys) for keys in module.db.calls] == [[1, 2, 3]]
    finally:
        del sys.modules[module.__name__]

    # The README's extension is the example's, its docstring aside.
    def lines(code: str) -> list[str]:
        return [line for line in code.splitlines() if line.strip()]

    body = readme_block("class AsynqRequest").split("\n\n\n")[1]
    example = inspect.getsource(gql.AsynqRequest)
    docstring = '    """' + (gql.AsynqRequest.__doc__ or "") + '"""\n'
    assert lines(body) == lines(example.replace(docstring, ""))


# -- the script ------------------------------------------------------------------


def test_the_script_prints_the_result_and_its_four_flushes() -> None:
    script = subprocess.run(
        [sys.executable, str(EXAMPLES / "graphql_strawberry.py"), "--latency-ms", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    lines = script.stdout.strip().splitlines()
    assert '"headline": "Answer 1 (by User 1, 1 votes)",' in script.stdout.replace("  ", "")
    assert lines[-1] == "flushes: 4"
    assert [line.split()[1] for line in lines[-5:-1]] == ["answers", "votes", "users", "answers"]
