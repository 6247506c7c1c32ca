"""Debugging aids: options, asynq stacks, error formatting, the exception hook, the profiler."""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
import traceback
from typing import Any

import pytest

from asynq_core import _debug, asynq, debug, profiler


@asynq()
def failing_leaf() -> Any:
    yield None
    raise ValueError("leaf failed")


@asynq()
def failing_middle() -> Any:
    yield failing_leaf.asynq()


@asynq()
def failing_root() -> Any:
    yield failing_middle.asynq()


def raised_error() -> ValueError:
    try:
        failing_root()
    except ValueError as error:
        return error
    raise AssertionError("failing_root() did not fail")


# -- options --------------------------------------------------------------------


def test_debug_options_are_the_options_of_the_scheduler() -> None:
    assert debug.options is _debug.options
    debug.options.KEEP_DEPENDENCIES = True
    assert _debug.options.KEEP_DEPENDENCIES is True


def test_dump_all_sets_every_dump_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    options = debug.options
    assert not options.DUMP_ALL
    options.DUMP_ALL = True
    assert options.DUMP_ALL
    assert all(getattr(options, name) for name in _debug.DUMP_FLAGS)
    assert options.DUMP_COMPUTED and options.DUMP_FLUSH_BATCH
    options.DUMP_EXCEPTIONS = False
    assert not options.DUMP_ALL
    options.DUMP_ALL = False
    assert not any(getattr(options, name) for name in _debug.DUMP_FLAGS)
    assert not options.tracing  # the scheduler is back to its lean loop


def test_dump_all_is_also_asynq_1x_method_and_function() -> None:
    """1.x calls it: ``options.DUMP_ALL(True)``, ``options.DUMP_ALL()``, and the
    module's ``debug.DUMP_ALL(value)``; read as a flag it is a bool's equal."""
    options = debug.options
    assert options.DUMP_ALL() is False and debug.DUMP_ALL() is False
    assert options.DUMP_ALL == False  # noqa: E712  (compared as code compares a flag)
    assert options.DUMP_ALL(True) is None
    assert all(getattr(options, name) for name in _debug.DUMP_FLAGS)
    assert options.tracing  # the scheduler chooses its traced loop
    assert options.DUMP_ALL() is True and debug.DUMP_ALL() is True
    assert options.DUMP_ALL == True and repr(options.DUMP_ALL) == "True"  # noqa: E712
    debug.DUMP_ALL(False)
    assert not any(getattr(options, name) for name in _debug.DUMP_FLAGS)
    assert not options.tracing
    debug.DUMP_ALL(True)
    assert options.DUMP_ALL
    options.DUMP_ALL(False)
    assert not options.DUMP_ALL


def test_dump_flags_make_the_scheduler_report_what_it_does(make_batch, debug_output) -> None:
    batch = make_batch("dumped")

    @asynq()
    def child() -> Any:
        return (yield batch.item(2))

    @asynq()
    def parent() -> Any:
        value = yield child.asynq()
        return value * 10

    debug.options.DUMP_ALL = True
    assert parent() == 20
    text = debug_output.getvalue()
    assert "asynq: continue" in text
    assert "asynq: computed" in text and "parent()" in text and "child()" in text
    assert "asynq: flush <TinyBatch dumped>" in text
    assert "waits for" in text


def test_dump_exceptions_writes_the_error_of_a_failing_task(debug_output) -> None:
    debug.options.DUMP_EXCEPTIONS = True
    with pytest.raises(ValueError):
        failing_root()
    text = debug_output.getvalue()
    assert "ValueError: leaf failed" in text
    assert "failing_leaf" in text


def test_complex_assertions_are_switched_for_a_with_block() -> None:
    assert debug.options.ENABLE_COMPLEX_ASSERTIONS is True
    with debug.disable_complex_assertions():
        assert debug.options.ENABLE_COMPLEX_ASSERTIONS is False
        with debug.enable_complex_assertions():
            assert debug.options.ENABLE_COMPLEX_ASSERTIONS is True
        assert debug.options.ENABLE_COMPLEX_ASSERTIONS is False
    assert debug.options.ENABLE_COMPLEX_ASSERTIONS is True
    with pytest.raises(KeyError), debug.enable_complex_assertions(False):
        raise KeyError("the setting is restored on an error too")
    assert debug.options.ENABLE_COMPLEX_ASSERTIONS is True
    # As in asynq 1.x, a call without ``with`` changes nothing.
    debug.disable_complex_assertions()
    assert debug.options.ENABLE_COMPLEX_ASSERTIONS is True


