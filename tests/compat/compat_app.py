"""A small code base written against Quora's asynq 1.6, as its users wrote them.

The compat tests run it on our umbrella ``asynq`` unchanged (apart from the
Python 3 spelling ``@asynq()`` / ``.asynq()``): a memcache-like batch with a
module-level active batch, models whose asynq methods call each other through
``super()``, classmethods and staticmethods decorated outside, legacy
``result(x); return``, an AsyncContext, an AsyncScopedValue and the tools.
``conftest.py`` loads it as the module ``compat_app`` so that tests can patch
it by name, as they would patch a real code base.

Every round trip to the fake store is recorded in ``store.requests``; every
call of an asynq function that a test wants to order or count is recorded
in ``calls``.
"""

from __future__ import annotations

import warnings
from typing import Any

from asynq import (
    AsyncContext,
    AsyncScopedValue,
    BatchBase,
    BatchItemBase,
    ConstFuture,
    async_call,
    async_proxy,
    asynq,
    get_async_fn,
    make_async_decorator,
    result,
)
from asynq.tools import acached_per_instance, deduplicate

# -- the store -------------------------------------------------------------------


class FakeMemcache:
    """A key-value store that answers many keys in one request (``get_multi``)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.requests: list[tuple[str, list[str]]] = []
        self.fail_next_request: BaseException | None = None

    def _request(self, command: str, keys: list[str]) -> None:
        self.requests.append((command, keys))
        error = self.fail_next_request
        if error is not None:
            self.fail_next_request = None
            raise error

    def get_multi(self, keys: list[str]) -> dict[str, Any]:
        self._request("get_multi", keys)
        return {key: self.data[key] for key in keys if key in self.data}

    def set_multi(self, mapping: dict[str, Any]) -> None:
        self._request("set_multi", list(mapping))
        self.data.update(mapping)


store = FakeMemcache()
calls: list[str] = []


# -- the batch, written the 1.x way ----------------------------------------------


class MemcacheBatchItem(BatchItemBase):
    """One get or set; joins the module's active batch."""

    def __init__(self, command: str, key: str, value: Any = None) -> None:
        super().__init__(_active_batch)
        self.command = command
        self.key = key
        self.set_to = value


class MemcacheBatch(BatchBase):
    """Sends the sets of a round in one ``set_multi``, then its gets in one ``get_multi``."""

    flush_count = 0

    def __init__(self, client: FakeMemcache) -> None:
        super().__init__()
        self.client = client

    def _try_switch_active_batch(self) -> None:
        global _active_batch
        if _active_batch is self:
            _active_batch = MemcacheBatch(self.client)

    def _flush(self) -> None:
        MemcacheBatch.flush_count += 1
        sets = [item for item in self.items if item.command == "set"]
        gets = [item for item in self.items if item.command == "get"]
        if sets:
            self.client.set_multi({item.key: item.set_to for item in sets})
            for item in sets:
                item.set_value(True)
        if gets:
            found = self.client.get_multi(sorted({item.key for item in gets}))
            for item in gets:
                item.set_value(found.get(item.key))


_active_batch = MemcacheBatch(store)


def reset() -> None:
    """A fresh store and batch for each test."""
    global _active_batch
    store.data.clear()
    store.requests.clear()
    store.fail_next_request = None
    calls.clear()
    MemcacheBatch.flush_count = 0
    _active_batch = MemcacheBatch(store)


@asynq()
def mc_get(key: str) -> Any:
    value = yield MemcacheBatchItem("get", key)
    result(value)
    return


@asynq()
def mc_set(key: str, value: Any) -> Any:
    yield MemcacheBatchItem("set", key, value)


# -- the README's example ------------------------------------------------------------


@asynq()
def author_of_answer(aid: int) -> Any:
    calls.append(f"author_of_answer({aid})")
    uid = yield mc_get.asynq(f"answer:{aid}:author")
    result(uid)
    return


@asynq()
def name_of_user(uid: int) -> Any:
    calls.append(f"name_of_user({uid})")
    name = yield mc_get.asynq(f"user:{uid}:name")
    result(name)
    return


@asynq()
def all_author_names(aids: list[int]) -> Any:
    uids = yield [author_of_answer.asynq(aid) for aid in aids]
    names = yield [name_of_user.asynq(uid) for uid in uids]
    result(names)
    return


def seed_answers(count: int) -> None:
    """Answer ``i`` is written by user ``100 + i``, named ``user<i>``."""
    for i in range(count):
        store.data[f"answer:{i}:author"] = 100 + i
        store.data[f"user:{100 + i}:name"] = f"user{i}"


# -- models: a class hierarchy ---------------------------------------------------------


