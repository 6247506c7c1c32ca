"""How asynq names things in messages, reprs and reports: values cut to a
length, functions by their qualified name. A leaf module: it reads the debug
options and nothing else of the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _debug

__all__ = ["short_repr", "callable_name", "name_of"]


def short_repr(
    value: object, to_text: Callable[[object], str] = repr, truncate: bool = True
) -> str:
    """``to_text(value)`` that never raises, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH``
    (what messages and ``asynq_core.debug.repr``/``str`` show of a value)."""
    try:
        text = to_text(value)
    except Exception as e:  # a broken __repr__ must not break ours
        text = f"<unprintable {type(value).__name__}: {type(e).__name__}>"
    limit = _debug.options.DEBUG_STR_REPR_MAX_LENGTH
    if truncate and limit and len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def callable_name(fn: Any) -> str:
    """The qualified name of a function (or its repr), for error messages."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def name_of(obj: Any) -> str:
    fn = getattr(obj, "fn", None)
    if fn is not None:
        module = getattr(fn, "__module__", None) or "?"
        return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"
    return type(obj).__name__
