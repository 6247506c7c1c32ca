"""``asynq.debug``, the 1.x module path of ``asynq_core.debug``.

At run time ``asynq.debug`` is ``asynq_core.debug`` itself: this file puts that
module in its place in ``sys.modules``. Type checkers, which cannot follow
that, read the names imported here.
"""

import sys as _sys

import asynq_core.debug as _implementation

# asynq-batching provides sync() to asynq_core.debug when imported
# (asynq_core.lowlevel.provide_debug_sync); core's own is a placeholder.
from asynq_batching.batching import sync as sync
from asynq_core.debug import *  # noqa: F403

_sys.modules[__name__] = _implementation
