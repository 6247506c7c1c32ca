"""``asynq.profiler``, the 1.x module path of ``asynq_core.profiler``.

At run time ``asynq.profiler`` is ``asynq_core.profiler`` itself: this file
puts that module in its place in ``sys.modules``. Type checkers, which cannot
follow that, read the names imported here.
"""

import sys as _sys

import asynq_core.profiler as _implementation
from asynq_core.profiler import *  # noqa: F403

_sys.modules[__name__] = _implementation
