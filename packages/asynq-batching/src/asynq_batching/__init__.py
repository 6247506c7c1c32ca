"""asynq-batching: batches of deferred items that the asynq scheduler flushes together.

``batching`` holds the building blocks (BatchBase, BatchItemBase, the debug
batch and ``sync``); ``stores`` holds ready-made batched clients for SQL
(DB-API), Redis and memcached built on them. Core never imports this package:
it sees batches only through its deferred-future seam.
"""

from . import batching
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

__all__ = [
    "__version__",
    "batching",
    "BatchBase",
    "BatchCancelledError",
    "BatchingError",
    "BatchItemBase",
    "DebugBatch",
    "DebugBatchItem",
    "sync",
]
