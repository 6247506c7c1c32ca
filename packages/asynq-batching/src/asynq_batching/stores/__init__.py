"""Ready-made batched clients: SQL (DB-API, sqlite3 by default), Redis and memcached.

They share one API (``BatchedStore``): ``get``/``get_many``/``set``/
``set_many``/``delete``/``delete_many``, each usable synchronously or with
``.asynq()``; a missing key reads as ``MISSING``. ``SqlStore`` needs nothing
beyond the standard library; ``RedisStore`` and ``MemcacheStore`` need the
``redis`` and ``memcache`` extras and are imported only when first used, so
that this package imports without them.
"""

from typing import TYPE_CHECKING, Any

from .base import (
    MISSING,
    BatchedStore,
    BytesCodec,
    Codec,
    JsonCodec,
    PickleCodec,
    StoreError,
)
from .sql import SqlStore

if TYPE_CHECKING:
    from .memcache import MemcacheStore as MemcacheStore
    from .redis import RedisStore as RedisStore

__all__ = [
    "MISSING",
    "BatchedStore",
    "StoreError",
    "Codec",
    "JsonCodec",
    "PickleCodec",
    "BytesCodec",
    "SqlStore",
]
# RedisStore and MemcacheStore are importable by name but left out of __all__:
# ``from asynq_batching.stores import *`` must work without the extras.

_OPTIONAL = {"RedisStore": "redis", "MemcacheStore": "memcache"}


def __getattr__(name: str) -> Any:
    module = _OPTIONAL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
