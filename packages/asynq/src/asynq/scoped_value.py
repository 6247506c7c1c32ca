"""``asynq.scoped_value``, the 1.x module path of ``asynq_contexts.scoped_value``.

At run time ``asynq.scoped_value`` is ``asynq_contexts.scoped_value`` itself:
this file puts that module in its place in ``sys.modules``. Type checkers,
which cannot follow that, read the names imported here.
"""

import sys as _sys

import asynq_contexts.scoped_value as _implementation
from asynq_contexts.scoped_value import *  # noqa: F403

_sys.modules[__name__] = _implementation
