"""``asynq.async_task``, the 1.x module path of ``asynq_core.async_task``.

At run time ``asynq.async_task`` is ``asynq_core.async_task`` itself: this file
puts that module in its place in ``sys.modules``. Type checkers, which cannot
follow that, read the names imported here.
"""

import sys as _sys

import asynq_core.async_task as _implementation
from asynq_core.async_task import *  # noqa: F403

_sys.modules[__name__] = _implementation
