"""asynq-generator: async generators, lazily produced sequences whose items need async work.

Everything lives in :mod:`asynq_generator.generator` (the module the umbrella
exposes as ``asynq.generator``).
"""

from . import generator
from .__about__ import __version__
from .generator import (
    END_OF_GENERATOR,
    AsyncGeneratorIterator,
    Value,
    async_generator,
    list_of_generator,
    take_first,
)

__all__ = [
    "__version__",
    "generator",
    "async_generator",
    "AsyncGeneratorIterator",
    "Value",
    "END_OF_GENERATOR",
    "list_of_generator",
    "take_first",
]
