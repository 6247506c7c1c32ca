"""``asynq.tracing``, the 1.x module path of ``asynq_core.tracing``.

At run time ``asynq.tracing`` is ``asynq_core.tracing`` itself: this file puts
that module in its place in ``sys.modules``. Type checkers, which cannot follow
that, read the names imported here.
"""

import sys as _sys

import asynq_core.tracing as _implementation
from asynq_core.tracing import *  # noqa: F403

_sys.modules[__name__] = _implementation
