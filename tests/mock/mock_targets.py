"""What the asynq-mock tests patch, importable as ``mock_targets`` (conftest loads it).

Asynq functions at module level, asynq methods, classmethods and
staticmethods, and plain functions and values, plus callers that reach them
the way code under test does (plain calls and ``yield fn.asynq(...)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from asynq_core import asynq

LIMIT = 10
SETTINGS = {"mode": "real"}


@asynq()
def fetch_user(uid: int) -> str:
    return f"user {uid}"


@asynq()
def fetch_name(uid: int) -> Any:
    user = yield fetch_user.asynq(uid)
    return user.upper()


@asynq()
def fetch_names(uids: list[int]) -> Any:
    return (yield [fetch_name.asynq(uid) for uid in uids])


@asynq(pure=True)
def pure_fetch(uid: int) -> Any:
    return f"pure {uid}"


def plain_double(x: int) -> int:
    return 2 * x


def count_up(n: int) -> Iterator[int]:
    """A plain generator function (not an asynq one)."""
    yield from range(n)


class Service:
    factor = 2

    @asynq()
    def get(self, key: int) -> int:
        return key * self.factor

    @asynq()
    @classmethod
    def make(cls, key: int) -> tuple[str, int]:
        return (cls.__name__, key)

    @asynq()
    @staticmethod
    def double(key: int) -> int:
        return key * 2

    def plain(self, key: int) -> int:
        return key + 1


@asynq()
def use_service(service: Service, key: int) -> Any:
    got = yield service.get.asynq(key)
    made = yield Service.make.asynq(key)
    doubled = yield Service.double.asynq(key)
    return got, made, doubled
