"""``asynq.futures``, the 1.x module path of ``asynq_core.futures``.

At run time ``asynq.futures`` is ``asynq_core.futures`` itself: this file puts
that module in its place in ``sys.modules``. Type checkers, which cannot follow
that, read the names imported here.
"""

import sys as _sys

import asynq_core.futures as _implementation
from asynq_core.futures import *  # noqa: F403

_sys.modules[__name__] = _implementation
