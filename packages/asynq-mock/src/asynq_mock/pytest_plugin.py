"""The pytest plugin of asynq-mock (entry point ``pytest11: asynq_mock``).

Provides the ``asynq_patch`` fixture: a :class:`~asynq_mock.mock.PatchScope`
whose patches are all undone when the test ends, whatever its outcome, the
``asynq_max_rounds`` fixture: ``asynq_core.tracing.assert_max_rounds``, and
the ``asynq_replay`` fixture: ``asynq_core.tracing.replay``, with recordings
found beside the test file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asynq_core import tracing as _tracing

from .mock import PatchScope

__all__ = ["asynq_patch", "asynq_max_rounds", "asynq_replay"]


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


# -- record and replay (asynq_core.tracing) -----------------------------------------


@pytest.fixture
def asynq_replay(request: pytest.FixtureRequest) -> Callable[..., _tracing.Replay]:
    """``asynq_core.tracing.replay``, for tests of code that talks to stores.

    ``with asynq_replay("users.jsonl"): ...`` serves the batches of the block
    the results a ``record(capture=True)`` recording saved, without any
    store; a relative path is taken from the folder of the test file, so a
    test finds its recordings wherever pytest runs. It takes ``replay``'s
    options (``codec=``, ``check_rounds=``). A request the recording lacks
    fails the test with a ``NotRecordedError`` naming the batch and the key.
    """
    folder = request.path.parent

    def replay(
        path: str | os.PathLike[str], *, codec: Any = None, check_rounds: bool = False
    ) -> _tracing.Replay:
        if isinstance(path, (str, os.PathLike)):
            path = folder / Path(path)
        return _tracing.replay(path, codec=codec, check_rounds=check_rounds)

    return replay
