"""``asynq.batching``, the 1.x module path of ``asynq_batching.batching``.

At run time ``asynq.batching`` is ``asynq_batching.batching`` itself: this file
puts that module in its place in ``sys.modules``. Type checkers, which cannot
follow that, read the names imported here.
"""

import sys as _sys

import asynq_batching.batching as _implementation
from asynq_batching.batching import *  # noqa: F403

_sys.modules[__name__] = _implementation