# -- formatting errors ------------------------------------------------------------


def test_format_error_shows_the_traceback_through_every_task() -> None:
    text = debug.format_error(raised_error())
    assert text is not None
    assert text.startswith("Traceback (most recent call last):\n")
    assert text.rstrip().endswith("ValueError: leaf failed")
    positions = [text.index(f"in {name}\n") for name in ("failing_root", "failing_middle")]
    positions.append(text.index("in failing_leaf\n"))
    assert positions == sorted(positions)
    assert 'raise ValueError("leaf failed")' in text


def test_format_error_filters_asynq_frames_unless_disabled() -> None:
    error = raised_error()
    filtered = debug.format_error(error)
    assert filtered is not None
    assert "asynq_core" not in filtered
    debug.enable_filter_traceback(False)
    unfiltered = debug.format_error(error)
    assert unfiltered is not None
    assert "asynq_core" in unfiltered
    assert "failing_leaf" in unfiltered


def test_format_error_with_an_explicit_traceback_and_none() -> None:
    assert debug.format_error(None) is None
    try:
        raise KeyError("explicit")
    except KeyError as error:
        tb = error.__traceback__
    text = debug.format_error(KeyError("other"), tb)
    assert text is not None
    assert "test_format_error_with_an_explicit_traceback_and_none" in text
    assert "KeyError: 'other'" in text


def test_dump_error_writes_to_the_patched_module_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    errors, trace = io.StringIO(), io.StringIO()
    monkeypatch.setattr(debug, "stderr", errors)
    monkeypatch.setattr(debug, "stdout", trace)
    error = raised_error()
    debug.dump_error(error)
    assert errors.getvalue() == "\n" + str(debug.format_error(error))
    debug.dump_error(None)
    assert errors.getvalue().endswith("\nNo error")
    assert trace.getvalue() == ""


def test_syntax_highlighting_colors_formatted_errors() -> None:
    pytest.importorskip("pygments")
    error = raised_error()
    plain = debug.format_error(error)
    debug.enable_traceback_syntax_highlight(True)
    colored = debug.format_error(error)
    assert plain is not None and colored is not None
    assert "\x1b[" not in plain
    assert "\x1b[" in colored
    assert "leaf failed" in colored


def test_filter_traceback_drops_only_asynq_frames() -> None:
    error = raised_error()
    entries = traceback.extract_tb(error.__traceback__)
    kept = debug.filter_traceback(entries)
    assert kept
    assert all("asynq_core" not in entry.filename for entry in kept)
    assert len(kept) < len(entries)
    assert [entry.name for entry in kept] == [
        entry.name for entry in entries if "asynq_core" not in entry.filename
    ]
    as_tuples = [(e.filename, e.lineno, e.name, e.line) for e in entries]
    assert len(debug.filter_traceback(as_tuples)) == len(kept)


def test_extract_tb_and_format_tb() -> None:
    error = raised_error()
    names = [entry.name for entry in debug.extract_tb(error.__traceback__)]
    assert names == ["raised_error", "failing_root", "failing_middle", "failing_leaf"]
    lines = debug.format_tb(error.__traceback__)
    assert len(lines) == len(names)
    assert "failing_leaf" in lines[-1]
    debug.enable_filter_traceback(False)
    assert len(debug.extract_tb(error.__traceback__)) > len(names)


