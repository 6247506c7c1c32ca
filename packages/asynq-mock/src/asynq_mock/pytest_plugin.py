"""The pytest plugin of asynq-mock (entry point ``pytest11: asynq_mock``).

Provides the ``asynq_patch`` fixture: a :class:`~asynq_mock.mock.PatchScope`
whose patches are all undone when the test ends, whatever its outcome, and
the ``asynq_max_rounds`` fixture: ``asynq_core.tracing.assert_max_rounds``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq_core import tracing as _tracing

from .mock import PatchScope

__all__ = ["asynq_patch", "asynq_max_rounds"]


@pytest.fixture
def asynq_patch() -> Iterator[PatchScope]:
    """Patches for one test, as ``asynq_mock.patch`` does, started at once.

    ``asynq_patch("pkg.mod.fn")``, ``asynq_patch.object(obj, "name")``,
    ``asynq_patch.multiple(...)`` and ``asynq_patch.dict(...)`` take the
    arguments of ``patch`` and return the started mock (or dict of mocks, or
    the patched dict); every patch is stopped after the test, latest first.
    """
    scope = PatchScope()
    try:
        yield scope
    finally:
        scope.stopall()


# -- the round guard (asynq_core.tracing) ------------------------------------------


@pytest.fixture
def asynq_max_rounds() -> type[_tracing.assert_max_rounds]:
    """``asynq_core.tracing.assert_max_rounds``, for tests that pin their batching.

    ``with asynq_max_rounds(2): ...`` fails the test with a
    ``TooManyRoundsError`` listing the rounds, the batch classes and the code
    locations of the items if the block took more than two rounds of flushes.
    """
    return _tracing.assert_max_rounds
