"""Every misuse of the public API we know of, with the exact error it gets.

Each row of ``MISUSES`` triggers one mistake and names the exact exception
type (not a base class) and the words its message must contain: the
function (or decorator, or class) that refused, and the offending value or
object. A row fails if the mistake passes silently, gets another error, or a
message that does not say what and where.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import pytest

from asynq_batching import (
    BatchBase,
    BatchingError,
    BatchItemBase,
    DebugBatchItem,
    batched,
    sync,
)
from asynq_contexts import AsyncContext, NonAsyncContext, async_override
from asynq_core import (
    AsyncTaskError,
    ConstFuture,
    ErrorFuture,
    Future,
    FutureIsAlreadyComputed,
    async_call,
    async_proxy,
    asynq,
    get_async_fn,
    get_scheduler,
    lazy,
    make_async_decorator,
    result,
)
from asynq_core.utils import AsynqMisuseError
from asynq_generator import Value, async_generator, list_of_generator, take_first
from asynq_mock import patch
from asynq_tools import (
    AsyncTimer,
    acached_per_instance,
    afilter,
    afilterfalse,
    alazy_constant,
    alru_cache,
    amap,
    amax,
    amin,
    aretry,
    asift,
    asorted,
    call_with_context,
    deduplicate,
)


@dataclass(frozen=True)
class Misuse:
    """``trigger()`` makes the mistake; it must raise exactly ``error`` with ``words`` in it."""

    id: str
    trigger: Callable[[], Any]
    error: type[BaseException]
    words: tuple[str, ...]


# -- small helpers the triggers use -----------------------------------------------


@asynq()
def identity(value: Any) -> Any:
    return value


def run_yielding(value: Any) -> Any:
    """Runs a task named ``yields_bad_value`` that yields ``value``."""

    @asynq()
    def yields_bad_value() -> Generator[Any, Any, Any]:
        return (yield value)

    return yields_bad_value()


def undecorated_generator() -> Generator[Any, Any, Any]:
    yield None


async def native_coroutine() -> None:
    return None


def run_yielding_a_coroutine() -> Any:
    coroutine = native_coroutine()
    try:
        return run_yielding(coroutine)
    finally:
        coroutine.close()


def forgotten_yield_in_if() -> Any:
    @asynq()
    def checks_task() -> Any:
        if identity.asynq(True):  # should be: if (yield identity.asynq(True))
            return 1
        return 0

    return checks_task()


def forgotten_yield_in_result() -> Any:
    @asynq()
    def returns_future() -> Any:
        result(identity.asynq(1))

    return returns_future()


class Table(BatchBase):
    """A minimal batch: every item gets its key."""

    def _try_switch_active_batch(self) -> None:
        pass

    def _flush(self) -> None:
        for item in self.items:
            item.set_value(item.key)  # type: ignore[attr-defined]


class Key(BatchItemBase[Any]):
    def __init__(self, batch: BatchBase, key: Any) -> None:
        super().__init__(batch)
        self.key = key


def item_added_to_a_flushed_batch() -> Any:
    batch = Table()
    Key(batch, 1).value()
    return Key(batch, 2)


def value_asked_inside_flush() -> Any:
    class Peeking(Table):
        def _flush(self) -> None:
            self.items[0].value()

    batch = Peeking()
    item = Key(batch, 1)
    batch.flush()
    return item.value()


def cancelled_with_a_string() -> Any:
    batch = Table()
    item = Key(batch, 1)
    batch.cancel("stop")  # type: ignore[arg-type]
    return item.value()


class Incomplete(BatchBase):
    def _try_switch_active_batch(self) -> None:
        pass


def sync_call_in_asyncio_mode() -> Any:
    @asynq()
    def calls_synchronously() -> Any:
        return identity("blocks the loop")
        yield  # a generator: it runs as a task under asyncio

    return asyncio.run(calls_synchronously.asyncio())


def asynq_applied_twice() -> Any:
    @asynq()
    @asynq()
    def twice() -> None:
        pass


def asynq_without_parentheses() -> Any:
    @asynq  # type: ignore[arg-type]
    def no_parens() -> None:
        pass


def async_proxy_without_parentheses() -> Any:
    @async_proxy  # type: ignore[arg-type]
    def proxy_no_parens() -> Any:
        return ConstFuture(1)


def proxy_returning_a_value() -> Any:
    @async_proxy()
    def proxy_returns_int() -> Any:
        return 42

    return proxy_returns_int()


def wrapper_returning_a_value() -> Any:
    def plain() -> int:
        return 1

    decorated = make_async_decorator(plain, lambda: "not a future", "my_wrapper")
    return decorated()


def asynq_above_async_proxy() -> Any:
    @asynq()
    @async_proxy()
    def proxied_then_asynq() -> Any:
        return ConstFuture(1)


def tool_decorator_below_asynq(tool: Callable[[], Any]) -> Callable[[], Any]:
    def trigger() -> Any:
        @asynq()
        @tool()
        def tool_below_asynq() -> int:
            return 1

    return trigger


def pure_function_asynq_attribute() -> Any:
    @asynq(pure=True)
    def pure_fn() -> int:
        return 1

    class Holder:
        method = pure_fn

    return Holder().method.asynq()


def set_value_twice() -> Any:
    future = ConstFuture("first")
    future.set_value("second")


def enter(context: Any) -> Any:
    with context:
        pass


def context_without_resume() -> Any:
    class NoResume(AsyncContext):
        def pause(self) -> None:
            pass

    with NoResume():
        pass


def yield_inside_non_async_context() -> Any:
    @asynq()
    def yields_inside() -> Generator[Any, Any, Any]:
        with NonAsyncContext():
            yield sync()

    return yields_inside()


def plain_object_without_weakref() -> Any:
    class Slotted:
        __slots__ = ()

        @acached_per_instance()
        @asynq()
        def method(self) -> int:
            return 1

    return Slotted().method()


def unhashable_cached_argument() -> Any:
    @alru_cache()
    @asynq()
    def cached(values: Any) -> Any:
        return values

    return cached(["unhashable"])


def lazy_constant_with_a_bad_ttl() -> Any:
    @alazy_constant(ttl="soon")  # type: ignore[arg-type]
    @asynq()
    def constant() -> int:
        return 1

    constant()
    return constant()


def fails_with_value_error() -> Any:
    raise ValueError("down")


def lazy_constant_called_with_arguments() -> Any:
    @alazy_constant()
    @asynq()
    def constant() -> int:
        return 1

    return constant("surprise")


def async_generator_without_parentheses() -> Any:
    @async_generator  # type: ignore[arg-type]
    def gen() -> Any:
        yield Value(1)


def async_generator_on_a_plain_function() -> Any:
    @async_generator()  # type: ignore[arg-type]
    def not_a_generator() -> int:
        return 1

    return not_a_generator()


def async_generator_advanced_too_early() -> Any:
    @async_generator()
    def two_values() -> Any:
        yield sync()
        yield Value(1)
        yield Value(2)

    steps = two_values()
    next(steps)
    return next(steps)


def async_generator_calling_result() -> Any:
    @async_generator()
    def legacy() -> Any:
        yield Value(1)
        result(2)

    return list_of_generator(legacy())


def batched_without_parentheses() -> Any:
    @batched  # type: ignore[arg-type]
    def load_rows(keys: list[int]) -> dict[int, int]:
        return {}


def batched_on_an_asynq_function() -> Any:
    @batched()
    @asynq()
    def already_async(keys: list[int]) -> dict[int, int]:
        return {}


def batched_unhashable_key() -> Any:
    @batched()
    def load_by_key(keys: list[Any]) -> dict[Any, int]:
        return {}

    return load_by_key(["unhashable"])


def batched_returning_garbage() -> Any:
    @batched()
    def load_garbage(keys: list[int]) -> Any:
        return 42

    return load_garbage(1)


# -- the table ------------------------------------------------------------------

MISUSES = [
    # Yielding what a task cannot wait for.
    Misuse("yield an int", lambda: run_yielding(42), TypeError, ("yields_bad_value", "42", "int")),
    Misuse(
        "yield a set nested in a list",
        lambda: run_yielding([ConstFuture(1), {"key": {3}}]),
        TypeError,
        ("yields_bad_value", "{3}", "set"),
    ),
    Misuse(
        "yield a generator (a forgotten @asynq() or .asynq())",
        lambda: run_yielding(undecorated_generator()),
        TypeError,
        ("yields_bad_value", "undecorated_generator", "generator", ".asynq()"),
    ),
    Misuse(
        "yield a coroutine",
        run_yielding_a_coroutine,
        TypeError,
        ("yields_bad_value", "native_coroutine", "awaitable"),
    ),
    Misuse(
        "yield a task's function instead of calling it",
        lambda: run_yielding(identity),
        TypeError,
        ("yields_bad_value", "identity", "AsyncDecorator"),
    ),
    # Forgotten yields.
    Misuse(
        "truth value of a task (a forgotten yield)",
        forgotten_yield_in_if,
        TypeError,
        ("bool()", "identity(True)", "forgot to 'yield'"),
    ),
    Misuse(
        "result() of a future",
        forgotten_yield_in_result,
        AsynqMisuseError,
        ("result(", "identity(1)", "forgot to 'yield'"),
    ),
    # Decorators.
    Misuse(
        "@asynq without parentheses",
        asynq_without_parentheses,
        TypeError,
        ("asynq()", "no_parens", "@asynq() with parentheses"),
    ),
    Misuse(
        "@asynq() applied twice",
        asynq_applied_twice,
        AsynqMisuseError,
        ("@asynq()", "twice", "already an asynq function"),
    ),
    Misuse(
        "@asynq() above @async_proxy() (wrong decorator order)",
        asynq_above_async_proxy,
        AsynqMisuseError,
        ("@asynq()", "proxied_then_asynq", "already an asynq function"),
    ),
    Misuse("@asynq() on a non-callable", lambda: asynq()(42), TypeError, ("@asynq()", "42")),
    Misuse(
        "asynq(cls=...) not a task class",
        lambda: asynq(cls=int),
        TypeError,
        ("asynq(cls=", "int", "AsyncTask"),
    ),
    Misuse(
        "asynq(pure=True, sync_fn=...)",
        lambda: asynq(pure=True, sync_fn=print),
        AsynqMisuseError,
        ("asynq(pure=True, sync_fn=", "print"),
    ),
    Misuse(
        "asynq(extra keyword) without pure",
        lambda: asynq(retries=3),
        AsynqMisuseError,
        ("asynq()", "retries", "pure=True"),
    ),
    Misuse(
        "@async_proxy without parentheses",
        async_proxy_without_parentheses,
        TypeError,
        ("async_proxy()", "proxy_no_parens"),
    ),
    Misuse(
        "@async_proxy() function returning a value",
        proxy_returning_a_value,
        TypeError,
        ("@async_proxy()", "proxy_returns_int", "42", "not a future"),
    ),
    Misuse(
        "make_async_decorator wrapper returning a value",
        wrapper_returning_a_value,
        TypeError,
        ("@my_wrapper()", "plain", "'not a future'", "not a future"),
    ),
    Misuse(
        ".asynq of a pure function",
        pure_function_asynq_attribute,
        AttributeError,
        ("pure_fn", "is pure"),
    ),
    Misuse(
        "get_async_fn(non-callable, wrap_if_none=True)",
        lambda: get_async_fn(42, wrap_if_none=True),
        TypeError,
        ("get_async_fn()", "42"),
    ),
    Misuse(
        "async_call of a non-callable",
        lambda: async_call(42),
        TypeError,
        ("async_call()", "42"),
    ),
    Misuse("lazy of a non-callable", lambda: lazy(42), TypeError, ("lazy()", "42")),
    # Futures and tasks.
    Misuse("Future(non-callable)", lambda: Future(42), TypeError, ("Future()", "42")),
    Misuse(
        "ErrorFuture(non-exception)",
        lambda: ErrorFuture("oops"),
        TypeError,
        ("ErrorFuture()", "'oops'"),
    ),
    Misuse(
        "set_error(non-exception)",
        lambda: Future(int).set_error("oops"),
        TypeError,
        ("Future.set_error()", "'oops'"),
    ),
    Misuse(
        "set_value on a computed future",
        set_value_twice,
        FutureIsAlreadyComputed,
        ("ConstFuture", "'first'"),
    ),
    Misuse(
        "a synchronous call inside asyncio mode",
        sync_call_in_asyncio_mode,
        RuntimeError,
        ("synchronous call", "identity", "asyncio"),
    ),
    Misuse(
        "a task that asks for its own value",
        lambda: _ask_own_value(),
        AsyncTaskError,
        ("asks_own_value", "waits for itself"),
    ),
    # Batching.
    Misuse(
        "a batch item of something that is not a batch",
        lambda: Key("not a batch", 1),  # type: ignore[arg-type]
        TypeError,
        ("Key()", "'not a batch'", "BatchBase"),
    ),
    Misuse(
        "a batch item added to a flushed batch",
        item_added_to_a_flushed_batch,
        BatchingError,
        ("Key()", "Table", "flushed"),
    ),
    Misuse(
        "an item's value asked inside the flush",
        value_asked_inside_flush,
        BatchingError,
        ("Key", "flushing"),
    ),
    Misuse(
        "cancel(non-exception) (fails at the items' value, as in 1.x)",
        cancelled_with_a_string,
        TypeError,
        ("Table.cancel()", "'stop'"),
    ),
    Misuse(
        "a batch subclass without _flush",
        lambda: Key(Incomplete(), 1).value(),
        NotImplementedError,
        ("Incomplete", "_flush()"),
    ),
    Misuse(
        "a debug batch item of an unhashable name",
        lambda: DebugBatchItem(["name"]),  # type: ignore[arg-type]
        TypeError,
        ("DebugBatchItem()", "['name']"),
    ),
    Misuse(
        "@batched without parentheses",
        batched_without_parentheses,
        TypeError,
        ("batched()", "load_rows", "@batched() with parentheses"),
    ),
    Misuse(
        "@batched() on an asynq function",
        batched_on_an_asynq_function,
        TypeError,
        ("@batched()", "already_async"),
    ),
    Misuse(
        "batched(max_size=0)",
        lambda: batched(max_size=0),
        ValueError,
        ("batched(max_size=0)", "max_size"),
    ),
    Misuse(
        "a loader called with an unhashable key",
        batched_unhashable_key,
        TypeError,
        ("load_by_key", "['unhashable']", "hashable"),
    ),
    Misuse(
        "a bulk function returning neither a dict nor a list",
        batched_returning_garbage,
        TypeError,
        ("load_garbage", "42", "int"),
    ),
    # Contexts.
    Misuse(
        "a NonAsyncContext exited without being entered",
        lambda: NonAsyncContext().__exit__(None, None, None),
        RuntimeError,
        ("NonAsyncContext", "without being entered"),
    ),
    Misuse(
        "an AsyncContext without resume()",
        context_without_resume,
        NotImplementedError,
        ("NoResume", "resume()"),
    ),
    Misuse(
        "a yield inside a NonAsyncContext",
        yield_inside_non_async_context,
        AssertionError,
        ("yields_inside", "NonAsyncContext", "forbids yielding"),
    ),
    Misuse(
        "async_override of an attribute name that is not a str (entered, as in 1.x)",
        lambda: enter(async_override(get_scheduler(), 42, None)),  # type: ignore[arg-type]
        TypeError,
        ("async_override()", "42"),
    ),
    Misuse(
        "async_override of a missing attribute (entered, as in 1.x)",
        lambda: enter(async_override(get_scheduler(), "no_such_attribute", None)),
        AttributeError,
        ("async_override()", "TaskScheduler", "'no_such_attribute'"),
    ),
    # Tools.
    Misuse("amap of a non-callable", lambda: amap(42, [1]), TypeError, ("amap()", "42")),
    Misuse("afilter of a non-callable", lambda: afilter(42, [1]), TypeError, ("afilter()", "42")),
    Misuse(
        "asorted with a key that is not callable",
        lambda: asorted([2, 1], key=42),
        TypeError,
        ("asorted()", "42"),
    ),
    Misuse("amap of a non-iterable", lambda: amap(str, 42), TypeError, ("amap()", "42")),
    Misuse(
        "amap of a non-iterable second sequence",
        lambda: amap(max, [1], 42),
        TypeError,
        ("amap()", "42"),
    ),
    Misuse("afilter of a non-iterable", lambda: afilter(None, 42), TypeError, ("afilter()", "42")),
    Misuse(
        "afilterfalse of a non-iterable",
        lambda: afilterfalse(bool, 42),
        TypeError,
        ("afilterfalse()", "42"),
    ),
    Misuse("asift of a non-iterable", lambda: asift(bool, 42), TypeError, ("asift()", "42")),
    Misuse("asorted of a non-iterable", lambda: asorted(42), TypeError, ("asorted()", "42")),
    Misuse("amin of a non-iterable", lambda: amin(42), TypeError, ("amin()", "42")),
    Misuse("amax of nothing", lambda: amax(), TypeError, ("amax", "0")),
    Misuse("amin of an empty sequence", lambda: amin([]), ValueError, ("amin()", "empty")),
    Misuse(
        "amax with a default and several arguments",
        lambda: amax(1, 2, default=3),
        TypeError,
        ("amax()", "default"),
    ),
    Misuse(
        "@alru_cache without parentheses (fails when called, as in 1.x)",
        lambda: alru_cache(identity)(1),
        TypeError,
        ("alru_cache()", "identity", "@alru_cache()"),
    ),
    Misuse(
        "alru_cache(maxsize=-1)",
        lambda: alru_cache(maxsize=-1),
        ValueError,
        ("alru_cache(maxsize=", "-1"),
    ),
    Misuse(
        "alru_cache(key_fn=non-callable) (fails when called, as in 1.x)",
        lambda: alru_cache(key_fn=42)(identity)(1),  # type: ignore[arg-type]
        TypeError,
        ("alru_cache(key_fn=", "42"),
    ),
    Misuse(
        "an unhashable argument of a cached function",
        unhashable_cached_argument,
        TypeError,
        ("@alru_cache()", "cached", "['unhashable']", "hashable"),
    ),
    Misuse(
        "@deduplicate() below @asynq() (wrong decorator order)",
        tool_decorator_below_asynq(deduplicate),
        TypeError,
        ("@deduplicate()", "tool_below_asynq", "above @asynq()"),
    ),
    Misuse(
        "@alru_cache() below @asynq() (wrong decorator order)",
        tool_decorator_below_asynq(alru_cache),
        TypeError,
        ("@alru_cache()", "tool_below_asynq", "above @asynq()"),
    ),
    Misuse(
        "deduplicate(keygetter=non-callable) (fails when called, as in 1.x)",
        lambda: deduplicate(keygetter=42)(identity)(1),  # type: ignore[arg-type]
        TypeError,
        ("deduplicate(keygetter=", "42"),
    ),
    Misuse(
        "acached_per_instance on instances without weak references",
        plain_object_without_weakref,
        TypeError,
        ("@acached_per_instance()", "method", "weak references", "Slotted"),
    ),
    Misuse(
        "aretry of something that is not an exception class (fails at an error, as in 1.x)",
        lambda: aretry("ValueError")(fails_with_value_error)(),  # type: ignore[arg-type]
        TypeError,
        ("aretry()", "'ValueError'"),
    ),
    Misuse(
        "aretry(max_tries=0)",
        lambda: aretry(ValueError, max_tries=0),
        ValueError,
        ("aretry(max_tries=", "0"),
    ),
    Misuse(
        "aretry(sleep=-1) (fails when retrying, as in 1.x)",
        lambda: aretry(ValueError, sleep=-1)(fails_with_value_error)(),
        ValueError,
        ("aretry(sleep=", "-1"),
    ),
    Misuse(
        "alazy_constant(ttl=non-number) (fails when the value is reused, as in 1.x)",
        lazy_constant_with_a_bad_ttl,
        TypeError,
        ("alazy_constant(ttl=", "'soon'"),
    ),
    Misuse(
        "an alazy_constant called with arguments",
        lazy_constant_called_with_arguments,
        TypeError,
        ("constant", "alazy_constant", "'surprise'"),
    ),
    Misuse(
        "AsyncTimer(clock=non-callable)",
        lambda: AsyncTimer(clock=42),  # type: ignore[arg-type]
        TypeError,
        ("AsyncTimer(clock=", "42"),
    ),
    Misuse(
        "call_with_context of something that is not a context manager",
        lambda: call_with_context(42, identity, 1),
        TypeError,
        ("call_with_context()", "42", "context manager"),
    ),
    # Mock.
    Misuse(
        "patch() of a target without a dot",
        lambda: patch("nodots"),
        TypeError,
        ("patch()", "'nodots'"),
    ),
    Misuse(
        "patch.object() of a name instead of an object (fails when started, as in 1.x)",
        lambda: patch.object("os.path", "join").start(),
        TypeError,
        ("patch.object()", "'os.path'"),
    ),
    Misuse(
        "patch.object() with an attribute name that is not a str (fails when started, as in 1.x)",
        lambda: patch.object(get_scheduler(), 42).start(),  # type: ignore[arg-type]
        TypeError,
        ("patch.object()", "42"),
    ),
    Misuse(
        "patch.multiple() of nothing",
        lambda: patch.multiple(get_scheduler()),
        ValueError,
        ("patch.multiple()", "keyword argument"),
    ),
    Misuse(
        "configuring .asynq of a mock instead of the mock",
        lambda: _configure_asynq_of_a_mock(),
        TypeError,
        ("return_value", ".asynq", "configure the mock itself"),
    ),
    # Generators.
    Misuse(
        "@async_generator without parentheses",
        async_generator_without_parentheses,
        TypeError,
        ("async_generator()", "gen", "@async_generator() with parentheses"),
    ),
    Misuse(
        "@async_generator() on a plain function (fails when called, as in 1.x)",
        async_generator_on_a_plain_function,
        TypeError,
        ("@async_generator()", "not_a_generator", "generator function"),
    ),
    Misuse(
        "an async generator advanced before its step is computed",
        async_generator_advanced_too_early,
        RuntimeError,
        ("two_values", "step 2", "step 1"),
    ),
    Misuse(
        "result() inside an async generator",
        async_generator_calling_result,
        TypeError,
        ("legacy", "result()", "Value(x)"),
    ),
    Misuse(
        "list_of_generator of something that is not iterable",
        lambda: list_of_generator(42),  # type: ignore[arg-type]
        TypeError,
        ("list_of_generator()", "42"),
    ),
    Misuse(
        "take_first with a count that is not a number (fails at the first item, as in 1.x)",
        lambda: take_first(iter([ConstFuture(1)]), "3"),  # type: ignore[arg-type]
        TypeError,
        ("take_first()", "'3'"),
    ),
    Misuse(
        "an async generator producing something that is not a future",
        lambda: list_of_generator(iter([1, 2])),
        TypeError,
        ("list_of_generator()", "1", "not a future"),
    ),
]


def _ask_own_value() -> Any:
    tasks: list[Any] = []

    @asynq()
    def asks_own_value() -> Any:
        return tasks[0].value()

    tasks.append(asks_own_value.asynq())
    return tasks[0].value()


def _configure_asynq_of_a_mock() -> Any:
    with patch.object(get_scheduler(), "dump") as mocked:
        mocked.asynq.return_value = 1


@pytest.mark.parametrize("misuse", MISUSES, ids=[misuse.id for misuse in MISUSES])
def test_a_misuse_gets_a_clear_error(misuse: Misuse) -> None:
    with pytest.raises(BaseException) as info:
        misuse.trigger()
    error = info.value
    assert type(error) is misuse.error, f"{type(error).__name__}: {error}"
    message = str(error)
    missing = [word for word in misuse.words if word not in message]
    assert not missing, f"{message!r} lacks {missing}"
    del info, error
    gc.collect()
    scheduler = get_scheduler()
    assert scheduler.active_task is None
    assert scheduler.pending_groups() == []
