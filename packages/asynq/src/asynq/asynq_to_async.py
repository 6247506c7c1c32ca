"""``asynq.asynq_to_async``, the 1.x module path of ``asynq_core.asynq_to_async``.

At run time ``asynq.asynq_to_async`` is ``asynq_core.asynq_to_async`` itself:
this file puts that module in its place in ``sys.modules``. Type checkers,
which cannot follow that, read the names imported here.
"""

import sys as _sys

import asynq_core.asynq_to_async as _implementation
from asynq_core.asynq_to_async import *  # noqa: F403

_sys.modules[__name__] = _implementation
