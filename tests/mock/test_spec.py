"""spec, spec_set and autospec keep working as in unittest.mock, with .asynq added."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import mock_targets as targets
import pytest

from asynq_core import asynq, has_async_fn
from asynq_mock import call, create_autospec, patch


@pytest.fixture
def strict_autospec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls of autospecced asynq functions checked against their signature."""
    monkeypatch.setattr(patch, "STRICT_AUTOSPEC", True)


def test_autospec_of_an_asynq_function_records_any_call_by_default_as_asynq_1x() -> None:
    # asynq 1.x's autospec sees only the decorator's (*args, **kwargs).
    service = targets.Service()
    with (
        patch("mock_targets.fetch_user", autospec=True) as fetch_user,
        patch.object(targets.Service, "get", autospec=True) as get,
    ):
        fetch_user.return_value = get.return_value = "spec'd"
        assert targets.fetch_user(1, 2, 3) == "spec'd"
        assert targets.fetch_user.asynq(id=1).value() == "spec'd"
        assert service.get(4, 5) == "spec'd"
        assert fetch_user.call_args_list == [call(1, 2, 3), call(id=1)]
        get.assert_called_once_with(4, 5)
        assert str(inspect.signature(fetch_user)) == "(uid: int) -> str"


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


def test_autospec_of_a_plain_method_binds_its_asynq_through_an_instance() -> None:
    service = targets.Service()
    with patch.object(targets.Service, "plain", autospec=True) as plain:
        plain.return_value = 5
        assert service.plain(1) == 5
        assert service.plain.asynq(2).value() == 5
        assert asyncio.run(service.plain.asyncio(3)) == 5
        assert targets.Service.plain(service, 4) == 5
        with pytest.raises(TypeError, match="too many positional arguments"):
            service.plain(1, 2)
        assert isinstance(service.plain.asynq(1, 2).error(), TypeError)
        # As unittest.mock records an autospecced method: with the instance.
        assert plain.call_args_list == [call(service, n) for n in (1, 2, 3, 4)]
        assert service.plain.call_count == 4
        assert has_async_fn(service.plain)  # it answers .asynq, which is what 1.x looks for
    assert service.plain(1) == 2


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


@pytest.mark.usefixtures("strict_autospec")
def test_autospec_of_an_asynq_function_checks_the_signature_of_every_call() -> None:
    @asynq()
    def caller() -> Any:
        try:
            yield targets.fetch_user.asynq(1, 2)
        except TypeError as error:
            return f"refused: {error}"

    with patch("mock_targets.fetch_user", autospec=True) as fetch_user:
        fetch_user.return_value = "spec'd"
        refused = r"mock_targets.fetch_user\(1, 2, 3\): too many positional arguments"
        with pytest.raises(TypeError, match=rf"^{refused} \(the signature is \(uid: int\)\)$"):
            targets.fetch_user(1, 2, 3)
        with pytest.raises(TypeError, match=refused):
            targets.fetch_user.asynq(1, 2, 3)
        with pytest.raises(TypeError, match=r"fetch_user\(1, 2\): too many positional"):
            targets.fetch_user.asyncio(1, 2)
        with pytest.raises(TypeError, match=r"fetch_user\(id=1\): missing a required argument"):
            targets.fetch_user(id=1)
        assert caller().startswith("refused: mock_targets.fetch_user(1, 2): too many")
        assert fetch_user.call_count == 0  # refused calls are not recorded
        assert targets.fetch_user(uid=1) == "spec'd"
        assert targets.fetch_name(2) == "SPEC'D"  # yield fetch_user.asynq(uid)
        assert asyncio.run(targets.fetch_user.asyncio(3)) == "spec'd"
        assert fetch_user.call_args_list == [call(uid=1), call(2), call(3)]
        assert str(inspect.signature(fetch_user)) == "(uid: int) -> str"


@pytest.mark.usefixtures("strict_autospec")
def test_the_asynq_patch_fixture_autospecs_too(asynq_patch: Any) -> None:
    fetch_user = asynq_patch("mock_targets.fetch_user", autospec=True, return_value="u")
    with pytest.raises(TypeError, match=r"fetch_user\(1, 2, 3\): too many positional"):
        targets.fetch_user(1, 2, 3)
    with pytest.raises(TypeError, match=r"fetch_user\(1, 2, 3\): too many positional"):
        targets.fetch_user.asynq(1, 2, 3)
    assert targets.fetch_name(1) == "U"
    fetch_user.assert_called_once_with(1)


@pytest.mark.usefixtures("strict_autospec")
def test_autospec_of_an_asynq_method_binds_the_instance_for_the_check() -> None:
    service = targets.Service()
    with patch.object(targets.Service, "get", autospec=True) as get:
        get.return_value = "spec'd"
        assert service.get(4) == "spec'd"
        assert service.get.asynq(key=5).value() == "spec'd"
        assert targets.Service.get(service, 6) == "spec'd"  # through the class: self given
        with pytest.raises(TypeError, match=r"Service.get\(4, 5\): too many positional arguments"):
            service.get(4, 5)
        with pytest.raises(TypeError, match=r"Service.get\(\): missing a required argument"):
            service.get.asynq()
        with pytest.raises(TypeError, match=r"missing a required argument: 'key'"):
            targets.Service.get(7)  # 7 is taken for self
        # As with asynq 1.x, a call through an instance is recorded without it.
        assert get.call_args_list == [call(4), call(key=5), call(service, 6)]
        assert targets.use_service(service, 8)[0] == "spec'd"
    assert service.get(4) == 8


@pytest.mark.usefixtures("strict_autospec")
def test_autospec_of_asynq_class_and_static_methods() -> None:
    service = targets.Service()
    with (
        patch.object(targets.Service, "make", autospec=True) as make,
        patch.object(targets.Service, "double", autospec=True) as double,
    ):
        make.return_value, double.return_value = "made", "doubled"
        assert targets.Service.make(1) == service.make.asynq(2).value() == "made"
        assert targets.Service.double(3) == service.double.asynq(4).value() == "doubled"
        with pytest.raises(TypeError, match=r"Service.make\(1, 2\): too many positional"):
            targets.Service.make(1, 2)
        with pytest.raises(TypeError, match=r"Service.double\(1, 2\): too many positional"):
            service.double.asynq(1, 2)
        assert targets.use_service(service, 5)[1:] == ("made", "doubled")
        assert make.call_args_list == [call(1), call(2), call(5)]


@pytest.mark.usefixtures("strict_autospec")
def test_autospec_of_an_asynq_method_of_an_instance() -> None:
    service = targets.Service()
    with patch.object(service, "get", autospec=True) as get:
        get.return_value = "spec'd"
        assert service.get(1) == service.get.asynq(2).value() == "spec'd"
        with pytest.raises(TypeError, match=r"too many positional arguments"):
            service.get(1, 2)
    assert service.get(1) == 2


@pytest.mark.usefixtures("strict_autospec")
def test_autospec_of_a_pure_asynq_function() -> None:
    with patch("mock_targets.pure_fetch", autospec=True) as pure_fetch:
        pure_fetch.return_value = "spec'd"
        assert targets.pure_fetch(1) == "spec'd"
        with pytest.raises(TypeError, match=r"pure_fetch\(1, 2\): too many positional"):
            targets.pure_fetch(1, 2)


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
