"""asynq-contexts: context managers that are paused and resumed with their asynq task.

They plug into asynq-core through its task-context seam; see ``contexts`` for
the rules and ``scoped_value`` for values overridden per task.
"""

from . import contexts, scoped_value
from .__about__ import __version__
from .contexts import AsyncContext, NonAsyncContext, async_override, enter_context, leave_context
from .scoped_value import AsyncScopedValue

__all__ = [
    "__version__",
    "AsyncContext",
    "AsyncScopedValue",
    "NonAsyncContext",
    "async_override",
    "enter_context",
    "leave_context",
    "contexts",
    "scoped_value",
]
