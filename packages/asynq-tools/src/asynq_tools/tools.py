"""Tools for asynq code, gathered as asynq 1.x's ``asynq.tools``.

This module is the umbrella's ``asynq.tools`` (the very module object); it
holds no code of its own and re-exports the tools from the modules that own
them. The modules form layers, each importing only those below it (checked
by ``.importlinter``): this one; the tools' own; ``sharing``; ``common``.

- ``iteration``: the builtin look-alikes (``amap``, ``afilter``,
  ``afilterfalse``, ``asorted``, ``amax``, ``amin``, ``asift``), typed for
  checkers by ``iteration_types``;
- ``caches``: ``acached_per_instance``, ``alru_cache`` (``CacheInfo``),
  ``alazy_constant``;
- ``retry``: ``aretry``;
- ``contexts``: ``call_with_context`` and ``AsyncTimer``;
- ``events``: ``AsyncEventHook``;
- ``sharing``: ``deduplicate`` (``DeduplicateDecorator``), and the keys of
  calls and the calls in progress that the caches share;
- ``common``: what they all share (errors put off until a call, the
  protocols of the decorated functions).

Invariants:
- ``__all__`` (the tools and classes of asynq 1.x's ``asynq.tools``, and
  ``CacheInfo``) names the very objects of the modules that own them.
- 1.x's patch points stay here, as when this was one module: setting
  ``time`` (``mock.patch("asynq.tools.time")``) sets the ``time`` that
  ``aretry`` sleeps with, and setting ``utime`` the clock of
  ``alazy_constant``'s ``ttl``.
"""

from __future__ import annotations

import sys
import time  # noqa: F401  (a patch point, see below)
import types
from typing import Any

from qcore import utime  # noqa: F401  (a patch point, see below)

# Names asynq 1.x's module has from imports of its own, which 1.x code may
# reach through it (``from asynq.tools import asynq``,
# ``isinstance(f, asynq.tools.AsyncDecorator)``).
from asynq_contexts import AsyncContext  # noqa: F401
from asynq_core import asynq  # noqa: F401
from asynq_core.decorators import AsyncDecorator, AsyncDecoratorBinder, async_call  # noqa: F401

from . import caches as _caches
from . import retry as _retry
from .caches import CacheInfo, acached_per_instance, alazy_constant, alru_cache
from .contexts import AsyncTimer, call_with_context
from .events import AsyncEventHook
from .iteration import afilter, afilterfalse, amap, amax, amin, asift, asorted
from .retry import aretry
from .sharing import DeduplicateDecorator, DeduplicateDecoratorBinder, deduplicate

__all__ = [
    "amap",
    "afilter",
    "afilterfalse",
    "asorted",
    "amax",
    "amin",
    "asift",
    "acached_per_instance",
    "alru_cache",
    "alazy_constant",
    "aretry",
    "call_with_context",
    "deduplicate",
    "AsyncTimer",
    "AsyncEventHook",
    "DeduplicateDecorator",
    "DeduplicateDecoratorBinder",
    "CacheInfo",
]

# The module that calls each patch point, under the same name.
_PATCH_POINTS: dict[str, types.ModuleType] = {"time": _retry, "utime": _caches}


class _ToolsModule(types.ModuleType):
    """This module's class: setting a patch point here sets it in the module
    that calls it too (``mock.patch`` sets the attribute, then sets it back)."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        caller = _PATCH_POINTS.get(name)
        if caller is not None:
            setattr(caller, name, value)


sys.modules[__name__].__class__ = _ToolsModule
