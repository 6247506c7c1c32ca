"""A 1.6 code base (compat_app) runs unchanged: batching, class hierarchies with
``super()`` through ``.asynq``, classmethods and staticmethods, legacy ``result()``,
proxies, ``async_call``, hand-made decorators, pure functions and custom task classes."""

from __future__ import annotations

import asyncio
from typing import Any

import compat_app as app
import pytest

from asynq import (
    AsyncTask,
    ConstFuture,
    asynq,
    get_active_task,
    get_async_fn,
    get_scheduler,
    has_async_fn,
    is_async_fn,
    is_pure_async_fn,
    result,
)


def count_flushes() -> list[Any]:
    """Subscribes to the scheduler's flush hook; returns the list it fills."""
    flushed: list[Any] = []
    get_scheduler().on_before_batch_flush.subscribe(flushed.append)
    return flushed


# -- the README example --------------------------------------------------------------


def test_readme_example_makes_exactly_two_flushes() -> None:
    app.seed_answers(6)
    flushed = count_flushes()
    assert app.all_author_names(list(range(6))) == [f"user{i}" for i in range(6)]
    assert app.MemcacheBatch.flush_count == 2
    assert len(flushed) == 2
    assert all(isinstance(batch, app.MemcacheBatch) for batch in flushed)
    assert app.store.requests == [
        ("get_multi", sorted(f"answer:{i}:author" for i in range(6))),
        ("get_multi", sorted(f"user:{100 + i}:name" for i in range(6))),
    ]


def test_readme_example_called_asynchronously_from_several_callers_still_batches() -> None:
    app.seed_answers(4)

    @asynq()
    def two_pages() -> Any:
        first, second = yield (
            app.all_author_names.asynq([0, 1]),
            app.all_author_names.asynq([2, 3]),
        )
        return first + second

    assert two_pages() == ["user0", "user1", "user2", "user3"]
    assert app.MemcacheBatch.flush_count == 2
    assert [len(keys) for _, keys in app.store.requests] == [4, 4]


def test_task_value_is_the_synchronous_call() -> None:
    app.seed_answers(2)
    task = app.all_author_names.asynq([0, 1])
    assert isinstance(task, AsyncTask)
    assert not task.is_computed()
    assert task.value() == ["user0", "user1"]
    assert task.is_computed()
    assert task() == ["user0", "user1"]  # calling a future is value()


def test_asynq_call_runs_nothing_until_the_task_is_needed() -> None:
    app.seed_answers(1)
    task = app.author_of_answer.asynq(0)
    assert app.calls == []
    assert app.store.requests == []

    @asynq()
    def later() -> Any:
        app.calls.append("later")
        return (yield task)

    assert later() == 100
    assert app.calls == ["later", "author_of_answer(0)"]


def test_the_same_code_base_runs_and_batches_under_asyncio() -> None:
    app.seed_answers(5)
    names = asyncio.run(app.all_author_names.asyncio(list(range(5))))
    assert names == [f"user{i}" for i in range(5)]
    assert app.MemcacheBatch.flush_count == 2


# -- class hierarchies -------------------------------------------------------------------


def test_super_calls_through_asynq_reach_every_class_of_the_hierarchy() -> None:
    app.seed_user("admin", 7, "ada")
    admin = app.Admin.get(7)
    assert admin == app.Admin(7)
    assert admin.fields == {"oid": 7, "name": "ada", "admin": True}
    assert app.calls == ["Admin.get(7)", "Admin.load(7)", "User.load(7)", "Model.load(7)"]


def test_loads_of_many_objects_share_their_batches() -> None:
    for oid in range(5):
        app.seed_user("user", oid, f"name{oid}")

    @asynq()
    def load_all() -> Any:
        return (yield [app.User.get.asynq(oid) for oid in range(6)])

    users = load_all()
    assert [user.fields["name"] if user else None for user in users] == [
        "name0",
        "name1",
        "name2",
        "name3",
        "name4",
        None,
    ]
    # Each User.load reads its name and (through super) its existence flag in
    # the same round: one request for all of them.
    assert app.MemcacheBatch.flush_count == 1
    assert len(app.store.requests[0][1]) == 12


