"""``asynq.contexts``, the 1.x module path of ``asynq_contexts.contexts``.

At run time ``asynq.contexts`` is ``asynq_contexts.contexts`` itself: this file
puts that module in its place in ``sys.modules``. Type checkers, which cannot
follow that, read the names imported here.
"""

import sys as _sys

import asynq_contexts.contexts as _implementation
from asynq_contexts.contexts import *  # noqa: F403

_sys.modules[__name__] = _implementation
