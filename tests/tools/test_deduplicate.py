"""deduplicate and call_with_context."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import qcore

from asynq_contexts import AsyncScopedValue
from asynq_core import AsyncTask, asynq
from asynq_core.decorators import AsyncDecorator, async_proxy
from asynq_core.futures import ConstFuture
from asynq_tools import (
    DeduplicateDecorator,
    DeduplicateDecoratorBinder,
    call_with_context,
    deduplicate,
)

# -- deduplicate ----------------------------------------------------------------


def test_concurrent_identical_calls_share_one_task(store: Any) -> None:
    calls: list[int] = []

    @deduplicate()
    @asynq()
    def fetch(key: int, scale: int = 1) -> Any:
        calls.append(key)
        value = yield store.get(key)
        return value * scale

    assert fetch.asynq(1) is fetch.asynq(1)
    assert fetch.asynq(1) is fetch.asynq(key=1, scale=1)  # however arguments are passed
    assert fetch.asynq(1) is not fetch.asynq(2)

    @asynq()
    def main() -> Any:
        return (yield [fetch.asynq(1), fetch.asynq(2), fetch.asynq(1), fetch.asynq(1, 3)])

    assert main() == [2, 4, 2, 6]
    assert sorted(calls) == [1, 1, 2]  # (1) once, (2) once, (1, scale=3) once
    assert len(store.flushes) == 1


def test_a_call_after_the_shared_one_finished_runs_again(store: Any) -> None:
    calls: list[int] = []

    @deduplicate()
    @asynq()
    def fetch(key: int) -> Any:
        calls.append(key)
        return (yield store.get(key))

    assert fetch(1) == 2
    assert fetch(1) == 2
    assert calls == [1, 1]


def test_dirty_forgets_the_call_in_progress(store: Any) -> None:
    @deduplicate()
    @asynq()
    def fetch(key: int) -> Any:
        return (yield store.get(key))

    first = fetch.asynq(1)
    other = fetch.asynq(2)
    fetch.dirty(1)
    second = fetch.asynq(1)
    assert second is not first
    assert fetch.asynq(1) is second
    assert fetch.asynq(2) is other  # only the one call is forgotten
    fetch.dirty(3)  # nothing in progress: nothing to do
    assert fetch.asynq(1) is second
    assert fetch.asynq(2) is other


def test_dirty_on_a_method_binds_the_instance(store: Any) -> None:
    class Repo:
        @deduplicate()
        @asynq()
        def fetch(self, key: int) -> Any:
            return (yield store.get(key))

    repo, other_repo = Repo(), Repo()
    first = repo.fetch.asynq(1)
    assert repo.fetch.asynq(1) is first
    assert other_repo.fetch.asynq(1) is not first
    repo.fetch.dirty(1)
    assert repo.fetch.asynq(1) is not first
    assert repo.fetch(1) == 2


def test_dirty_through_the_class_takes_the_instance_first(store: Any) -> None:
    class Repo:
        @deduplicate()
        @asynq()
        def fetch(self, key: int) -> Any:
            return (yield store.get(key))

    repo = Repo()
    first = repo.fetch.asynq(1)
    assert Repo.fetch.asynq(repo, 1) is first  # unbound: the instance comes first
    Repo.fetch.dirty(repo, 1)
    assert repo.fetch.asynq(1) is not first


def test_a_deduplicated_function_is_a_deduplicate_decorator(store: Any) -> None:
    """As in asynq 1.x, an AsyncDecorator of a class of its own, whose methods
    bind to a binder of their own."""

    @deduplicate()
    @asynq()
    def fetch(key: int) -> Any:
        return (yield store.get(key))

    class Repo:
        fetch_method = fetch

    assert isinstance(fetch, DeduplicateDecorator)
    assert isinstance(fetch, AsyncDecorator)
    assert fetch.task_cls is AsyncTask
    assert isinstance(Repo().fetch_method, DeduplicateDecoratorBinder)
    assert fetch.cache_key((1,), {}) == fetch.cache_key((), {"key": 1})
    assert repr(fetch).startswith("<@deduplicate() ")


def test_deduplicate_decorator_takes_asynq_1x_constructor_arguments(store: Any) -> None:
    """``DeduplicateDecorator(fn, task_cls, keygetter)``, as code bases build it."""

    @asynq()
    def fetch(key: int, attempt: int) -> Any:
        return (yield store.get(key))

    by_key = DeduplicateDecorator(fetch, fetch.task_cls, lambda args, kwargs: args[0])
    assert by_key.keygetter((5, 1), {}) == 5
    assert by_key.asynq(1, attempt=1) is by_key.asynq(1, attempt=2)  # the key ignores attempt
    assert by_key(2, 1) == 4
    by_arguments = DeduplicateDecorator(fetch)  # the keygetter defaults to the arguments
    assert by_arguments.asynq(1, 1) is by_arguments.asynq(key=1, attempt=1)
    assert by_arguments.asynq(1, 1) is not by_arguments.asynq(1, 2)
    with pytest.raises(TypeError, match=r"above @asynq\(\)"):
        DeduplicateDecorator(len, AsyncTask, None)


def test_a_subclass_of_deduplicate_decorator_chooses_the_key_and_sees_calls(
    store: Any,
) -> None:
    seen: list[tuple[Any, ...]] = []

    class PerTenant(DeduplicateDecorator[Any, Any]):
        def cache_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return args[1]  # one call in progress per tenant, whatever the key

        def asynq(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(args)
            return super().asynq(*args, **kwargs)

    @asynq()
    def fetch(key: int, tenant: str) -> Any:
        return (yield store.get(key))

    shared = qcore.decorators.decorate(PerTenant, fetch.task_cls, None)(fetch)
    assert isinstance(shared, PerTenant)
    assert shared.asynq(1, "a") is shared.asynq(2, "a")
    first = shared.asynq(1, "a")
    assert first is not shared.asynq(1, "b")
    shared.dirty(9, "a")  # through cache_key: forgets tenant "a"'s call
    assert shared.asynq(1, "a") is not first
    assert shared(3, "a") == 6  # a call goes through the subclass's .asynq too
    assert seen[-1] == (3, "a")


def test_deduplicate_of_a_proxy_keeps_its_task_class_and_shares_its_futures() -> None:
    futures: list[ConstFuture[int]] = []

    @deduplicate()
    @async_proxy()
    def proxied(value: int) -> ConstFuture[int]:
        futures.append(ConstFuture(value))
        return futures[-1]

    assert proxied.task_cls is None  # a proxy's, as in asynq 1.x
    assert proxied(3) == 3
    assert proxied.asynq(4).value() == 4
    assert len(futures) == 2  # a computed future is never shared


def test_an_error_reaches_every_caller_and_is_not_kept(store: Any) -> None:
    calls: list[int] = []

    @deduplicate()
    @asynq()
    def fetch(key: int) -> Any:
        calls.append(key)
        return (yield store.get(key))

    @asynq()
    def main() -> Any:
        results = []
        first, second = fetch.asynq(500), fetch.asynq(500)
        assert first is second
        for task in (first, second):
            try:
                yield task
            except KeyError as error:
                results.append(repr(error))
        return results

    assert main() == ["KeyError(500)", "KeyError(500)"]
    store.data[500] = 1000
    assert fetch(500) == 1000
    assert calls == [500, 500]


def test_a_recursive_call_with_the_same_key_does_not_deadlock(store: Any) -> None:
    # The depth is left out of the key: every level is "the same call".
    @deduplicate(keygetter=lambda args, kwargs: args[0])
    @asynq()
    def resolve(name: int, depth: int = 0, sync: bool = False) -> Any:
        if depth == 3:
            return (yield store.get(name))
        if sync:
            return resolve(name, depth + 1, sync) + 1
        inner = yield resolve.asynq(name, depth + 1, sync)
        return inner + 1

    assert resolve(5) == 13
    assert resolve(5, sync=True) == 13


def test_deduplicate_state_is_per_thread(store: Any) -> None:
    @deduplicate()
    @asynq()
    def fetch(key: int) -> Any:
        return (yield store.get(key))

    mine = fetch.asynq(1)
    from_other_thread: list[Any] = []
    thread = threading.Thread(target=lambda: from_other_thread.append(fetch.asynq(1)))
    thread.start()
    thread.join()
    assert from_other_thread[0] is not mine
    assert fetch.asynq(1) is mine


def test_deduplicate_keeps_the_original_introspectable(store: Any) -> None:
    @asynq()
    def fetch(key: int) -> Any:
        return (yield store.get(key))

    deduplicated = deduplicate()(fetch)
    assert qcore.get_original_fn(deduplicated) is qcore.get_original_fn(fetch)
    assert deduplicated.__name__ == "fetch"


def test_deduplicate_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"above @asynq\(\)"):
        deduplicate()(len)

    # A keygetter that is not callable fails at the call, where asynq 1.x
    # fails: a module defining such a function still imports.
    @deduplicate(keygetter=3)  # type: ignore[arg-type]
    @asynq()
    def never_called(value: Any) -> Any:
        return value

    with pytest.raises(TypeError, match=r"deduplicate\(keygetter=...\) needs a function, got 3"):
        never_called(1)
    with pytest.raises(TypeError, match="keygetter"):
        never_called.dirty(1)


def test_deduplicate_runs_calls_with_unhashable_arguments_unshared() -> None:
    # asynq 1.x runs a synchronous call with unhashable arguments (its .asynq
    # call failed): nothing can be shared, so each call gets a task of its own.
    calls: list[Any] = []

    @deduplicate()
    @asynq()
    def echo(value: Any) -> Any:
        calls.append(value)
        return value
        yield

    @asynq()
    def main() -> Any:
        return (yield echo.asynq({"a": 1}), echo.asynq({"a": 1}))

    assert echo([1]) == [1]
    assert main() == ({"a": 1}, {"a": 1})
    assert calls == [[1], {"a": 1}, {"a": 1}]
    echo.dirty([1])  # nothing to forget


# -- call_with_context ----------------------------------------------------------


def test_call_with_context_runs_only_that_call_in_the_context(store: Any) -> None:
    user = AsyncScopedValue("nobody")

    @asynq()
    def whoami(key: int) -> Any:
        before = user.get()
        yield store.get(key)
        return before, user.get()

    @asynq()
    def main() -> Any:
        return (
            yield (
                call_with_context.asynq(user.override("admin"), whoami, 1),
                whoami.asynq(2),
            )
        )

    assert main() == (("admin", "admin"), ("nobody", "nobody"))
    assert store.flushes == [[1, 2]]
    assert user.get() == "nobody"


def test_call_with_context_with_plain_functions_and_context_managers() -> None:
    events: list[str] = []

    class Plain:
        def __enter__(self) -> None:
            events.append("enter")

        def __exit__(self, *exc_info: Any) -> None:
            events.append("exit")

    def add(a: int, b: int) -> int:
        events.append("call")
        return a + b

    assert call_with_context(Plain(), add, 1, b=2) == 3
    assert events == ["enter", "call", "exit"]


def test_under_asyncio_a_deduplicated_function_runs_its_asyncio_fn() -> None:
    async def native() -> str:
        return "native"

    @deduplicate()
    @asynq(asyncio_fn=native)
    def either() -> str:
        return "generator"

    assert either() == "generator"
    assert asyncio.run(either.asyncio()) == "native"


def test_under_asyncio_concurrent_identical_calls_share_one_task(store: Any) -> None:
    calls: list[int] = []

    @deduplicate()
    @asynq()
    def fetch(key: int) -> Any:
        calls.append(key)
        return (yield store.get(key))

    @asynq()
    def twice() -> Any:
        return (yield [fetch.asynq(1), fetch.asynq(1), fetch.asynq(2)])

    assert asyncio.run(twice.asyncio()) == [2, 2, 4]
    assert calls == [1, 2]
