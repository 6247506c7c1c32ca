"""asynq.debug and asynq.profiler as 1.6 code and its tests use them: options,
errors dumped to a patched ``asynq.debug.stderr`` (trace output to ``stdout``),
asynq stacks, ``sync()``, and per-thread performance statistics."""

from __future__ import annotations

import io
import logging
import sys
import threading
from typing import Any

import compat_app as app
import pytest

import asynq
from asynq import asynq as asynq_fn
from asynq.batching import DebugBatchItem
from asynq.mock import patch


@asynq_fn()
def innermost(key: str) -> Any:
    value = yield app.mc_get.asynq(key)
    raise LookupError(f"no {key}: {value}")


@asynq_fn()
def middle(key: str) -> Any:
    return (yield innermost.asynq(key))


@asynq_fn()
def outer(key: str) -> Any:
    return (yield middle.asynq(key))


def test_dump_error_writes_the_traceback_through_every_task_to_debug_stderr() -> None:
    buffer = io.StringIO()
    try:
        outer("missing")
    except LookupError as error:
        with patch("asynq.debug.stderr", buffer):
            asynq.debug.dump_error(error)
        formatted = asynq.debug.format_error(error)
    text = buffer.getvalue()
    assert text == "\n" + str(formatted)
    assert text.startswith("\nTraceback (most recent call last):")
    assert text.rstrip().endswith("LookupError: no missing: None")
    positions = [text.index(f"in {name}") for name in ("outer", "middle", "innermost")]
    assert positions == sorted(positions)
    assert asynq.debug.format_error(None) is None


def test_dump_asynq_stack_shows_how_the_task_was_reached() -> None:
    buffer = io.StringIO()
    captured: dict[str, Any] = {}

    @asynq_fn()
    def deep() -> Any:
        asynq.debug.dump_asynq_stack()
        captured["lines"] = asynq.debug.format_asynq_stack()
        return 1
        yield

    @asynq_fn()
    def shallow() -> Any:
        return (yield deep.asynq())

    with patch("asynq.debug.stdout", buffer):
        assert shallow() == 1
    text = buffer.getvalue()
    assert text.index("in shallow") < text.index("in deep")
    assert "asynq.debug.dump_asynq_stack()" in text
    lines = "".join(captured["lines"])
    assert lines.index("in shallow") < lines.index("in deep")
    assert "yield deep.asynq()" in lines
    assert asynq.debug.format_asynq_stack() is None


def test_dump_options_write_what_the_scheduler_does_to_debug_stdout() -> None:
    app.seed_answers(1)
    buffer = io.StringIO()
    asynq.debug.options.DUMP_FLUSH_BATCH = True
    with patch("asynq.debug.stdout", buffer):
        app.all_author_names([0])
    asynq.debug.options.DUMP_FLUSH_BATCH = False
    assert buffer.getvalue().count("flush") == 2
    assert "MemcacheBatch" in buffer.getvalue()
    buffer.truncate(0)
    with patch("asynq.debug.stdout", buffer):
        app.all_author_names([0])
    assert buffer.getvalue() == ""


def test_dump_all_sets_every_dump_flag() -> None:
    options = asynq.debug.options
    options.DUMP_ALL = True
    assert all(getattr(options, name) for name in asynq._debug.DUMP_FLAGS)
    assert options.DUMP_ALL
    options.DUMP_ALL = False
    assert not any(getattr(options, name) for name in asynq._debug.DUMP_FLAGS)


def test_dump_all_called_as_1x_code_calls_it() -> None:
    """1.6's ``DUMP_ALL`` is a method of the options and a function of the module
    (setting ``options.DUMP_ALL`` fails there: it is read-only)."""
    buffer = io.StringIO()
    asynq.debug.DUMP_ALL(True)
    assert asynq.debug.options.DUMP_ALL() is True
    with patch("asynq.debug.stdout", buffer):
        app.all_author_names([0])
    assert "flush" in buffer.getvalue()
    asynq.debug.options.DUMP_ALL(False)
    assert asynq.debug.DUMP_ALL() is False
    assert not asynq.debug.options.DUMP_FLUSH_BATCH


