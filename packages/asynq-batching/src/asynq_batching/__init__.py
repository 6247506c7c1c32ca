"""asynq-batching: batches of deferred items that the asynq scheduler flushes together.

``batching`` holds the building blocks (BatchBase, BatchItemBase, the debug
batch and ``sync``); ``loaders`` turns a bulk function into a batched async
function in one line (``@batched()``); ``stores`` holds ready-made batched
clients for SQL (DB-API), Redis and memcached built on them. Core never
imports this package: it sees batches only through its deferred-future seam.
"""

from . import batching, loaders
from .__about__ import __version__
from .batching import (
    BatchBase,
    BatchCancelledError,
    BatchingError,
    BatchItemBase,
    DebugBatch,
    DebugBatchItem,
    sync,
)
from .loaders import BatchedLoader, BoundLoader, LoadMany, MissingKeyError, batched

__all__ = [
    "__version__",
    "batching",
    "loaders",
    "BatchBase",
    "BatchCancelledError",
    "BatchingError",
    "BatchItemBase",
    "DebugBatch",
    "DebugBatchItem",
    "sync",
    "batched",
    "BatchedLoader",
    "BoundLoader",
    "LoadMany",
    "MissingKeyError",
]
