"""asynq-tools: async versions of the builtins, caching and retry decorators,
deduplication, an async-aware timer and async event hooks (see ``tools``)."""

from . import tools
from .__about__ import __version__
from .tools import (
    AsyncEventHook,
    AsyncTimer,
    CacheInfo,
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
