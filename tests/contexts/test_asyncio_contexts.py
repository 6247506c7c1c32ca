"""AsyncContext and AsyncScopedValue under asyncio (real ``asyncio.run``).

The scope of a ``.asyncio()`` call steps its tasks like the synchronous
scheduler: a task's contexts are resumed when it runs and paused when it
stops, whichever task of whichever concurrent request runs next. An
overridden AsyncScopedValue lives in a context variable: native coroutines
started inside the override see it, other coroutines do not.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from asynq_contexts import AsyncContext, AsyncScopedValue, NonAsyncContext
from asynq_core import asynq


def run(coroutine: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout=10)

    return asyncio.run(bounded())


class Occupancy(AsyncContext):
    """Marks ``room`` as occupied by ``owner`` while its task runs."""

    def __init__(self, room: dict[str, Any], owner: str, log: list[str]) -> None:
        self.room = room
        self.owner = owner
        self.log = log

    def resume(self) -> None:
        assert self.room.get("owner") is None, f"{self.owner} entered while {self.room}"
        self.room["owner"] = self.owner
        self.log.append(f"resume {self.owner}")

    def pause(self) -> None:
        assert self.room.get("owner") == self.owner
        self.room["owner"] = None
        self.log.append(f"pause {self.owner}")


def occupant_task(store: Any) -> Any:
    @asynq()
    def occupant(room: dict[str, Any], owner: str, keys: list[int], log: list[str]) -> Any:
        values = []
        with Occupancy(room, owner, log):
            for key in keys:
                assert room["owner"] == owner
                values.append((yield store.get(key)))
                assert room["owner"] == owner
        assert room.get("owner") is None
        return values

    return occupant


def test_contexts_are_paused_and_resumed_around_every_step_under_asyncio(store: Any) -> None:
    occupant = occupant_task(store)

    @asynq()
    def two(room: dict[str, Any], log: list[str]) -> Any:
        return (
            yield [
                occupant.asynq(room, "a", [1, 2], log),
                occupant.asynq(room, "b", [3], log),
            ]
        )

    sync_log: list[str] = []
    assert two({}, sync_log) == [[2, 4], [6]]
    asyncio_log: list[str] = []
    assert run(two.asyncio({}, asyncio_log)) == [[2, 4], [6]]
    # The same steps as the synchronous call: a runs, b runs, then each after each flush.
    assert asyncio_log == sync_log
    assert asyncio_log.count("resume a") == asyncio_log.count("pause a") == 3
    assert asyncio_log.count("resume b") == asyncio_log.count("pause b") == 2
    assert store.flushes == [[1, 3], [2], [1, 3], [2]]


def test_concurrent_requests_never_see_each_others_contexts(store: Any) -> None:
    occupant = occupant_task(store)
    room: dict[str, Any] = {}
    log: list[str] = []

    async def main() -> Any:
        return await asyncio.gather(
            *(occupant.asyncio(room, name, [1, 2, 3], log) for name in ("a", "b", "c"))
        )

    assert run(main()) == [[2, 4, 6]] * 3
    assert log.count("resume a") == log.count("pause a") == 4
    assert room.get("owner") is None


def test_an_error_of_pause_is_raised_in_the_task_at_its_yield(store: Any) -> None:
    class BrokenPause(AsyncContext):
        def resume(self) -> None:
            pass

        def pause(self) -> None:
            raise OSError("cannot pause")

    @asynq()
    def task() -> Any:
        try:
            with BrokenPause():
                yield store.get(1)
        except OSError as error:
            return str(error)
        return "no error"

    assert run(task.asyncio()) == "cannot pause"


def test_a_non_async_context_forbids_yielding_under_asyncio(store: Any) -> None:
    @asynq()
    def task() -> Any:
        with NonAsyncContext():
            yield store.get(1)

    with pytest.raises(AssertionError, match="yielded inside"):
        run(task.asyncio())


def test_an_override_is_seen_only_by_its_task_under_asyncio(store: Any) -> None:
    level = AsyncScopedValue("default")

    @asynq()
    def overriding(seen: list[tuple[str, str]]) -> Any:
        with level.override("overridden"):
            seen.append(("overriding", level.get()))
            yield store.get(1)
            seen.append(("overriding", level.get()))
            level.set("changed")
            yield store.get(2)
            seen.append(("overriding", level.get()))
        seen.append(("overriding after", level()))

    @asynq()
    def other(seen: list[tuple[str, str]]) -> Any:
        for key in (3, 4, 5):
            seen.append(("other", level.get()))
            yield store.get(key)

    @asynq()
    def both(seen: list[tuple[str, str]]) -> Any:
        yield [overriding.asynq(seen), other.asynq(seen)]

    seen_sync: list[tuple[str, str]] = []
    both(seen_sync)
    seen: list[tuple[str, str]] = []
    run(both.asyncio(seen))
    assert seen == seen_sync
    assert [value for name, value in seen if name == "overriding"] == [
        "overridden",
        "overridden",
        "changed",
    ]
    assert {value for name, value in seen if name != "overriding"} == {"default"}
    assert level.get() == "default"


def test_a_native_coroutine_started_inside_an_override_sees_its_value() -> None:
    level = AsyncScopedValue("default")
    seen: list[tuple[str, str]] = []

    async def native(tag: str) -> str:
        seen.append((f"{tag} native start", level.get()))
        await asyncio.sleep(0.01)  # the other task runs meanwhile
        seen.append((f"{tag} native end", level.get()))
        if tag == "a":
            level.set("set by a native")  # inside the override: stays in this coroutine
        return tag

    @asynq(asyncio_fn=native)
    def fetch(tag: str) -> Any:
        yield None
        return tag

    @asynq()
    def task(tag: str, value: str | None) -> Any:
        if value is None:
            return (yield fetch.asynq(tag))
        with level.override(value):
            result = yield fetch.asynq(tag)
            seen.append((f"{tag} task", level.get()))
        return result

    @asynq()
    def both() -> Any:
        return (yield [task.asynq("a", "A"), task.asynq("b", None)])

    assert run(both.asyncio()) == ["a", "b"]
    assert sorted(seen) == sorted(
        [
            ("a native start", "A"),
            ("b native start", "default"),
            ("a native end", "A"),
            ("b native end", "default"),
            ("a task", "A"),
        ]
    )
    assert level.get() == "default"


def test_concurrent_requests_override_the_same_value_independently(store: Any) -> None:
    user = AsyncScopedValue("anonymous")

    async def audit() -> str:
        await asyncio.sleep(0.01)
        return f"audited as {user.get()}"

    @asynq(asyncio_fn=audit)
    def audit_call() -> Any:
        yield None
        return "sync"

    @asynq()
    def request(name: str) -> Any:
        with user.override(name):
            first = yield store.get(1)
            note = yield audit_call.asynq()
            second = yield store.get(2)
            return name, user.get(), note, first + second

    async def main() -> Any:
        return await asyncio.gather(*(request.asyncio(name) for name in ("ann", "bob", "cat")))

    assert run(main()) == [(name, name, f"audited as {name}", 6) for name in ("ann", "bob", "cat")]
    assert user.get() == "anonymous"


def test_an_override_is_not_seen_by_other_threads_while_its_task_runs() -> None:
    level = AsyncScopedValue("default")
    inside = threading.Event()
    read = threading.Event()
    seen_by_thread: list[str] = []
    reader_waited: list[bool] = []

    def reader() -> None:
        reader_waited.append(inside.wait(timeout=5))
        seen_by_thread.append(level.get())
        read.set()

    @asynq()
    def task() -> Any:
        with level.override("mine"):
            inside.set()
            assert read.wait(timeout=5)
            return level.get()
        yield None  # a generator function

    thread = threading.Thread(target=reader)
    thread.start()
    assert task() == "mine"
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert reader_waited == [True]
    assert seen_by_thread == ["default"]