def test_classmethod_works_on_the_class_and_on_an_instance() -> None:
    app.seed_user("user", 1, "bo")
    by_class = app.User.get(1)
    by_instance = app.User(99).get(1)
    assert by_class == by_instance == app.User(1)
    assert app.User.get.asynq(1).value() == app.User(1)
    assert app.Model.get(1) is None  # Model's own prefix: not stored
    assert has_async_fn(app.User.get) and not is_pure_async_fn(app.User.get)


def test_staticmethod_works_on_the_class_and_on_an_instance() -> None:
    assert app.Model.key_for("user", 3, "name") == "user:3:name"
    assert app.User(5).key_for("user", 3, "name") == "user:3:name"
    assert app.User.key_for.asynq("a", 1, "b").value() == "a:1:b"
    assert has_async_fn(app.Model.key_for)


def test_overridden_method_is_found_from_the_instance_and_super_from_the_subclass() -> None:
    app.seed_user("user", 4, "cy")
    user = app.User(4)
    assert user.describe() == "User 4 (cy)"
    assert user.describe.asynq().value() == "User 4 (cy)"
    # Bound methods compare equal per instance, as 1.x's did.
    assert user.describe == user.describe
    assert user.describe != app.User(5).describe


def test_unbound_method_takes_the_instance_explicitly() -> None:
    app.seed_user("user", 2, "di")
    user = app.User(2)
    assert app.User.describe(user) == "User 2 (di)"
    assert app.User.describe.asynq(user).value() == "User 2 (di)"
    assert app.Model.describe(user) == "User 2"


# -- legacy result() and return ----------------------------------------------------------


def test_legacy_result_and_return_give_the_same_value() -> None:
    @asynq()
    def legacy(x: int) -> Any:
        value = yield ConstFuture(x)
        result(value * 2)
        return

    @asynq()
    def modern(x: int) -> Any:
        value = yield ConstFuture(x)
        return value * 2

    @asynq()
    def no_yield(x: int) -> Any:
        return x * 2

    assert legacy(4) == modern(4) == no_yield(4) == 8
    assert legacy.asynq(5).value() == modern.asynq(5).value() == 10


def test_legacy_result_inside_try_finally_still_runs_the_finally() -> None:
    cleaned = []

    @asynq()
    def with_cleanup() -> Any:
        try:
            yield ConstFuture(None)
            result("done")
            return
        finally:
            cleaned.append(True)

    assert with_cleanup() == "done"
    assert cleaned == [True]


# -- proxies, async_call, decorators, pure functions --------------------------------------


def test_deduplicate_makes_concurrent_identical_calls_share_one_task() -> None:
    app.store.data["score:1"] = 10

    @asynq()
    def scores() -> Any:
        return (
            yield [app.fetch_score.asynq(1), app.fetch_score.asynq(1), app.fetch_score.asynq(2)]
        )

    assert scores() == [10, 10, 0]
    assert app.calls == ["fetch_score(1)", "fetch_score(2)"]
    assert app.fetch_score(1) == 10  # a later call starts afresh
    assert app.calls.count("fetch_score(1)") == 2


def test_async_proxy_returns_the_future_of_its_function() -> None:
    app.store.data["score:3"] = 30
    assert app.score_or_default(3, 5) == 30
    assert app.score_or_default(-1, 5) == 5
    assert app.score_or_default.asynq(-1, 5).value() == 5
    assert has_async_fn(app.score_or_default)


def test_async_call_takes_sync_and_async_functions() -> None:
    app.store.data["score:4"] = 40
    app.store.data["bonus:4"] = 7
    assert app.total_score(4, app.bonus) == 47
    assert app.total_score(4, app.plain_bonus) == 41
    assert app.MemcacheBatch.flush_count == 2  # the score and the bonus in one round each time


