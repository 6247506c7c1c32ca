"""``asynq.scheduler``, the 1.x module path of ``asynq_core.scheduler``.

At run time ``asynq.scheduler`` is ``asynq_core.scheduler`` itself: this file
puts that module in its place in ``sys.modules``. Type checkers, which cannot
follow that, read the names imported here.
"""

import sys as _sys

import asynq_core.scheduler as _implementation
from asynq_core.scheduler import *  # noqa: F403

_sys.modules[__name__] = _implementation