def test_the_attached_exception_hook_is_async_exception_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    asynq.debug.attach_exception_hook()
    assert sys.excepthook is asynq.debug.async_exception_hook
    asynq.debug.detach_exception_hook()
    assert sys.excepthook is sys.__excepthook__


def test_debug_sync_is_a_debug_batch_item() -> None:
    item = asynq.debug.sync()
    assert isinstance(item, DebugBatchItem)
    log: list[str] = []

    @asynq_fn()
    def first() -> Any:
        log.append("first: before sync")
        yield asynq.debug.sync()
        log.append("first: after sync")

    @asynq_fn()
    def second() -> Any:
        log.append("second")
        return None
        yield

    @asynq_fn()
    def both() -> Any:
        yield first.asynq(), second.asynq()

    both()
    assert log == ["first: before sync", "second", "first: after sync"]


def test_asynq_stack_formatter_formats_logged_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(asynq.debug.AsynqStackTracebackFormatter("%(message)s"))
    logger = logging.getLogger("compat.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            outer("k")
        except LookupError:
            logger.exception("lookup failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith("lookup failed\nTraceback (most recent call last):")
    assert "in innermost" in text and "LookupError: no k: None" in text


def test_debug_str_and_repr_never_raise_and_truncate() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        __str__ = __repr__

    assert "Unprintable" in asynq.debug.repr(Unprintable())
    assert "Unprintable" in asynq.debug.str(Unprintable())
    asynq.debug.options.DEBUG_STR_REPR_MAX_LENGTH = 10
    assert len(asynq.debug.repr("x" * 100)) <= 10
    assert len(asynq.debug.repr("x" * 100, truncate=False)) == 102


def test_profiler_collects_one_entry_per_task_and_per_flush() -> None:
    app.seed_answers(2)
    asynq.debug.options.COLLECT_PERF_STATS = True
    app.all_author_names([0, 1])
    asynq.debug.options.COLLECT_PERF_STATS = False
    stats = asynq.profiler.flush()
    names = [entry["name"] for entry in stats]
    # 1 all_author_names, 2 author_of_answer, 2 name_of_user, 4 mc_get, 2 batches
    assert len(stats) == 11
    assert sum("MemcacheBatch" in name for name in names) == 2
    assert sum("author_of_answer" in name for name in names) == 2
    for entry in stats:
        assert entry["time_taken"] >= 0
        assert isinstance(entry["dependencies"], list)
    (root,) = [entry for entry in stats if ".all_author_names(" in entry["name"]]
    assert sum("author_of_answer" in dep for dep, _ in root["dependencies"]) == 2
    assert asynq.profiler.flush() == []  # flush empties this thread's list


def test_profiler_state_is_per_thread() -> None:
    app.seed_answers(3)
    asynq.debug.options.COLLECT_PERF_STATS = True
    in_thread: dict[str, Any] = {}
    ready = threading.Event()

    def worker() -> None:
        asynq.profiler.reset()
        in_thread["names"] = app.all_author_names([2])
        in_thread["stats"] = asynq.profiler.flush()
        in_thread["counter"] = [asynq.profiler.incr_counter() for _ in range(2)]
        ready.set()

    app.all_author_names([0, 1])
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    asynq.debug.options.COLLECT_PERF_STATS = False
    assert ready.is_set()
    assert in_thread["names"] == ["user2"]
    assert len(in_thread["stats"]) == 7  # its own tasks and batches only
    assert len(asynq.profiler.flush()) == 11  # this thread's, untouched by the worker
    assert in_thread["counter"] == [1, 2]
    assert asynq.profiler.incr_counter() == 1


def test_without_the_option_nothing_is_collected() -> None:
    app.seed_answers(1)
    app.all_author_names([0])
    assert asynq.profiler.flush() == []