class Model:
    """A stored object; subclasses extend ``load`` through ``super()``."""

    prefix = "model"

    def __init__(self, oid: int) -> None:
        self.oid = oid

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.oid})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.oid == self.oid  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.oid))

    @asynq()
    @staticmethod
    def key_for(prefix: str, oid: int, field: str) -> Any:
        return f"{prefix}:{oid}:{field}"

    @asynq()
    @classmethod
    def get(cls, oid: int) -> Any:
        """Loads the object, or None when it is not stored."""
        calls.append(f"{cls.__name__}.get({oid})")
        obj = cls(oid)
        fields = yield obj.load.asynq()
        if fields is None:
            result(None)
            return
        obj.fields = fields
        result(obj)
        return

    @asynq()
    def load(self) -> Any:
        calls.append(f"Model.load({self.oid})")
        key = yield self.key_for.asynq(self.prefix, self.oid, "exists")
        exists = yield mc_get.asynq(key)
        if not exists:
            return None
        return {"oid": self.oid}

    @asynq()
    def describe(self) -> Any:
        return f"{type(self).__name__} {self.oid}"


class User(Model):
    prefix = "user"

    @asynq()
    def load(self) -> Any:
        calls.append(f"User.load({self.oid})")
        key = yield self.key_for.asynq(self.prefix, self.oid, "name")
        fields, name = yield super().load.asynq(), mc_get.asynq(key)
        if fields is None:
            result(None)
            return
        fields["name"] = name
        result(fields)
        return

    @asynq()
    def describe(self) -> Any:
        base = yield super().describe.asynq()
        name = yield self.name.asynq()
        return f"{base} ({name})"

    @acached_per_instance()
    @asynq()
    def name(self) -> Any:
        calls.append(f"User.name({self.oid})")
        return (yield mc_get.asynq(f"user:{self.oid}:name"))


class Admin(User):
    prefix = "admin"

    @asynq()
    def load(self) -> Any:
        calls.append(f"Admin.load({self.oid})")
        fields = yield super().load.asynq()
        if fields is not None:
            fields["admin"] = True
        return fields


def seed_user(prefix: str, oid: int, name: str) -> None:
    store.data[f"{prefix}:{oid}:exists"] = True
    store.data[f"{prefix}:{oid}:name"] = name


# -- deduplicated fetching, proxies, async_call, a hand-made decorator ---------------


@deduplicate()
@asynq()
def fetch_score(uid: int) -> Any:
    calls.append(f"fetch_score({uid})")
    score = yield mc_get.asynq(f"score:{uid}")
    return score or 0


@async_proxy()
def score_or_default(uid: int, default: int) -> Any:
    """A proxy: returns a future, of the store when there is a user, else a constant."""
    if uid < 0:
        return ConstFuture(default)
    return fetch_score.asynq(uid)


def plain_bonus(uid: int) -> int:
    return uid % 3


@asynq()
def bonus(uid: int) -> Any:
    return (yield mc_get.asynq(f"bonus:{uid}")) or 0


@asynq()
def total_score(uid: int, bonus_fn: Any) -> Any:
    """``bonus_fn`` may be sync or async, as async_call allows."""
    score, extra = yield fetch_score.asynq(uid), async_call.asynq(bonus_fn, uid)
    return score + extra


def logged(fn: Any) -> Any:
    """A decorator for asynq functions written with make_async_decorator, as 1.x users did."""
    async_fn = get_async_fn(fn)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"logged {fn.__name__}{args}")
        return async_fn(*args, **kwargs)

    return make_async_decorator(fn, wrapper, "logged")


@logged
@asynq()
def double_score(uid: int) -> Any:
    return 2 * (yield fetch_score.asynq(uid))


# -- contexts -----------------------------------------------------------------------------


class catch_warnings(AsyncContext):
    """``warnings.catch_warnings(record=True)`` that records only its own task's warnings."""

    def __init__(self) -> None:
        self.recorded: list[str] = []
        self._saved_showwarning: Any = None

    def _show(self, message: Any, *args: Any, **kwargs: Any) -> None:
        self.recorded.append(str(message))

    def resume(self) -> None:
        self._saved_showwarning = warnings.showwarning
        warnings.showwarning = self._show

    def pause(self) -> None:
        warnings.showwarning = self._saved_showwarning


current_viewer: AsyncScopedValue[str | None] = AsyncScopedValue(None)


@asynq()
def visible_name(uid: int) -> Any:
    """The user's name, or "you" when the current viewer looks at themself."""
    name = yield mc_get.asynq(f"user:{uid}:name")
    if current_viewer() == name:
        return "you"
    return name


@asynq()
def names_seen_by(viewer: str, uids: list[int]) -> Any:
    with current_viewer.override(viewer):
        return (yield [visible_name.asynq(uid) for uid in uids])
