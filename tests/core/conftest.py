"""Shared fixtures of the asynq-core tests.

Every test gets a fresh scheduler for its thread, fresh profiler entries and
the debug options (and debug module switches) restored afterwards, so tests
never see each other's state (the root conftest resets the scheduler).
``make_batch`` builds a tiny flush group of deferred futures (the seam
asynq-batching plugs into), enough to exercise the scheduler's batching
without depending on asynq-batching.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asynq_core import _debug, debug, profiler
from asynq_core.futures import DeferredFuture


class TinyItem(DeferredFuture[Any]):
    """A deferred future computed when its batch is flushed."""

    __slots__ = ("batch", "key")

    def __init__(self, batch: TinyBatch, key: Any) -> None:
        super().__init__()
        self.batch = batch
        self.key = key

    def flush_group(self) -> TinyBatch:
        return self.batch

    def __repr__(self) -> str:
        return f"<TinyItem {self.batch.name}:{self.key!r}>"


class TinyBatch:
    """A flush group: on flush, each item gets ``compute(key)`` (or its error);
    then ``flush()`` raises ``fail_with`` if given (a flush that breaks)."""

    def __init__(
        self,
        name: str,
        priority: Any,
        compute: Callable[[Any], Any],
        flush_log: list[tuple[str, list[Any]]],
        fail_with: BaseException | None = None,
    ) -> None:
        self.name = name
        self.priority = priority
        self.compute = compute
        self.flush_log = flush_log
        self.fail_with = fail_with
        self.items: list[TinyItem] = []
        self.flush_count = 0

    def item(self, key: Any) -> TinyItem:
        if self.flush_count:
            raise AssertionError(f"{self!r} is already flushed")
        item = TinyItem(self, key)
        self.items.append(item)
        return item

    def get_priority(self) -> Any:
        return self.priority

    def flush(self) -> None:
        if self.flush_count:
            return
        self.flush_count += 1
        self.flush_log.append((self.name, [item.key for item in self.items]))
        for item in self.items:
            try:
                value = self.compute(item.key)
            except Exception as error:
                item.set_error(error)
            else:
                item.set_value(value)
        if self.fail_with is not None:
            raise self.fail_with

    def __repr__(self) -> str:
        return f"<TinyBatch {self.name}>"


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    saved_options = dict(vars(_debug.options))
    saved_switches = {
        name: getattr(debug, name)
        for name in (
            "_use_original_exc_handler",
            "_should_filter_traceback",
            "_use_syntax_highlighting",
            "_original_hook",
        )
    }
    profiler.reset()
    yield
    profiler.reset()
    for name in list(vars(_debug.options)):
        if name not in saved_options:
            delattr(_debug.options, name)
    for name, value in saved_options.items():
        setattr(_debug.options, name, value)
    for name, value in saved_switches.items():
        setattr(debug, name, value)


@pytest.fixture
def flush_log() -> list[tuple[str, list[Any]]]:
    """(batch name, keys) for every flush, in the order they happened."""
    return []


@pytest.fixture
def make_batch(
    flush_log: list[tuple[str, list[Any]]],
) -> Callable[..., TinyBatch]:
    """``make_batch(name, priority=0, compute=lambda key: key, fail_with=None)`` -> TinyBatch."""

    def make(
        name: str,
        priority: Any = 0,
        compute: Callable[[Any], Any] = lambda key: key,
        fail_with: BaseException | None = None,
    ) -> TinyBatch:
        return TinyBatch(name, priority, compute, flush_log, fail_with)

    return make


@pytest.fixture
def debug_output(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What asynq_core.debug writes: trace output to its module attribute
    ``stdout`` and errors to ``stderr``, both patched to one buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(debug, "stdout", buffer)
    monkeypatch.setattr(debug, "stderr", buffer)
    return buffer
