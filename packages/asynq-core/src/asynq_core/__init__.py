"""asynq-core: futures, tasks, the per-thread scheduler and the asynq decorators.

Batching (asynq-batching) and task contexts (asynq-contexts) plug in through
two seams this package owns: ``DeferredFuture``/``FlushGroup`` and the
``_enter_context``/``_leave_context`` methods of ``AsyncTask``.
"""

from . import (
    _debug,
    async_task,
    asynq_to_async,
    debug,
    decorators,
    futures,
    profiler,
    scheduler,
    utils,
)
from .__about__ import __version__
from .async_task import AsyncTask, AsyncTaskCancelledError
from .asynq_to_async import is_asyncio_mode
from .decorators import (
    async_call,
    async_proxy,
    asynq,
    get_async_fn,
    get_async_or_sync_fn,
    has_async_fn,
    is_async_fn,
    is_pure_async_fn,
    lazy,
    make_async_decorator,
)
from .futures import (
    ConstFuture,
    DeferredFuture,
    ErrorFuture,
    FlushGroup,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    none_future,
)
from .scheduler import AsyncTaskError, TaskScheduler, get_active_task, get_scheduler
from .utils import AsyncTaskResult, AsynqMisuseError, result

__all__ = [
    "__version__",
    "AsyncTask",
    "AsyncTaskCancelledError",
    "AsyncTaskError",
    "AsyncTaskResult",
    "AsynqMisuseError",
    "ConstFuture",
    "DeferredFuture",
    "ErrorFuture",
    "FlushGroup",
    "Future",
    "FutureBase",
    "FutureIsAlreadyComputed",
    "TaskScheduler",
    "async_call",
    "async_proxy",
    "asynq",
    "get_active_task",
    "get_async_fn",
    "get_async_or_sync_fn",
    "get_scheduler",
    "has_async_fn",
    "is_async_fn",
    "is_asyncio_mode",
    "is_pure_async_fn",
    "lazy",
    "make_async_decorator",
    "none_future",
    "result",
    "_debug",
    "async_task",
    "asynq_to_async",
    "debug",
    "decorators",
    "futures",
    "profiler",
    "scheduler",
    "utils",
]
