"""Debugging aids: asynq stacks, error formatting, the exception hook.

As in asynq 1.x, trace output (``write``: the ``DUMP_*`` options, ``dump()``
of futures and the scheduler, the asynq stack) goes to the module attribute
``stdout``, and errors (``dump_error``, the exception hook) to ``stderr``;
both are looked up at each call, so ``mock.patch("asynq.debug.stdout", buf)``
captures them. ``options`` is the very object of ``asynq_core._debug``.

An error raised in a task already carries one traceback running through
every task it passed (the scheduler throws it into each waiting generator);
``format_error`` prints it, optionally without the library's own frames
(``enable_filter_traceback``) and with syntax highlighting (pygments, an
optional extra).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any, overload

from . import _debug
from ._debug import options
from .scheduler import get_active_task
from .text import short_repr

__all__ = [
    "options",
    "DUMP_ALL",
    "stdout",
    "stderr",
    "write",
    "str",
    "repr",
    "dump_asynq_stack",
    "format_asynq_stack",
    "dump_error",
    "format_error",
    "dump_stack",
    "extract_tb",
    "format_tb",
    "filter_traceback",
    "AsynqStackTracebackFormatter",
    "async_exception_hook",
    "attach_exception_hook",
    "detach_exception_hook",
    "enable_original_exc_handler",
    "enable_filter_traceback",
    "enable_traceback_syntax_highlight",
    "enable_complex_assertions",
    "disable_complex_assertions",
]

stdout = sys.stdout
stderr = sys.stderr

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_use_original_exc_handler = False
_should_filter_traceback = True
_use_syntax_highlighting = False
_original_hook: Callable[..., Any] | None = None


@overload
def DUMP_ALL(value: None = None) -> bool: ...
@overload
def DUMP_ALL(value: bool) -> None: ...
def DUMP_ALL(value: bool | None = None) -> bool | None:
    """asynq 1.x's ``DUMP_ALL``: ``DUMP_ALL(True)`` sets every ``DUMP_*`` option,
    ``DUMP_ALL(False)`` clears them, ``DUMP_ALL()`` tells whether all are set."""
    return options.DUMP_ALL(value)


def write(text: builtins.str, indent: int = 0) -> None:
    """Writes ``text`` and a newline to ``stdout``, each line after a newline
    indented by ``indent`` levels of two spaces (the first one too, unless
    ``text`` starts with a newline), as asynq 1.x does."""
    text = builtins.str(text)
    if indent > 0:
        prefix = "  " * indent
        text = text.replace("\n", "\n" + prefix)
        if not text.startswith("\n"):
            text = prefix + text
    stdout.write(text + "\n")


def str(source: Any, truncate: bool = True) -> builtins.str:
    """``str(source)`` that never raises, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH``."""
    return short_repr(source, builtins.str, truncate)


def repr(source: Any, truncate: bool = True) -> builtins.str:
    """``repr(source)`` that never raises, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH``."""
    return short_repr(source, builtins.repr, truncate)


def format_asynq_stack() -> list[builtins.str] | None:
    """The asynq stack of the active task (how it was reached), or None outside tasks."""
    task = get_active_task()
    if task is None:
        return None
    lines: list[builtins.str] = task.traceback()
    limit = options.STACK_DUMP_LIMIT
    if limit and len(lines) > limit:
        lines = [f"  ... {len(lines) - limit} more\n", *lines[-limit:]]
    return lines


def dump_asynq_stack() -> None:
    """Writes the asynq stack of the active task to ``stdout``."""
    lines = format_asynq_stack()
    if lines is None:
        write("asynq stack: no task is running")
        return
    write("asynq stack (most recent task last):")
    stdout.write("".join(lines))


def dump_stack(skip: int = 0, limit: int | None = None) -> None:
    """Prints the Python stack of the caller (``skip`` more frames up, at most
    ``limit`` frames, default ``options.STACK_DUMP_LIMIT``) to ``sys.stdout``,
    between two rulers, as asynq 1.x does."""
    if limit is None:
        limit = options.STACK_DUMP_LIMIT or None
    frame = sys._getframe(skip + 1)  # pyright: ignore[reportPrivateUsage]  # CPython's, documented
    out = sys.stdout
    out.write(f"--- Stack trace: {'-' * 53}\n")
    try:
        out.write("".join(traceback.format_stack(frame, limit)))
    finally:
        out.write("-" * 70 + "\n")
        out.flush()


def extract_tb(tb: TracebackType | None, limit: int | None = None) -> traceback.StackSummary:
    """Like ``traceback.extract_tb``; filtered when filtering is enabled."""
    entries = traceback.extract_tb(tb, limit)
    if _should_filter_traceback:
        return traceback.StackSummary.from_list(filter_traceback(entries))
    return entries


def format_tb(tb: TracebackType | None) -> list[builtins.str]:
    """Like ``traceback.format_tb``, using ``extract_tb`` above."""
    return traceback.format_list(extract_tb(tb))


def filter_traceback(tb_list: Sequence[Any]) -> list[Any]:
    """Drops asynq's own machinery from a traceback.

    Given frame entries (``FrameSummary`` objects or ``(filename, lineno,
    name, line)`` tuples, as ``extract_tb`` makes), drops those of this
    package's modules. Given the lines of a formatted traceback (strings, as
    asynq 1.x takes), replaces each run of lines that is one of 1.x's known
    boilerplate sequences with a one-line marker (``___asynq_continue___``,
    ...) and drops the frames of this package's modules with their source
    lines; a partial run is left as it is.
    """
    if not tb_list or not isinstance(tb_list[0], builtins.str):
        return [entry for entry in tb_list if not _is_own_file(_filename_of(entry))]
    lines: list[builtins.str] = list(tb_list)
    kept: list[builtins.str] = []
    i = 0
    while i < len(lines):
        for markers, replacement in _BOILERPLATE:
            end = i + len(markers)
            if end <= len(lines) and all(
                marker in line for marker, line in zip(markers, lines[i:end], strict=True)
            ):
                kept.append(f"  {replacement}\n")
                i = end
                break
        else:
            line = lines[i]
            i += 1
            stripped = line.lstrip()
            if stripped.startswith('File "') and _is_own_file(stripped[6:].split('"', 1)[0]):
                # ... with the source line printed under it, if any.
                if i < len(lines) and not lines[i].lstrip().startswith('File "'):
                    i += 1
                continue
            kept.append(line)
    return kept


def _filename_of(entry: Any) -> builtins.str:
    return entry.filename if hasattr(entry, "filename") else entry[0]


def _is_own_file(filename: builtins.str) -> bool:
    return os.path.dirname(os.path.abspath(filename)) == _PACKAGE_DIR


# Runs of traceback lines that asynq 1.x's compiled machinery printed, each
# shown as one marker line: (what each line of the run contains, the marker).
_BOILERPLATE: tuple[tuple[tuple[builtins.str, ...], builtins.str], ...] = (
    (
        (
            "asynq.async_task.AsyncTask._continue",
            "asynq.async_task.AsyncTask._continue_on_generator",
            "asynq.async_task.AsyncTask._continue_on_generator",
        ),
        "___asynq_continue___",
    ),
    (
        (
            "asynq.decorators.AsyncDecorator.__call__",
            "asynq.futures.FutureBase.value",
            "asynq.futures.FutureBase.value",
            "asynq.futures.FutureBase.raise_if_error",
            "reraise",
            "six.reraise",
            "reraise",
            "value",
        ),
        "___asynq_future_raise_if_error___",
    ),
    (
        (
            "asynq.decorators.AsyncDecorator.asynq",
            "asynq.decorators.AsyncProxyDecorator._call_pure",
            "asynq.decorators.AsyncProxyDecorator._call_pure",
            "asynq.decorators.AsyncProxyDecorator._call_pure",
            "asynq.decorators.async_call",
        ),
        "___asynq_call_pure___",
    ),
)


def format_error(
    error: BaseException | None, tb: TracebackType | None = None
) -> builtins.str | None:
    """The error as text: with its traceback (through every task it passed) and
    the errors chained to it when it has one (``tb``, else the 1.x attribute
    ``_traceback``, else ``error.__traceback__``), else the error alone;
    highlighted, then filtered (``filter_traceback``), when those are enabled."""
    if error is None:
        return None
    if tb is None:
        tb = getattr(error, "_traceback", None) or error.__traceback__
    if tb is None:
        lines = traceback.format_exception_only(type(error), error)
    else:
        lines = traceback.format_exception(type(error), error, tb)
    text = "".join(lines)
    if _use_syntax_highlighting:
        text = _highlight(text)
    if _should_filter_traceback:
        text = "".join(filter_traceback(text.splitlines(True)))
    return text


def _highlight(text: builtins.str) -> builtins.str:
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter

        # pygments.lexers finds its lexers at run time: unknown to checkers.
        from pygments.lexers import PythonTracebackLexer  # pyright: ignore[reportUnknownVariableType]
    except ImportError:
        return text
    return builtins.str(highlight(text, PythonTracebackLexer(), TerminalFormatter()))  # pyright: ignore[reportUnknownArgumentType]


def dump_error(error: BaseException | None, tb: TracebackType | None = None) -> None:
    """Writes a newline and ``format_error(error, tb=tb)`` (or "No error") to ``stderr``."""
    try:
        stderr.write("\n" + (format_error(error, tb=tb) or "No error"))
    finally:
        stdout.flush()
        stderr.flush()


class AsynqStackTracebackFormatter(logging.Formatter):
    """A logging formatter that prints exceptions with ``format_error``."""

    def formatException(self, ei: Any) -> builtins.str:
        _, error, tb = ei
        text = format_error(error, tb=tb)
        return (text or "").rstrip("\n")


def async_exception_hook(
    type_: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """The hook ``attach_exception_hook`` puts in ``sys.excepthook``: prints an
    uncaught error with ``dump_error`` (or hands it to the previous hook, see
    ``enable_original_exc_handler``)."""
    if _use_original_exc_handler and _original_hook is not None:
        _original_hook(type_, error, tb)
        return
    dump_error(error, tb=tb)


def attach_exception_hook() -> None:
    """Makes ``sys.excepthook`` print uncaught errors with ``format_error``."""
    global _original_hook
    if sys.excepthook is async_exception_hook:
        return
    _original_hook = sys.excepthook
    sys.excepthook = async_exception_hook


def detach_exception_hook() -> None:
    """Restores the exception hook that was there before ``attach_exception_hook``."""
    global _original_hook
    if sys.excepthook is async_exception_hook and _original_hook is not None:
        sys.excepthook = _original_hook
    _original_hook = None


def enable_original_exc_handler(enable: bool) -> None:
    """With True, the attached hook delegates to the previous ``sys.excepthook``."""
    global _use_original_exc_handler
    _use_original_exc_handler = enable


def enable_filter_traceback(enable: bool) -> None:
    """With True (the default), formatted tracebacks omit asynq's own frames."""
    global _should_filter_traceback
    _should_filter_traceback = enable