def test_a_hand_made_decorator_built_with_make_async_decorator() -> None:
    app.store.data["score:6"] = 3
    assert app.double_score(6) == 6
    assert app.double_score.asynq(6).value() == 6
    assert app.calls.count("logged double_score(6,)") == 2
    assert app.double_score.__name__ == "double_score"
    assert is_async_fn(app.double_score)
    assert get_async_fn(app.double_score) is not None


class TracedTask(AsyncTask):
    """A custom task class, as 1.x code bases passed with cls=."""

    created: list[Any] = []

    def __init__(self, generator: Any, fn: Any, args: Any, kwargs: Any, tag: str = "") -> None:
        super().__init__(generator, fn, args, kwargs)
        self.tag = tag
        TracedTask.created.append((tag, args))


def test_pure_function_with_a_custom_task_class() -> None:
    TracedTask.created.clear()

    @asynq(pure=True, cls=TracedTask, tag="pure")
    def add(a: int, b: int) -> Any:
        value = yield ConstFuture(a)
        return value + b

    task = add(1, 2)
    assert isinstance(task, TracedTask)
    assert task.tag == "pure"
    assert task.value() == 3
    assert is_pure_async_fn(add) and not has_async_fn(add)
    assert not hasattr(add, "asynq")

    @asynq()
    def uses_pure() -> Any:
        return (yield add(10, 5))

    assert uses_pure() == 15
    assert TracedTask.created == [("pure", (1, 2)), ("pure", (10, 5))]


def test_sync_fn_is_used_for_the_synchronous_call_only() -> None:
    def fast_path(x: int) -> str:
        return f"sync {x}"

    @asynq(sync_fn=fast_path)
    def lookup(x: int) -> Any:
        return f"async {(yield ConstFuture(x))}"

    assert lookup(1) == "sync 1"
    assert lookup.asynq(1).value() == "async 1"


def test_a_synchronous_call_inside_a_task_nests() -> None:
    app.seed_answers(3)

    @asynq()
    def mixed() -> Any:
        first = app.author_of_answer(0)  # synchronous, inside a task
        rest = yield [app.author_of_answer.asynq(1), app.author_of_answer.asynq(2)]
        return [first, *rest]

    assert mixed() == [100, 101, 102]


def test_task_attributes_callers_rely_on() -> None:
    seen: dict[str, Any] = {}

    @asynq()
    def inner(x: int, *, y: int) -> Any:
        task = get_active_task()
        seen["inner"] = task
        seen["creator"] = task.creator
        return x + y
        yield

    @asynq()
    def outer() -> Any:
        seen["outer"] = get_active_task()
        return (yield inner.asynq(1, y=2))

    assert outer() == 3
    task = seen["inner"]
    assert task.fn.__name__ == "inner"
    assert task.args == (1,) and task.kwargs == {"y": 2}
    assert seen["creator"] is seen["outer"]
    assert get_active_task() is None


def test_one_failing_task_does_not_lose_the_others() -> None:
    app.seed_answers(3)
    finished: list[int] = []

    @asynq()
    def maybe_fail(aid: int) -> Any:
        uid = yield app.author_of_answer.asynq(aid)
        if aid == 1:
            raise KeyError(aid)
        finished.append(uid)
        return uid

    @asynq()
    def page() -> Any:
        return (yield [maybe_fail.asynq(aid) for aid in range(3)])

    with pytest.raises(KeyError):
        page()
    assert sorted(finished) == [100, 102]


def test_first_error_in_structure_order_is_raised() -> None:
    @asynq()
    def fail(error: BaseException) -> Any:
        yield app.mc_get.asynq("anything")
        raise error

    @asynq()
    def both() -> Any:
        yield {"a": fail.asynq(ValueError("first")), "b": fail.asynq(KeyError("second"))}

    with pytest.raises(ValueError, match="first"):
        both()
