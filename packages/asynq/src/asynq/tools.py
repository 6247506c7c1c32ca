"""``asynq.tools``, the 1.x module path of ``asynq_tools.tools``.

At run time ``asynq.tools`` is ``asynq_tools.tools`` itself: this file puts
that module in its place in ``sys.modules``. Type checkers, which cannot follow
that, read the names imported here.
"""

import sys as _sys

import asynq_tools.tools as _implementation
from asynq_tools.tools import *  # noqa: F403

_sys.modules[__name__] = _implementation
