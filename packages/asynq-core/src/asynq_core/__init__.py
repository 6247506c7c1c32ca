"""asynq-core: futures, tasks, the per-thread scheduler and the asynq decorators.

Batching (asynq-batching) and task contexts (asynq-contexts) plug in through
two seams this package owns: ``DeferredFuture``/``FlushGroup`` and the task
contexts; ``lowlevel`` is the public API they (and any extension) use.

The modules, bottom layer first (each imports only the layers below it;
``hatch run lint`` checks it): the leaves (``errors``, ``_debug``, ``text``,
``json_values``, ``task_states``, ``asyncio_mode``, ``profiler``,
``protocols``), ``futures``,
``groups`` and ``spans``, ``yielded``, ``rounds``, ``instrumentation``,
``deadline_scopes``, ``scheduler``, ``async_task``, ``debug`` and ``requests``,
``native_calls``, ``batch_clock``, ``deadline_timers``, ``asyncio_domain``,
``asynq_to_async``, ``deadlines``, ``tracing``, ``decorators``, ``lowlevel``.
"""

from . import (
    _debug,
    async_task,
    asynq_to_async,
    deadlines,
    debug,
    decorators,
    futures,
    lowlevel,
    profiler,
    scheduler,
    tracing,
    utils,
)
from .__about__ import __version__
from .async_task import AsyncTask
from .asyncio_domain import set_asyncio_hold_turns
from .asynq_to_async import is_asyncio_mode
from .deadlines import Deadline, deadline, run, run_async
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
from .errors import (
    AsyncTaskCancelledError,
    AsyncTaskError,
    AsyncTaskResult,
    AsynqMisuseError,
    DeadlineExceededError,
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
from .requests import Request, current_request, current_run, request
from .scheduler import TaskScheduler, get_active_task, get_scheduler
from .utils import result

__all__ = [
    "__version__",
    "AsyncTask",
    "AsyncTaskCancelledError",
    "AsyncTaskError",
    "AsyncTaskResult",
    "AsynqMisuseError",
    "ConstFuture",
    "Deadline",
    "DeadlineExceededError",
    "DeferredFuture",
    "ErrorFuture",
    "FlushGroup",
    "Future",
    "FutureBase",
    "FutureIsAlreadyComputed",
    "Request",
    "TaskScheduler",
    "async_call",
    "async_proxy",
    "asynq",
    "current_request",
    "current_run",
    "deadline",
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
    "request",
    "result",
    "run",
    "run_async",
    "set_asyncio_hold_turns",
    "_debug",
    "async_task",
    "asynq_to_async",
    "deadlines",
    "debug",
    "decorators",
    "futures",
    "lowlevel",
    "profiler",
    "scheduler",
    "tracing",
    "utils",
]
