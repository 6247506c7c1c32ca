"""``asynq.utils``, the 1.x module path of ``asynq_core.utils``.

At run time ``asynq.utils`` is ``asynq_core.utils`` itself: this file puts that
module in its place in ``sys.modules``. Type checkers, which cannot follow
that, read the names imported here.
"""

import sys as _sys

import asynq_core.utils as _implementation
from asynq_core.utils import *  # noqa: F403

_sys.modules[__name__] = _implementation
