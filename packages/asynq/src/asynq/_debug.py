"""``asynq._debug``, the 1.x module path of ``asynq_core._debug``.

At run time ``asynq._debug`` is ``asynq_core._debug`` itself: this file puts
that module in its place in ``sys.modules``. Type checkers, which cannot follow
that, read the names imported here.
"""

import sys as _sys

import asynq_core._debug as _implementation
from asynq_core._debug import *  # noqa: F403

_sys.modules[__name__] = _implementation
