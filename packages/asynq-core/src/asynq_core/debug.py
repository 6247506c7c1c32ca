"""Debugging aids: asynq stacks, error formatting, the exception hook.

Everything here writes to the module attribute ``stderr`` (looked up at each
call, so ``mock.patch("asynq.debug.stderr", buf)`` captures it) and reads the
shared ``options`` (the very object of ``asynq_core._debug``).

An error raised in a task already carries one traceback running through
every task it passed (the scheduler throws it into each waiting generator);
``format_error`` prints it, optionally without the library's own frames
(``enable_filter_traceback``) and with syntax highlighting (pygments, an
optional extra).
"""

from __future__ import annotations

import builtins
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from ._debug import options
from .futures import _short_repr
from .scheduler import get_active_task

__all__ = [
    "options",
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
    "attach_exception_hook",
    "detach_exception_hook",
    "enable_original_exc_handler",
    "enable_filter_traceback",
    "enable_traceback_syntax_highlight",
    "enable_complex_assertions",
    "disable_complex_assertions",
]

stderr = sys.stderr

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_use_original_exc_handler = False
_should_filter_traceback = True
_use_syntax_highlighting = False
_original_hook: Callable[..., Any] | None = None


def write(text: builtins.str, indent: int = 0) -> None:
    """Writes ``text`` (each of its lines indented) to ``stderr``."""
    prefix = " " * indent
    out = "".join(prefix + line + "\n" for line in builtins.str(text).splitlines() or [""])
    stderr.write(out)


def str(source: Any, truncate: bool = True) -> builtins.str:
    """``str(source)`` that never raises, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH``."""
    return _short_repr(source, builtins.str, truncate)


def repr(source: Any, truncate: bool = True) -> builtins.str:
    """``repr(source)`` that never raises, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH``."""
    return _short_repr(source, builtins.repr, truncate)


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
    """Writes the asynq stack of the active task to ``stderr``."""
    lines = format_asynq_stack()
    if lines is None:
        write("asynq stack: no task is running")
        return
    write("asynq stack (most recent task last):")
    stderr.write("".join(lines))


def dump_stack(skip: int = 0, limit: int | None = None) -> None:
    """Writes the Python stack of the caller to ``stderr``."""
    frame = sys._getframe(skip + 1)
    stderr.write("".join(traceback.format_stack(frame, limit)))


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
    """Drops the frames of asynq's own machinery (scheduler, decorators, futures)."""
    kept = []
    for entry in tb_list:
        filename = entry.filename if hasattr(entry, "filename") else entry[0]
        if os.path.dirname(os.path.abspath(filename)) != _PACKAGE_DIR:
            kept.append(entry)
    return kept


def format_error(
    error: BaseException | None, tb: TracebackType | None = None
) -> builtins.str | None:
    """The error and its traceback (through every task it passed) as text."""
    if error is None:
        return None
    if tb is None:
        tb = error.__traceback__
    text = "".join(
        [
            "Traceback (most recent call last):\n",
            *format_tb(tb),
            *traceback.format_exception_only(type(error), error),
        ]
    )
    if _use_syntax_highlighting:
        text = _highlight(text)
    return text


def _highlight(text: builtins.str) -> builtins.str:
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonTracebackLexer
    except ImportError:
        return text
    return builtins.str(highlight(text, PythonTracebackLexer(), TerminalFormatter()))


def dump_error(error: BaseException | None, tb: TracebackType | None = None) -> None:
    """Writes ``format_error(error, tb)`` to ``stderr``."""
    text = format_error(error, tb)
    if text is not None:
        stderr.write(text)


class AsynqStackTracebackFormatter(logging.Formatter):
    """A logging formatter that prints exceptions with ``format_error``."""

    def formatException(self, ei: Any) -> builtins.str:
        _, error, tb = ei
        text = format_error(error, tb)
        return (text or "").rstrip("\n")


def _asynq_exception_hook(
    type_: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    if _use_original_exc_handler and _original_hook is not None:
        _original_hook(type_, error, tb)
        return
    dump_error(error, tb)


def attach_exception_hook() -> None:
    """Makes ``sys.excepthook`` print uncaught errors with ``format_error``."""
    global _original_hook
    if sys.excepthook is _asynq_exception_hook:
        return
    _original_hook = sys.excepthook
    sys.excepthook = _asynq_exception_hook


def detach_exception_hook() -> None:
    """Restores the exception hook that was there before ``attach_exception_hook``."""
    global _original_hook
    if sys.excepthook is _asynq_exception_hook and _original_hook is not None:
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


def enable_complex_assertions(enable: bool = True) -> None:
    options.ENABLE_COMPLEX_ASSERTIONS = enable


def disable_complex_assertions() -> None:
    enable_complex_assertions(False)
