"""The ``asynq_max_rounds`` fixture of the plugin: asynq_core.tracing.assert_max_rounds.

The fixture is imported from the plugin module (as conftest.py does for
``asynq_patch``), so these tests also run when asynq-mock is not installed.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from asynq_core import asynq
from asynq_core.futures import DeferredFuture
from asynq_core.tracing import NPlusOneWarning, TooManyRoundsError, assert_max_rounds
from asynq_mock.pytest_plugin import asynq_max_rounds as asynq_max_rounds


class Lookups:
    """A flush group answering ``key * 2`` for every key; a new one per round."""

    current: Lookups | None = None

    def __init__(self) -> None:
        self.items: list[Lookup] = []
        self.flushed = False

    def get_priority(self) -> int:
        return 0

    def flush(self) -> None:
        if self.flushed:
            return
        self.flushed = True
        if Lookups.current is self:
            Lookups.current = None
        for item in self.items:
            item.set_value(item.key * 2)


class Lookup(DeferredFuture[int]):
    def __init__(self, key: int) -> None:
        super().__init__()
        if Lookups.current is None:
            Lookups.current = Lookups()
        self.group = Lookups.current
        self.group.items.append(self)
        self.key = key

    def flush_group(self) -> Lookups:
        return self.group


@asynq()
def doubled_together(keys: list[int]) -> Any:
    values = yield [Lookup(key) for key in keys]
    return values


@asynq()
def doubled_one_by_one(keys: list[int]) -> Any:
    values = []
    for key in keys:
        values.append((yield Lookup(key)))
    return values


def test_the_fixture_is_assert_max_rounds(asynq_max_rounds: Any) -> None:
    assert asynq_max_rounds is assert_max_rounds
    with asynq_max_rounds(1) as recording:
        assert doubled_together([1, 2, 3]) == [2, 4, 6]
    assert recording.rounds == 1


def test_the_fixture_fails_a_test_that_takes_too_many_rounds(asynq_max_rounds: Any) -> None:
    with pytest.raises(TooManyRoundsError) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore", NPlusOneWarning)
        with asynq_max_rounds(1):
            assert doubled_one_by_one([1, 2, 3]) == [2, 4, 6]
    message = str(raised.value)
    assert message.startswith("assert_max_rounds(1): the block took 3 rounds")
    assert "  round 2: Lookups (1 item from " in message
    assert "in doubled_one_by_one" in message
