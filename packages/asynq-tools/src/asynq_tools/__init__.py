"""asynq-tools: async versions of the builtins, caching and retry decorators,
deduplication (``DeduplicateDecorator``), an async-aware timer and async
event hooks.

Each kind of tool has a module of its own (``iteration``, ``caches``,
``sharing``, ``retry``, ``contexts``, ``events``); ``tools``, asynq 1.x's
``asynq.tools``, gathers them, and this package re-exports its names.
"""

from . import tools
from .__about__ import __version__
from .tools import (
    AsyncEventHook,
    AsyncTimer,
    CacheInfo,
    DeduplicateDecorator,
    DeduplicateDecoratorBinder,
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

__all__ = [
    "__version__",
    "AsyncEventHook",
    "AsyncTimer",
    "CacheInfo",
    "DeduplicateDecorator",
    "DeduplicateDecoratorBinder",
    "acached_per_instance",
    "afilter",
    "afilterfalse",
    "alazy_constant",
    "alru_cache",
    "amap",
    "amax",
    "amin",
    "aretry",
    "asift",
    "asorted",
    "call_with_context",
    "deduplicate",
    "tools",
]
