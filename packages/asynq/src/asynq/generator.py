"""``asynq.generator``, the 1.x module path of ``asynq_generator.generator``.

At run time ``asynq.generator`` is ``asynq_generator.generator`` itself: this
file puts that module in its place in ``sys.modules``. Type checkers, which
cannot follow that, read the names imported here.
"""

import sys as _sys

import asynq_generator.generator as _implementation
from asynq_generator.generator import *  # noqa: F403

_sys.modules[__name__] = _implementation