def test_asynq_stack_traceback_formatter_formats_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(debug.AsynqStackTracebackFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("asynq_core.tests.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            failing_root()
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith("ERROR it failed\nTraceback (most recent call last):")
    assert "failing_middle" in text
    assert "ValueError: leaf failed" in text
    assert "asynq_core" not in text


# -- the exception hook -----------------------------------------------------------


def test_exception_hook_attach_and_detach(monkeypatch: pytest.MonkeyPatch, debug_output) -> None:
    seen = []

    def previous_hook(*args: Any) -> None:
        seen.append(args)

    monkeypatch.setattr(sys, "excepthook", previous_hook)
    debug.attach_exception_hook()
    hook = sys.excepthook
    assert hook is debug.async_exception_hook  # asynq 1.x's name for it
    debug.attach_exception_hook()  # attaching twice keeps one hook
    assert sys.excepthook is hook

    error = raised_error()
    sys.excepthook(type(error), error, error.__traceback__)
    assert debug_output.getvalue() == "\n" + str(debug.format_error(error))
    assert seen == []

    debug.enable_original_exc_handler(True)
    sys.excepthook(type(error), error, error.__traceback__)
    assert seen == [(type(error), error, error.__traceback__)]

    debug.detach_exception_hook()
    assert sys.excepthook is previous_hook


# -- asynq stacks ------------------------------------------------------------------


def test_format_asynq_stack_is_none_outside_tasks() -> None:
    assert debug.format_asynq_stack() is None


def test_format_asynq_stack_shows_how_the_task_was_reached() -> None:
    stacks = []

    @asynq()
    def deepest() -> Any:
        stacks.append(debug.format_asynq_stack())
        yield None

    @asynq()
    def via() -> Any:
        yield deepest.asynq()

    @asynq()
    def start() -> Any:
        yield via.asynq()

    start()
    (lines,) = stacks
    assert lines is not None
    assert len(lines) == 3
    assert "in start" in lines[0]
    assert "in via" in lines[1]
    assert "in deepest" in lines[2]
    assert all(line.startswith('  File "') and line.endswith("\n") for line in lines)


def test_format_asynq_stack_is_cut_to_the_stack_dump_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(debug.options, "STACK_DUMP_LIMIT", 3)
    stacks = []

    @asynq()
    def nested(n: int) -> Any:
        if n == 0:
            stacks.append(debug.format_asynq_stack())
            return
        yield nested.asynq(n - 1)

    nested(6)
    (lines,) = stacks
    assert lines is not None
    assert lines[0] == "  ... 4 more\n"
    assert len(lines) == 4


def test_dump_asynq_stack_writes_the_stack(debug_output) -> None:
    debug.dump_asynq_stack()
    assert "no task is running" in debug_output.getvalue()

    @asynq()
    def inner_dumper() -> Any:
        debug.dump_asynq_stack()
        yield None

    @asynq()
    def outer_dumper() -> Any:
        yield inner_dumper.asynq()

    debug_output.truncate(0)
    debug_output.seek(0)
    outer_dumper()
    text = debug_output.getvalue()
    assert "asynq stack" in text
    assert text.index("outer_dumper") < text.index("inner_dumper")


def test_dump_stack_prints_the_python_stack(capsys: pytest.CaptureFixture[str]) -> None:
    def helper() -> None:
        debug.dump_stack(limit=50)

    helper()
    text = capsys.readouterr().out
    assert text.startswith("--- Stack trace: ")
    assert "test_dump_stack_prints_the_python_stack" in text
    # The caller's frame is the last one: dump_stack's own frame is not shown.
    last_frame = [line for line in text.splitlines() if line.startswith("  File")][-1]
    assert last_frame.endswith("in helper")


def test_write_indents_every_line_by_two_spaces_a_level(debug_output) -> None:
    debug.write("one\ntwo", indent=2)
    debug.write("three")
    debug.write("\nfour", indent=1)
    assert debug_output.getvalue() == "    one\n    two\nthree\n\n  four\n"


def test_debug_str_and_repr_never_raise_and_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError

        __repr__ = __str__

    assert "unprintable Broken" in debug.str(Broken())
    assert "unprintable Broken" in debug.repr(Broken())
    monkeypatch.setattr(debug.options, "DEBUG_STR_REPR_MAX_LENGTH", 10)
    assert debug.str("a" * 50) == "a" * 7 + "..."
    assert debug.repr("a" * 50) == "'" + "a" * 6 + "..."
    assert debug.str("a" * 50, truncate=False) == "a" * 50


# -- the profiler --------------------------------------------------------------------


def test_profiler_collects_an_entry_per_task_and_flushed_group(make_batch) -> None:
    batch = make_batch("profiled")

    @asynq()
    def fetch(key: int) -> Any:
        return (yield batch.item(key))

    @asynq()
    def profiled_root() -> Any:
        return (yield [fetch.asynq(1), fetch.asynq(2)])

    debug.options.COLLECT_PERF_STATS = True
    assert profiled_root() == [1, 2]
    entries = profiler.flush()
    # Named as asynq 1.x names them: a number, the function, its arguments.
    fetches = [e for e in entries if re.fullmatch(r"\d{6}\..*\.fetch\(\(\d,\) \{\}\)", e["name"])]
    assert sorted(entry["name"].rsplit(".fetch", 1)[1] for entry in fetches) == [
        "((1,) {})",
        "((2,) {})",
    ]
    (root_entry,) = [entry for entry in entries if ".profiled_root(() {})" in entry["name"]]
    (group_entry,) = [entry for entry in entries if "TinyBatch" in entry["name"]]
    assert len(entries) == 4
    assert group_entry["batch_size"] == 2
    assert len(group_entry["dependencies"]) == 2  # its items
    assert all(entry["time_taken"] >= 0 for entry in entries)
    assert root_entry["num_deps"] == 2
    assert [name for name, _ in root_entry["dependencies"]] == [e["name"] for e in fetches]
    assert all(len(entry["dependencies"]) == 1 for entry in fetches)
    assert profiler.flush() == []


def test_profiler_collects_nothing_when_the_option_is_off() -> None:
    failing_root.asynq().error()
    assert profiler.flush() == []


def test_profiler_entries_are_per_thread() -> None:
    @asynq()
    def in_thread() -> Any:
        yield None
        return "t"

    @asynq()
    def in_main() -> Any:
        yield None
        return "m"

    debug.options.COLLECT_PERF_STATS = True
    from_thread: list[Any] = []

    def run() -> None:
        in_thread()
        from_thread.extend(profiler.flush())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    in_main()
    mine = profiler.flush()
    assert [entry["name"].rsplit(".", 1)[-1] for entry in from_thread] == ["in_thread(() {})"]
    assert [entry["name"].rsplit(".", 1)[-1] for entry in mine] == ["in_main(() {})"]


def test_profiler_append_reset_and_counter() -> None:
    profiler.append({"name": "manual"})
    assert profiler.incr_counter() == 1
    assert profiler.incr_counter() == 2
    assert profiler.flush() == [{"name": "manual"}]
    profiler.append({"name": "dropped"})
    profiler.reset()
    assert profiler.flush() == []
    assert profiler.incr_counter() == 1


def test_deleting_a_flag_set_on_the_options_turns_the_traced_loop_off_again() -> None:
    from asynq_core import _debug

    _debug.options.DUMP_COMPUTED = True
    assert _debug.options.tracing
    del _debug.options.DUMP_COMPUTED
    assert not _debug.options.tracing


def test_flags_the_loop_does_not_read_keep_the_lean_loop() -> None:
    from asynq_core import _debug

    _debug.options.DUMP_SCHEDULE_TASK = True  # accepted for 1.x code, prints nothing
    _debug.options.KEEP_DEPENDENCIES = True
    assert not _debug.options.tracing
    _debug.options.DUMP_COMPUTED = True
    assert _debug.options.tracing


def test_filter_traceback_folds_1x_boilerplate_lines_into_markers() -> None:
    lines = [
        "Traceback (most recent call last):\n",
        '  File "asynq/async_task.py", line 1, in asynq.async_task.AsyncTask._continue\n',
        '  File "asynq/async_task.py", line 2, in '
        "asynq.async_task.AsyncTask._continue_on_generator\n",
        '  File "asynq/async_task.py", line 3, in '
        "asynq.async_task.AsyncTask._continue_on_generator\n",
        '  File "app.py", line 9, in handler\n',
        "    fetch()\n",
        "KeyError: 'x'\n",
    ]
    assert debug.filter_traceback(lines) == [
        "Traceback (most recent call last):\n",
        "  ___asynq_continue___\n",
        '  File "app.py", line 9, in handler\n',
        "    fetch()\n",
        "KeyError: 'x'\n",
    ]
    # An incomplete run is kept as it is.
    assert debug.filter_traceback(lines[1:3]) == lines[1:3]


def test_filter_traceback_drops_the_library_frames_of_formatted_lines() -> None:
    own = debug.__file__
    lines = [
        f'  File "{own}", line 1, in helper\n',
        "    internal()\n",
        '  File "app.py", line 2, in caller\n',
        "    call()\n",
    ]
    assert debug.filter_traceback(lines) == lines[2:]


def test_format_error_of_an_error_never_raised_is_its_last_line_only() -> None:
    assert debug.format_error(RuntimeError("never raised")) == "RuntimeError: never raised\n"