def enable_traceback_syntax_highlight(enable: bool) -> None:
    """With True, formatted errors are highlighted (needs pygments)."""
    global _use_syntax_highlighting
    _use_syntax_highlighting = enable


@contextlib.contextmanager
def enable_complex_assertions(enable: bool = True) -> Generator[None, None, None]:
    """A context manager: inside it ``options.ENABLE_COMPLEX_ASSERTIONS`` is
    ``enable``; the previous setting is restored on exit (as in asynq 1.x,
    calling it without ``with`` changes nothing)."""
    previous = options.ENABLE_COMPLEX_ASSERTIONS
    options.ENABLE_COMPLEX_ASSERTIONS = enable
    try:
        yield
    finally:
        options.ENABLE_COMPLEX_ASSERTIONS = previous


def disable_complex_assertions() -> contextlib.AbstractContextManager[None]:
    """``enable_complex_assertions(False)``: a context manager."""
    return enable_complex_assertions(False)


def sync(tag: builtins.str = "default") -> Any:
    """asynq 1.x's ``debug.sync()``: a batch item whose flush lets every other
    task run first. asynq-batching provides it (``lowlevel.provide_debug_sync``)
    when it is imported; without it there is no batch to make one of."""
    raise RuntimeError(
        "asynq_core.debug.sync() needs asynq-batching: import asynq_batching "
        "(or the asynq umbrella), which provides it"
    )


def _dump_error_of_a_task(error: BaseException) -> None:
    dump_error(error)


# The low layers' output (see _debug.Output) goes where this module's goes.
_debug.output.plug(write, _dump_error_of_a_task)
