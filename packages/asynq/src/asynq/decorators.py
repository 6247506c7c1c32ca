"""``asynq.decorators``, the 1.x module path of ``asynq_core.decorators``.

At run time ``asynq.decorators`` is ``asynq_core.decorators`` itself: this file
puts that module in its place in ``sys.modules``. Type checkers, which cannot
follow that, read the names imported here.
"""

import sys as _sys

import asynq_core.decorators as _implementation
from asynq_core.decorators import *  # noqa: F403

# Not in __all__, but a public name of 1.x's module.
from asynq_core.decorators import PureAsyncDecoratorBinder as PureAsyncDecoratorBinder

_sys.modules[__name__] = _implementation
