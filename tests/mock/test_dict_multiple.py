"""patch.dict and patch.multiple."""

from __future__ import annotations

from typing import Any

import mock_targets as targets
import pytest

from asynq_core import asynq, has_async_fn
from asynq_mock import DEFAULT, patch


def test_patch_dict_as_context_manager_and_by_name() -> None:
    with patch.dict(targets.SETTINGS, mode="fake", extra=1) as settings:
        assert settings is targets.SETTINGS
        assert targets.SETTINGS == {"mode": "fake", "extra": 1}
    assert targets.SETTINGS == {"mode": "real"}
    with patch.dict("mock_targets.SETTINGS", {"mode": "by name"}, clear=True):
        assert targets.SETTINGS == {"mode": "by name"}
    with patch.dict(targets.SETTINGS, clear=True):
        assert targets.SETTINGS == {}
    assert targets.SETTINGS == {"mode": "real"}


def test_patch_dict_as_decorator_restores_even_after_an_error() -> None:
    @patch.dict(targets.SETTINGS, [("mode", "decorated")])
    def failing() -> None:
        assert targets.SETTINGS["mode"] == "decorated"
        raise RuntimeError("after patching")

    with pytest.raises(RuntimeError):
        failing()
    assert targets.SETTINGS == {"mode": "real"}


def test_patch_dict_on_a_generator_holds_for_its_whole_run() -> None:
    @asynq()
    def reader() -> Any:
        return targets.SETTINGS["mode"]
        yield

    @asynq()
    @patch.dict(targets.SETTINGS, mode="during")
    def outer() -> Any:
        first = yield reader.asynq()
        second = yield reader.asynq()
        return first, second

    assert outer() == ("during", "during")
    assert targets.SETTINGS == {"mode": "real"}


def test_patch_dict_class_decorator_honours_test_prefix() -> None:
    @patch.dict(targets.SETTINGS, mode="class")
    class Suite:
        def test_mode(self) -> str:
            return targets.SETTINGS["mode"]

        def other(self) -> str:
            return targets.SETTINGS["mode"]

    assert Suite().test_mode() == "class"
    assert Suite().other() == "real"

    patch.TEST_PREFIX = "check"
    try:

        @patch.dict(targets.SETTINGS, mode="prefixed")
        class Prefixed:
            def check_mode(self) -> str:
                return targets.SETTINGS["mode"]

            def test_mode(self) -> str:
                return targets.SETTINGS["mode"]

    finally:
        patch.TEST_PREFIX = "test"
    assert Prefixed().check_mode() == "prefixed"
    assert Prefixed().test_mode() == "real"


def test_patch_multiple_gives_async_mocks_by_name() -> None:
    with patch.multiple("mock_targets", fetch_user=DEFAULT, plain_double=DEFAULT, LIMIT=3) as mocks:
        assert set(mocks) == {"fetch_user", "plain_double"}
        mocks["fetch_user"].return_value = "multi"
        assert targets.fetch_name(1) == "MULTI"
        assert has_async_fn(mocks["plain_double"])
        assert targets.LIMIT == 3
    assert targets.LIMIT == 10
    assert targets.fetch_name(1) == "USER 1"


def test_patch_multiple_as_decorator_passes_keywords() -> None:
    @patch.multiple(targets, fetch_user=DEFAULT, plain_double=lambda x: -x)
    def check(fetch_user: Any) -> Any:
        fetch_user.return_value = "kw"
        return targets.fetch_name(1), targets.plain_double.asynq(2).value()

    assert check() == ("KW", -2)


def test_patch_multiple_class_decorator_copies_every_patch() -> None:
    @patch.multiple("mock_targets", fetch_user=DEFAULT, plain_double=DEFAULT)
    class Suite:
        def test_both(self, fetch_user: Any, plain_double: Any) -> Any:
            return fetch_user, plain_double, targets.fetch_user, targets.plain_double

    fetch_user, plain_double, installed_user, installed_double = Suite().test_both()
    assert (fetch_user, plain_double) == (installed_user, installed_double)
    assert Suite().test_both()[0] is not fetch_user


def test_patch_multiple_needs_keywords() -> None:
    with pytest.raises(ValueError, match=r"patch.multiple\(\): must supply at least one keyword"):
        patch.multiple("mock_targets")
