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

Invariant: ``__all__`` (the tools and classes of asynq 1.x's
``asynq.tools``, and ``CacheInfo``) names the very objects of the modules that own them.
"""

from __future__ import annotations

# Names asynq 1.x's module has besides its tools, from imports of its own,
# which 1.x code may reach through it (``from asynq.tools import asynq``,
# ``isinstance(f, asynq.tools.AsyncDecorator)``; ``patch("asynq.tools.time.sleep")``,
# which patches the time module's own, the one ``aretry`` calls).
import time  # noqa: F401

from asynq_contexts import AsyncContext  # noqa: F401
from asynq_core import asynq  # noqa: F401
from asynq_core.decorators import AsyncDecorator, AsyncDecoratorBinder, async_call  # noqa: F401

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
