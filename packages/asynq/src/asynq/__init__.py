"""asynq: the umbrella package, a drop-in replacement for Quora's asynq 1.x.

It re-exports the public names of the six parts and makes the 1.x module
paths (``asynq.debug``, ``asynq.batching``, ...) the very module objects of
the parts, registered in ``sys.modules``: patching ``asynq.debug.stderr`` or
setting ``asynq.debug.options.X`` changes what the implementation uses.
Importing it attaches the asynq exception hook, as 1.x did.
"""

import sys
from types import ModuleType as _ModuleType

import asynq_batching.batching as batching
import asynq_contexts.contexts as contexts
import asynq_contexts.scoped_value as scoped_value
import asynq_generator.generator as generator
import asynq_mock.mock as mock
import asynq_tools.tools as tools
from asynq_batching.batching import BatchBase, BatchCancelledError, BatchingError, BatchItemBase
from asynq_batching.loaders import MissingKeyError, batched
from asynq_contexts.contexts import AsyncContext, NonAsyncContext, async_override
from asynq_contexts.scoped_value import AsyncScopedValue
from asynq_core import (
    _debug,
    async_task,
    asynq_to_async,
    debug,
    decorators,
    futures,
    profiler,
    scheduler,
    tracing,
    utils,
)
from asynq_core.async_task import AsyncTask, AsyncTaskCancelledError
from asynq_core.asynq_to_async import is_asyncio_mode
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
from asynq_core.futures import (
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    none_future,
)
from asynq_core.scheduler import AsyncTaskError, TaskScheduler, get_active_task, get_scheduler
from asynq_core.utils import AsyncTaskResult, AsynqMisuseError, result
from asynq_generator.generator import (
    END_OF_GENERATOR,
    Value,
    async_generator,
    list_of_generator,
    take_first,
)

from .__about__ import __version__

mock_ = mock  # 1.x's second name of the mock module

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

# The 1.x module paths: ``asynq.<name>`` is the part's module itself, for each
# module in __all__ (listed there, statically, for type checkers) and _debug.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, _ModuleType):
        sys.modules[f"{__name__}.{_name}"] = _value
sys.modules[f"{__name__}._debug"] = _debug

# 1.x had debug.sync(); core cannot import batching, so the umbrella wires it.
debug.sync = batching.sync  # type: ignore[attr-defined]
debug.attach_exception_hook()
