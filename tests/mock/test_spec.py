"""spec, spec_set and autospec keep working as in unittest.mock, with .asynq added."""

from __future__ import annotations

from typing import Any

import mock_targets as targets
import pytest

from asynq_core import asynq, has_async_fn
from asynq_mock import create_autospec, patch


def test_autospec_of_a_plain_function_checks_every_call() -> None:
    @asynq()
    def caller() -> Any:
        try:
            yield targets.plain_double.asynq(1, 2)
        except TypeError as error:
            return f"refused: {error}"

    with patch("mock_targets.plain_double", autospec=True) as double:
        double.return_value = 42
        assert targets.plain_double(1) == 42
        assert double.asynq(2).value() == 42
        with pytest.raises(TypeError):
            targets.plain_double(1, 2)
        assert caller() == "refused: too many positional arguments"
        assert double.mock.call_count == 2
        double.assert_called_with(2)
        # It answers .asynq, which is what asynq 1.x's introspection looks for.
        assert has_async_fn(double)


def test_autospec_of_an_asynq_function_gives_an_async_mock() -> None:
    with patch("mock_targets.fetch_user", autospec=True) as fetch_user:
        fetch_user.return_value = "spec'd"
        assert has_async_fn(fetch_user)
        assert targets.fetch_name(1) == "SPEC'D"
        fetch_user.assert_called_once_with(1)
        with pytest.raises(AttributeError):
            fetch_user.not_an_attribute


def test_autospec_of_an_asynq_method() -> None:
    service = targets.Service()
    with patch.object(targets.Service, "get", autospec=True) as get:
        get.return_value = "spec'd"
        assert targets.use_service(service, 3)[0] == "spec'd"
        assert service.get(4) == "spec'd"
        assert get.call_count == 2
    assert service.get(4) == 8


def test_autospec_of_a_class_specs_its_instances() -> None:
    with patch("mock_targets.Service", autospec=True) as service_cls:
        instance = targets.Service()
        assert instance is service_cls.return_value
        with pytest.raises(AttributeError):
            instance.missing
        assert service_cls.asynq().value() is instance
    assert targets.Service().get(1) == 2


def test_spec_true_and_spec_set_true() -> None:
    with patch("mock_targets.fetch_user", spec=True) as fetch_user:
        fetch_user.return_value = "spec"
        assert targets.fetch_name(1) == "SPEC"
        with pytest.raises(AttributeError):
            fetch_user.not_an_attribute
    with patch("mock_targets.fetch_user", spec_set=True) as fetch_user:
        with pytest.raises(AttributeError):
            fetch_user.not_an_attribute = 1
        fetch_user.return_value = "spec_set"
        assert fetch_user.asynq(1).value() == "spec_set"


def test_spec_with_an_explicit_object() -> None:
    with patch("mock_targets.fetch_user", spec=["keys"]) as fetch_user:
        assert fetch_user.keys is not None
        with pytest.raises(AttributeError):
            fetch_user.values
        # A list spec without "__call__" makes the mock non-callable: no .asynq.
        assert not has_async_fn(fetch_user)


def test_autospec_misuse_raises_as_unittest_mock_does() -> None:
    with pytest.raises(TypeError, match="Can't use 'autospec' with create=True"):
        patch("mock_targets.nothing_here", autospec=True, create=True).start()
    with pytest.raises(TypeError, match="Can't specify spec and autospec"):
        patch("mock_targets.fetch_user", spec=True, autospec=True).start()
    assert not hasattr(targets, "nothing_here")


def test_an_autospecced_function_given_as_new_is_installed_itself() -> None:
    double = create_autospec(targets.plain_double, return_value=1)
    with patch("mock_targets.plain_double", new=double) as installed:
        assert installed is double
        installed.return_value = 2
        assert targets.plain_double.asynq(5).value() == 2
        double.assert_called_once_with(5)
        with pytest.raises(TypeError):
            targets.plain_double()
