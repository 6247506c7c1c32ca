"""A GraphQL server on asynq loaders: strawberry resolvers that batch like DataLoader.

    python examples/graphql_strawberry.py [--answers 10] [--latency-ms 1]
    hatch run graphql [ARGS]                    (the same, in the hatch environment)

The schema is a small Q&A site: an answer has an author (a user), a user has
a best answer, which has an author, and so on, so a query goes as deep as it
likes. The data is in SQLite; each request to it waits ``--latency-ms`` first,
to stand for the network. Three kinds of resolvers read it:

- plain ``async def`` resolvers that ``await loader.asyncio(key)`` on a
  ``@batched`` loader (``Site.answer_by_id``, ``Site.user_by_id``): the
  DataLoader way. In a running loop ``loader.asyncio(key)`` is an asyncio
  future of the key's place in the pending batch, and the keys that every
  resolver of a level awaits reach the bulk function as one
  ``SELECT ... WHERE id IN (...)``, each key once;
- a resolver reading the ready-made ``SqlStore`` (``Answer.votes``:
  ``await site.votes.get.asyncio(aid, 0)``);
- an asynq function used as a resolver (``Answer.headline`` awaits
  ``headline.asyncio(site, aid)``): its ``yield``s join the same batches as
  the native resolvers' awaits.

So a query d levels deep sends d requests to the database, whatever the
number of answers; the script prints the result of a four-level query and
every request it made (``tests/integration/test_graphql_strawberry.py``
measures it for depths 1 to 4, against strawberry's own DataLoader too).

**One asynq request per GraphQL operation.** The loaders live as long as the
``Site`` (not one set per request, as DataLoaders are), and their batches are
shared by every coroutine of the event loop: two concurrent operations that
need the same level send one query. What must not be shared is the cache of
a ``cache=True`` loader: ``AsynqRequest``, a strawberry ``SchemaExtension``,
opens an asynq request (``asynq_core.request()``) around each
operation, so cached values live for one operation, concurrent operations
never see each other's, and the next one starts empty. Why an extension's
``on_operation``:

- strawberry runs the whole operation (parsing, validation, execution)
  inside ``on_operation``, in the coroutine that called ``schema.execute``;
  graphql-core runs the resolvers in tasks it creates from there
  (``asyncio.gather``), and a task starts with a copy of the context of its
  creator. The request is a context variable, so every resolver sees it,
  however deep, with nothing passed to it: the resolvers do not change.
- It holds for every server strawberry runs in (ASGI, Django, aiohttp, ...)
  and for ``schema.execute`` in tests, with no change to their handlers;
  a plain generator hook (not an ``async`` one) suffices, since entering a
  request does no I/O.
- A server that already opened a request around its handler (``async with
  request():``, e.g. to ``prime`` the loaders with the session's user, or to
  share one cache between several operations of one HTTP request) keeps it:
  the extension joins an open request instead of hiding it under a new one.

Without any request each ``loader.asyncio(key)`` awaited by a resolver is
its own run: batching works the same, but a ``cache=True`` loader caches
nothing (an ``.asyncio()`` call of an asynq function caches for that call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from collections.abc import Generator, Iterator
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from asynq_batching import batched
from asynq_batching.stores import SqlStore
from asynq_core import Request, asynq, current_run, request

#: At most this many keys in one SELECT (SQLite's limit on bound parameters
#: is 999 in old versions); a bigger round is split, all of it sent at once.
MAX_KEYS = 400


# -- the schema --------------------------------------------------------------


@strawberry.type(description="An answer to some question.")
class Answer:
    id: int
    text: str
    author_id: strawberry.Private[int]

    @strawberry.field(description="Who wrote it (DataLoader style: awaits the loader).")
    async def author(self, info: strawberry.Info[Site, None]) -> User:
        return await info.context.user_by_id.asyncio(self.author_id)

    @strawberry.field(description="Its votes, from the votes table through a SqlStore.")
    async def votes(self, info: strawberry.Info[Site, None]) -> int:
        count: int = await info.context.votes.get.asyncio(self.id, 0)
        return count

    @strawberry.field(description="Text, author and votes: an asynq function as a resolver.")
    async def headline(self, info: strawberry.Info[Site, None]) -> str:
        return await headline.asyncio(info.context, self.id)


@strawberry.type(description="Someone who writes answers.")
class User:
    id: int
    name: str
    best_answer_id: strawberry.Private[int | None]

    @strawberry.field(description="Their best answer, if they have one.")
    async def best_answer(self, info: strawberry.Info[Site, None]) -> Answer | None:
        if self.best_answer_id is None:
            return None
        return await info.context.answer_by_id.asyncio(self.best_answer_id)


@strawberry.type
class Query:
    @strawberry.field(description="One answer; null, with an error, if there is no such answer.")
    async def answer(self, info: strawberry.Info[Site, None], id: int) -> Answer | None:
        return await info.context.answer_by_id.asyncio(id)

    @strawberry.field(description="Answers by id, in the order asked.")
    async def answers(self, info: strawberry.Info[Site, None], ids: list[int]) -> list[Answer]:
        loader = info.context.answer_by_id
        return list(await asyncio.gather(*(loader.asyncio(aid) for aid in ids)))

    @strawberry.field(description="One user; null, with an error, if there is no such user.")
    async def user(self, info: strawberry.Info[Site, None], id: int) -> User | None:
        return await info.context.user_by_id.asyncio(id)


@asynq()
def headline(site: Site, aid: int) -> Generator[Any, Any, str]:
    """An asynq function: runs in the loop's asynq domain when a resolver awaits
    ``headline.asyncio(...)``; its lookups join the resolvers' batches."""
    answer = yield site.answer_by_id.asynq(aid)
    author, votes = yield site.user_by_id.asynq(answer.author_id), site.votes.get.asynq(aid, 0)
    return f"{answer.text} (by {author.name}, {votes} votes)"


