"""The README's story on a real store: answers, their authors, and the authors' names.

Two tables (or two key prefixes in Redis or memcached) hold the data: an
answer id maps to its author's user id, a user id to the user's name.
``Naive`` looks each one up when asked, one request per call; ``Batched`` is
the same code written with asynq, so the lookups that many calls make in one
round go to the store together: one request, or several sent in the same
round when they are more than the store takes at once (``max_batch_size``,
400 keys for SQL). ``demo.py`` runs both side by side.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from asynq_batching.stores import BatchedStore, SqlStore
from asynq_core import asynq

# Demo keys in a shared Redis or memcached expire on their own.
DEMO_TTL_SECONDS = 600
KEY_PREFIX = "asynq-demo:"


@dataclass
class Site:
    """The stores of the story."""

    answers: BatchedStore  # answer id -> its author's user id
    users: BatchedStore  # user id -> the user's name
    description: str

    def round_trips(self) -> int:
        """Requests sent to the store so far (each one round trip)."""
        return self.answers.request_count + self.users.request_count


def open_site(url: str = "sqlite://", timeout: float = 5.0) -> Site:
    """Connects to the store named by ``url``.

    ``sqlite://`` is an in-memory SQLite database, ``sqlite:///path.db`` a file;
    ``redis://host:port`` and ``memcached://host:port`` are servers.
    """
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :].removeprefix("/") or ":memory:"
        connection = sqlite3.connect(path)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS answers (aid TEXT PRIMARY KEY, author_uid TEXT)"
        )
        connection.execute("CREATE TABLE IF NOT EXISTS users (uid TEXT PRIMARY KEY, name TEXT)")
        return Site(
            answers=SqlStore(connection, "answers", key_column="aid", value_column="author_uid"),
            users=SqlStore(connection, "users", key_column="uid", value_column="name"),
            description=f"SQLite ({path})",
        )
    # The Redis and memcached clients are optional extras: imported only when asked for.
    if url.startswith("redis://"):
        from asynq_batching.stores.redis import RedisStore

        answers = RedisStore.from_url(
            url, timeout=timeout, key_prefix=KEY_PREFIX + "answer:", ttl=DEMO_TTL_SECONDS
        )
        users = RedisStore(answers.client, key_prefix=KEY_PREFIX + "user:", ttl=DEMO_TTL_SECONDS)
        return Site(answers=answers, users=users, description=f"Redis ({url})")
    if url.startswith("memcached://"):
        from asynq_batching.stores.memcache import MemcacheStore

        answers_mc = MemcacheStore.from_url(
            url, timeout=timeout, key_prefix=KEY_PREFIX + "answer:", ttl=DEMO_TTL_SECONDS
        )
        users_mc = MemcacheStore(
            answers_mc.client, key_prefix=KEY_PREFIX + "user:", ttl=DEMO_TTL_SECONDS
        )
        return Site(answers=answers_mc, users=users_mc, description=f"memcached ({url})")
    raise ValueError(
        f"open_site(): unknown store {url!r}; use sqlite://, sqlite:///path, "
        "redis://host:port or memcached://host:port"
    )


def fill(site: Site, n_answers: int, n_users: int) -> list[str]:
    """Writes ``n_answers`` answers by ``n_users`` users; returns the answer ids."""
    aids = [f"a{i}" for i in range(n_answers)]
    site.users.set_many({f"u{i}": f"User {i}" for i in range(n_users)})
    site.answers.set_many({aid: f"u{i % n_users}" for i, aid in enumerate(aids)})
    return aids


class Naive:
    """Plain functions: every call makes its own lookup and waits for it."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def author_of_answer(self, aid: str) -> str:
        return self.site.answers.get(aid)

    def name_of_user(self, uid: str) -> str:
        return self.site.users.get(uid)

    def all_author_names(self, aids: list[str]) -> list[str]:
        uids = [self.author_of_answer(aid) for aid in aids]
        names = [self.name_of_user(uid) for uid in uids]
        return names


class Batched:
    """The same functions with asynq: they yield their lookups instead of waiting.

    ``all_author_names`` yields the tasks of every ``author_of_answer`` call at
    once; each of them yields one lookup, and when no task can go on the
    scheduler sends all those lookups together. The names follow in a second
    round: two rounds for any number of answers (each one request, unless it
    holds more keys than the store's ``max_batch_size``, which splits it).
    """

    def __init__(self, site: Site) -> None:
        self.site = site

    @asynq()
    def author_of_answer(self, aid: str):
        uid = yield self.site.answers.get.asynq(aid)
        return uid

    @asynq()
    def name_of_user(self, uid: str):
        name = yield self.site.users.get.asynq(uid)
        return name

    @asynq()
    def all_author_names(self, aids: list[str]):
        uids = yield [self.author_of_answer.asynq(aid) for aid in aids]
        names = yield [self.name_of_user.asynq(uid) for uid in uids]
        return names
