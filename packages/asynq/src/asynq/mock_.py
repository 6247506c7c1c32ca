"""``asynq.mock_``, the 1.x module path of ``asynq_mock.mock``.

At run time ``asynq.mock_`` is ``asynq_mock.mock`` itself (as ``asynq.mock``):
this file puts that module in its place in ``sys.modules``. Type checkers,
which cannot follow that, read the names imported here.
"""

import sys as _sys

import asynq_mock.mock as _implementation
from asynq_mock.mock import *  # noqa: F403

_sys.modules[__name__] = _implementation