class AsynqRequest(SchemaExtension):
    """One asynq request per GraphQL operation (see the module docstring):
    ``cache=True`` loaders keep their values for that operation only."""

    def on_operation(self) -> Iterator[None]:
        if isinstance(current_run(), Request):  # the server opened one: join it
            yield
            return
        with request():
            yield


# -- the data ------------------------------------------------------------------


class Site:
    """The database and the loaders over it; the context of every operation.

    ``queries`` lists every request sent to the database, as ``(table, keys)``:
    one entry per flush of a loader (or per request of the SqlStore).
    """

    def __init__(self, db: sqlite3.Connection, *, cache: bool = True, latency: float = 0.0):
        self.db = db
        self.latency = latency
        self.queries: list[tuple[str, list[Any]]] = []
        # Loaders over async bulk functions (as with an async driver): each
        # flush is awaited on the loop, and the sqlite3 connection is only
        # ever used from the loop's thread, as it requires.
        self.answer_by_id = batched(max_size=MAX_KEYS, cache=cache)(self.fetch_answers)
        self.user_by_id = batched(max_size=MAX_KEYS, cache=cache)(self.fetch_users)
        # A ready-made store: one value column by its key (SqlStore flushes
        # on the loop's thread too: fetch_in_thread is False for DB-API).
        self.votes = SqlStore(db, "votes", key_column="aid", value_column="count")
        self.votes.on_request.subscribe(
            lambda operation, server, keys: self.queries.append(("votes", list(keys)))
        )

    async def fetch_answers(self, aids: list[int]) -> dict[int, Answer]:
        """The bulk function of ``answer_by_id``: one SELECT for all the keys."""
        rows = await self._select("answers", "aid, author_uid, text", "aid", aids)
        return {aid: Answer(id=aid, text=text, author_id=uid) for aid, uid, text in rows}

    async def fetch_users(self, uids: list[int]) -> dict[int, User]:
        """The bulk function of ``user_by_id``: one SELECT for all the keys."""
        rows = await self._select("users", "uid, name, best_aid", "uid", uids)
        return {uid: User(id=uid, name=name, best_answer_id=best) for uid, name, best in rows}

    async def _select(self, table: str, columns: str, key: str, keys: list[Any]) -> list[Any]:
        self.queries.append((table, list(keys)))
        await asyncio.sleep(self.latency)
        marks = ", ".join("?" * len(keys))
        sql = f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})"
        return self.db.execute(sql, keys).fetchall()


def open_db(n_users: int = 4, answers_per_user: int = 5) -> sqlite3.Connection:
    """An in-memory database: user ``u`` wrote answers ``u``, ``u + n_users``, ...;
    their best answer is their last one; answer ``a`` has ``a % 7`` votes
    (none stored for a multiple of 7)."""
    db = sqlite3.connect(":memory:")
    db.executescript(
        """
        CREATE TABLE users (uid INTEGER PRIMARY KEY, name TEXT, best_aid INTEGER);
        CREATE TABLE answers (aid INTEGER PRIMARY KEY, author_uid INTEGER, text TEXT);
        CREATE TABLE votes (aid INTEGER PRIMARY KEY, count INTEGER);
        """
    )
    n_answers = n_users * answers_per_user
    db.executemany(
        "INSERT INTO answers VALUES (?, ?, ?)",
        [(aid, (aid - 1) % n_users + 1, f"Answer {aid}") for aid in range(1, n_answers + 1)],
    )
    db.executemany(
        "INSERT INTO users VALUES (?, ?, ?)",
        [(uid, f"User {uid}", n_answers - n_users + uid) for uid in range(1, n_users + 1)],
    )
    db.executemany(
        "INSERT INTO votes VALUES (?, ?)",
        [(aid, aid % 7) for aid in range(1, n_answers + 1) if aid % 7],
    )
    db.commit()
    return db


#: Built once the resolvers' annotations (``Site``) are all defined.
schema = strawberry.Schema(query=Query, extensions=[AsynqRequest])


# -- the script ----------------------------------------------------------------

QUERY = """
query Deep($ids: [Int!]!) {
  answers(ids: $ids) {
    id
    votes
    headline
    author {
      name
      bestAnswer {
        text
        author { name }
      }
    }
  }
}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=10, help="answers asked for (1-1000)")
    parser.add_argument(
        "--latency-ms", type=float, default=1.0, help="simulated latency per database request"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.answers <= 1000 or not args.latency_ms >= 0:
        parser.error("--answers must be in 1..1000 and --latency-ms >= 0")
    n_users = max(1, args.answers // 3)
    site = Site(
        open_db(n_users, answers_per_user=args.answers // n_users + 2),
        latency=args.latency_ms / 1000,
    )
    ids = list(range(1, args.answers + 1))

    start = time.perf_counter()
    result = asyncio.run(schema.execute(QUERY, variable_values={"ids": ids}, context_value=site))
    elapsed = time.perf_counter() - start
    if result.errors:
        for error in result.errors:
            print(f"error: {error.message} at {error.path}", file=sys.stderr)
        return 1
    print(json.dumps(result.data, indent=2))
    print(
        f"\n{len(ids)} answers, 4 levels deep (the last level's users come from the "
        f"operation's cache), in {elapsed * 1000:.1f} ms; database requests:"
    )
    for n, (table, keys) in enumerate(site.queries, 1):
        shown = ", ".join(map(str, keys[:8])) + (", ..." if len(keys) > 8 else "")
        print(f"  {n}. {table:8s} {len(keys):4d} keys: {shown}")
    print(f"flushes: {len(site.queries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
