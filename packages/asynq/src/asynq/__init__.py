"""asynq: the umbrella package, a drop-in replacement for Quora's asynq 1.x.

It re-exports the public names of the six parts and makes the 1.x module
paths (``asynq.debug``, ``asynq.batching``, ...) the very module objects of
the parts: patching ``asynq.debug.stderr`` or setting
``asynq.debug.options.X`` changes what the implementation uses. Each path is
a file here (``asynq/debug.py``, ...) that, when imported, puts the part's
module in its place in ``sys.modules``, and that type checkers read as
re-exporting the part's names. Importing this package imports them all, as
1.x did, and attaches the asynq exception hook.
"""

from asynq_batching.batching import BatchBase, BatchCancelledError, BatchingError, BatchItemBase
from asynq_batching.loaders import MissingKeyError, batched
from asynq_contexts.contexts import AsyncContext, NonAsyncContext, async_override
from asynq_contexts.scoped_value import AsyncScopedValue
from asynq_core import set_asyncio_hold_turns
from asynq_core.async_task import AsyncTask
from asynq_core.deadlines import deadline, run, run_async
from asynq_core.decorators import (
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
from asynq_core.errors import (
    AsyncTaskCancelledError,
    AsyncTaskError,
    AsyncTaskResult,
    AsynqMisuseError,
    DeadlineExceededError,
)
from asynq_core.futures import (
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    none_future,
)
from asynq_core.lowlevel import TaskScheduler, get_active_task, get_scheduler, is_asyncio_mode
from asynq_core.tracing import replay
from asynq_core.utils import result
from asynq_generator.generator import (
    END_OF_GENERATOR,
    Value,
    async_generator,
    list_of_generator,
    take_first,
)

from . import (
    _debug,  # noqa: F401  (imported for the 1.x path asynq._debug)
    async_task,
    asynq_to_async,
    batching,
    contexts,
    debug,
    decorators,
    futures,
    generator,
    mock,
    mock_,
    profiler,
    scheduler,
    scoped_value,
    tools,
    tracing,
    utils,
)
from .__about__ import __version__

__all__ = [
    "__version__",
    # futures
    "FutureBase",
    "Future",
    "ConstFuture",
    "ErrorFuture",
    "none_future",
    "FutureIsAlreadyComputed",
    # tasks and the scheduler
    "AsyncTask",
    "AsyncTaskCancelledError",
    "AsyncTaskResult",
    "TaskScheduler",
    "get_scheduler",
    "get_active_task",
    "AsyncTaskError",
    "AsynqMisuseError",
    "result",
    # decorators
    "asynq",
    "async_proxy",
    "has_async_fn",
    "is_pure_async_fn",
    "is_async_fn",
    "get_async_fn",
    "get_async_or_sync_fn",
    "async_call",
    "make_async_decorator",
    "lazy",
    # batching
    "BatchBase",
    "BatchItemBase",
    "BatchingError",
    "BatchCancelledError",
    # beyond 1.x: one-line loaders (asynq_batching.loaders)
    "batched",
    "MissingKeyError",
    # beyond 1.x: replaying a recording (asynq_core.tracing)
    "replay",
    # contexts
    "AsyncContext",
    "NonAsyncContext",
    "AsyncScopedValue",
    "async_override",
    # generators
    "async_generator",
    "Value",
    "list_of_generator",
    "take_first",
    "END_OF_GENERATOR",
    # asyncio
    "is_asyncio_mode",
    # beyond 1.x: deadlines (asynq_core.deadlines)
    "deadline",
    "DeadlineExceededError",
    "run",
    "run_async",
    "set_asyncio_hold_turns",
    # modules
    "debug",
    "futures",
    "batching",
    "async_task",
    "scheduler",
    "decorators",
    "utils",
    "contexts",
    "scoped_value",
    "tools",
    "profiler",
    "tracing",
    "mock",
    "mock_",
    "generator",
    "asynq_to_async",
]

debug.attach_exception_hook()
