"""patch and patch.object: the installed mock answers plain calls, .asynq and .asyncio."""

from __future__ import annotations

import asyncio
import unittest.mock
from typing import Any

import mock_targets as targets
import pytest

import asynq_mock
from asynq_core import (
    AsyncTask,
    ConstFuture,
    async_call,
    asynq,
    get_async_fn,
    get_async_or_sync_fn,
    has_async_fn,
    is_pure_async_fn,
)
from asynq_mock import DEFAULT, MagicMock, call, mock, patch

ORIGINAL_FETCH_USER = targets.fetch_user


def test_package_reexports_the_mock_module() -> None:
    for name in mock.__all__:
        assert getattr(asynq_mock, name) is getattr(mock, name)
    assert asynq_mock.mock is mock
    assert mock.MagicMock is unittest.mock.MagicMock
    assert mock.call is unittest.mock.call
    assert mock.DEFAULT is unittest.mock.DEFAULT
    assert patch.TEST_PREFIX == "test"


# -- the basic contract ----------------------------------------------------------


def test_plain_calls_and_asynq_calls_both_see_the_mock() -> None:
    with patch("mock_targets.fetch_user") as fetch_user:
        fetch_user.return_value = "mocked"
        assert targets.fetch_user is fetch_user
        assert targets.fetch_user(1) == "mocked"
        # fetch_name does `yield fetch_user.asynq(uid)`
        assert targets.fetch_name(2) == "MOCKED"
        assert targets.fetch_names([3, 4]) == ["MOCKED", "MOCKED"]
    assert fetch_user.mock_calls == [call(1), call(2), call(3), call(4)]
    assert targets.fetch_user is ORIGINAL_FETCH_USER
    assert targets.fetch_name(2) == "USER 2"


def test_asynq_returns_a_computed_future_and_records_the_call_at_once() -> None:
    with patch("mock_targets.fetch_user", return_value="mocked") as fetch_user:
        future = fetch_user.asynq(7, flag=True)
        assert isinstance(future, ConstFuture)
        assert future.is_computed()
        fetch_user.assert_called_once_with(7, flag=True)
        assert future.value() == "mocked"


def test_side_effect_runs_in_call_order() -> None:
    with patch("mock_targets.fetch_user") as fetch_user:
        fetch_user.side_effect = ["a", "b", "c"]
        assert fetch_user.asynq(1).value() == "a"
        assert fetch_user(2) == "b"
        assert targets.fetch_name(3) == "C"
        fetch_user.side_effect = lambda uid: f"computed {uid}"
        assert targets.fetch_name(4) == "COMPUTED 4"


def test_a_side_effect_exception_surfaces_at_the_callers_yield() -> None:
    reached = []

    @asynq()
    def caller() -> Any:
        future = targets.fetch_user.asynq(1)
        reached.append("after .asynq()")
        try:
            yield future
        except LookupError as error:
            return f"caught {error.args[0]}"

    with patch("mock_targets.fetch_user", side_effect=LookupError("no user")) as fetch_user:
        assert caller() == "caught no user"
        assert reached == ["after .asynq()"]
        fetch_user.assert_called_once_with(1)
        with pytest.raises(LookupError, match="no user"):
            targets.fetch_name(1)
        fetch_user.side_effect = KeyError  # an exception class, as unittest.mock allows
        with pytest.raises(KeyError):
            targets.fetch_user.asynq(1).value()


def test_a_failing_mock_does_not_stop_the_other_tasks_yielded_with_it() -> None:
    finished = []

    @asynq()
    def other(key: int) -> Any:
        finished.append(key)
        return key
        yield

    @asynq()
    def caller() -> Any:
        yield [targets.fetch_user.asynq(1), other.asynq(2), other.asynq(3)]

    with patch("mock_targets.fetch_user", side_effect=ValueError("boom")):
        with pytest.raises(ValueError, match="boom"):
            caller()
    assert finished == [2, 3]


def test_the_mock_is_an_async_function_for_the_helpers() -> None:
    with patch("mock_targets.fetch_user", return_value="mocked") as fetch_user:
        assert has_async_fn(fetch_user)
        assert not is_pure_async_fn(fetch_user)
        assert get_async_fn(fetch_user) is fetch_user.asynq
        assert get_async_or_sync_fn(fetch_user) is fetch_user.asynq
        assert fetch_user.asynq is fetch_user.asynq
        assert async_call(fetch_user, 1) == "mocked"

        @asynq()
        def caller() -> Any:
            return (yield async_call.asynq(fetch_user, 2))

        assert caller() == "mocked"
        assert fetch_user.mock_calls == [call(1), call(2)]
    # A plain MagicMock is not an async function: only installed mocks are changed.
    assert not has_async_fn(MagicMock())


def test_reset_mock_keeps_asynq_working() -> None:
    with patch("mock_targets.fetch_user", return_value=1) as fetch_user:
        fetch_user.asynq(1)
        fetch_user.reset_mock()
        assert fetch_user.call_count == 0
        assert fetch_user.asynq(2).value() == 1
        fetch_user.assert_called_once_with(2)


def test_attributes_and_return_values_of_the_mock_stay_ordinary_mocks() -> None:
    # As in unittest.mock: only the installed object is async. Code written for
    # asynq 1.x configures the .asynq of such children like any child mock.
    @asynq()
    def read(key: int) -> Any:
        return (yield targets.Service().get.asynq(key))

    with patch("mock_targets.Service") as service_cls:
        service = service_cls.return_value
        assert not has_async_fn(service)
        assert not has_async_fn(service.get)
        service.get.asynq.return_value = ConstFuture(9)
        assert read(3) == 9
        service.get.asynq.assert_called_once_with(3)


# -- .asynq has no attributes of its own ------------------------------------------


@pytest.mark.parametrize("attribute", ["asynq", "asyncio"])
def test_reading_an_attribute_of_asynq_points_to_the_mock(attribute: str) -> None:
    with patch("mock_targets.fetch_user") as fetch_user:
        caller = getattr(fetch_user, attribute)
        for name in ("return_value", "side_effect", "assert_called_once_with", "call_count"):
            expected = rf"read '{name}' on the mock itself \(mock.{name}\)"
            with pytest.raises(TypeError, match=expected):
                getattr(caller, name)
        # Private and dunder names stay AttributeErrors, so introspection works.
        assert getattr(caller, "_anything", "default") == "default"
        assert not hasattr(caller, "__wrapped__")


@pytest.mark.parametrize("attribute", ["asynq", "asyncio"])
def test_setting_an_attribute_of_asynq_points_to_the_mock(attribute: str) -> None:
    with patch("mock_targets.fetch_user") as fetch_user:
        caller = getattr(fetch_user, attribute)
        with pytest.raises(TypeError, match=r"configure the mock itself \(mock.return_value = "):
            caller.return_value = 3
        with pytest.raises(TypeError, match="side_effect"):
            caller.side_effect = ValueError
        with pytest.raises(TypeError, match="no attributes of its own"):
            del caller.return_value
        fetch_user.return_value = "still works"
        assert fetch_user.asynq().value() == "still works"


def test_asynq_of_a_mock_may_be_replaced_as_in_asynq_1x() -> None:
    with patch("mock_targets.fetch_user") as fetch_user:
        fetch_user.asynq = MagicMock(return_value=ConstFuture("replaced"))
        assert targets.fetch_name(1) == "REPLACED"
        fetch_user.asynq.assert_called_once_with(1)
        fetch_user.asyncio = lambda uid: "coroutine"
        assert targets.fetch_user.asyncio(2) == "coroutine"
        assert fetch_user.call_count == 0
    with patch("mock_targets.fetch_user") as other:  # another mock: not replaced
        other.return_value = "mocked"
        assert targets.fetch_name(1) == "MOCKED"


def test_repr_of_asynq_names_the_mock() -> None:
    with patch("mock_targets.fetch_user") as fetch_user:
        assert repr(fetch_user.asynq) == f"<.asynq of {fetch_user!r}>"
        assert repr(fetch_user.asyncio) == f"<.asyncio of {fetch_user!r}>"


# -- asyncio ----------------------------------------------------------------------------


def test_asyncio_returns_a_coroutine_of_the_mocks_result() -> None:
    with patch("mock_targets.fetch_user", return_value="mocked") as fetch_user:
        assert asyncio.run(fetch_user.asyncio(5)) == "mocked"
        fetch_user.assert_called_once_with(5)
        fetch_user.side_effect = ValueError("async boom")
        coroutine = fetch_user.asyncio(6)
        with pytest.raises(ValueError, match="async boom"):
            asyncio.run(coroutine)


def test_code_under_test_run_through_asyncio_sees_the_mock() -> None:
    with patch("mock_targets.fetch_user", return_value="mocked") as fetch_user:
        assert asyncio.run(targets.fetch_name.asyncio(1)) == "MOCKED"
        fetch_user.assert_called_once_with(1)


# -- methods, classmethods, staticmethods ----------------------------------------------


def test_patching_an_asynq_method() -> None:
    service = targets.Service()
    with patch.object(targets.Service, "get", return_value=100) as get:
        assert service.get(1) == 100
        assert service.get.asynq(2).value() == 100
        assert targets.use_service(service, 3)[0] == 100
        # A mock does not bind (as in unittest.mock): no self in the calls.
        assert get.mock_calls == [call(1), call(2), call(3)]
    assert service.get(3) == 6
    assert service.get.asynq(3).value() == 6


def test_patching_an_asynq_classmethod_and_staticmethod() -> None:
    class Sub(targets.Service):
        pass

    with (
        patch.object(targets.Service, "make", return_value="made") as make,
        patch.object(targets.Service, "double", return_value="doubled") as double,
    ):
        assert targets.Service.make(1) == "made"
        assert Sub.make.asynq(2).value() == "made"
        assert targets.Service().double.asynq(3).value() == "doubled"
        assert targets.use_service(targets.Service(), 4)[1:] == ("made", "doubled")
        assert make.mock_calls == [call(1), call(2), call(4)]
        assert double.mock_calls == [call(3), call(4)]
    # The originals are back, binding as before.
    assert targets.Service.make(1) == ("Service", 1)
    assert Sub.make.asynq(1).value() == ("Sub", 1)
    assert Sub().double.asynq(5).value() == 10


def test_patching_an_inherited_method_on_a_subclass_restores_inheritance() -> None:
    class Sub(targets.Service):
        pass

    with patch.object(Sub, "get", return_value="sub only"):
        assert Sub().get(1) == "sub only"
        assert targets.Service().get(1) == 2
    assert "get" not in Sub.__dict__
    assert Sub().get.asynq(2).value() == 4


def test_patching_a_method_of_one_instance() -> None:
    service, other = targets.Service(), targets.Service()
    with patch.object(service, "get", return_value="instance") as get:
        assert targets.use_service(service, 1)[0] == "instance"
        assert targets.use_service(other, 1)[0] == 2
        get.assert_called_once_with(1)
    assert targets.use_service(service, 1)[0] == 2


def test_patching_a_plain_method_gives_it_asynq_too() -> None:
    with patch.object(targets.Service, "plain", return_value=0) as plain:
        assert targets.Service().plain.asynq(1).value() == 0
        plain.assert_called_once_with(1)
    assert not hasattr(targets.Service().plain, "asynq")


# -- the forms: context manager, decorators, start/stop ------------------------------


def test_function_decorator_passes_mocks_bottom_up() -> None:
    @patch("mock_targets.fetch_user", return_value="user mock")
    @patch("mock_targets.plain_double", return_value="double mock")
    def check(double: Any, fetch_user: Any, extra: str = "") -> Any:
        return targets.fetch_name(1), targets.plain_double(2), double, fetch_user, extra

    name, doubled, double, fetch_user, extra = check(extra="kw")
    assert (name, doubled, extra) == ("USER MOCK", "double mock", "kw")
    assert has_async_fn(double) and has_async_fn(fetch_user)
    double.assert_called_once_with(2)
    assert targets.fetch_user is ORIGINAL_FETCH_USER


def test_function_decorator_with_new_passes_no_argument() -> None:
    @patch("mock_targets.fetch_user", new=lambda uid: f"fake {uid}")
    def check() -> Any:
        return targets.fetch_name(1)

    assert check() == "FAKE 1"


def test_decorating_a_generator_keeps_the_patch_for_its_whole_run() -> None:
    @asynq()
    @patch("mock_targets.fetch_user", return_value="mocked")
    def names(fetch_user: Any) -> Any:
        first = yield targets.fetch_name.asynq(1)
        second = yield targets.fetch_name.asynq(2)
        return first, second, fetch_user.call_count

    assert names() == ("MOCKED", "MOCKED", 2)
    assert targets.fetch_user is ORIGINAL_FETCH_USER
    assert isinstance(names.asynq(), AsyncTask)


def test_class_decorator_patches_each_test_method_with_its_own_mock() -> None:
    @patch("mock_targets.fetch_user", return_value="mocked")
    class Suite:
        def test_one(self, fetch_user: Any) -> Any:
            return targets.fetch_name(1), fetch_user

        def test_two(self, fetch_user: Any) -> Any:
            return targets.fetch_name(2), fetch_user

        def helper(self) -> Any:
            return targets.fetch_name(3)

    suite = Suite()
    one, mock_one = suite.test_one()
    two, mock_two = suite.test_two()
    assert (one, two) == ("MOCKED", "MOCKED")
    assert mock_one is not mock_two
    assert suite.helper() == "USER 3"


def test_class_decorator_honours_test_prefix() -> None:
    patch.TEST_PREFIX = "check"
    try:

        @patch("mock_targets.fetch_user", return_value="mocked")
        class Suite:
            def check_it(self, fetch_user: Any) -> Any:
                return targets.fetch_name(1)

            def test_it(self) -> Any:
                return targets.fetch_name(1)

    finally:
        patch.TEST_PREFIX = "test"
    assert Suite().check_it() == "MOCKED"
    assert Suite().test_it() == "USER 1"


def test_start_and_stop() -> None:
    patcher = patch("mock_targets.fetch_user", return_value="started")
    fetch_user = patcher.start()
    try:
        assert targets.fetch_name(1) == "STARTED"
        assert fetch_user.asynq(1).value() == "started"
    finally:
        patcher.stop()
    assert targets.fetch_user is ORIGINAL_FETCH_USER
    assert patcher.stop() is None  # stopping twice is harmless, as in unittest.mock
    again = patcher.start()
    try:
        assert again is not fetch_user
        assert has_async_fn(again)
    finally:
        patcher.stop()


def test_stopall_stops_ours_and_unittests_in_one_registry() -> None:
    patch("mock_targets.fetch_user").start()
    patch.object(targets.Service, "get").start()
    unittest.mock.patch("mock_targets.plain_double").start()
    patch.stopall()
    assert targets.fetch_user is ORIGINAL_FETCH_USER
    assert targets.Service().get(1) == 2
    assert targets.plain_double(2) == 4

    patch("mock_targets.fetch_user").start()
    unittest.mock.patch.stopall()
    assert targets.fetch_user is ORIGINAL_FETCH_USER


def test_create_true_adds_a_missing_attribute_and_removes_it_after() -> None:
    with patch("mock_targets.not_there", create=True, return_value=1) as created:
        assert targets.not_there.asynq().value() == 1  # type: ignore[attr-defined]
        assert has_async_fn(created)
    assert not hasattr(targets, "not_there")


def test_mock_configuration_keywords_pass_through() -> None:
    with patch("mock_targets.fetch_user", **{"return_value.upper.return_value": "X"}) as m:
        assert m.asynq(1).value().upper() == "X"
    with patch("mock_targets.fetch_user", new_callable=lambda: MagicMock(return_value=5)) as m:
        assert m.asynq(1).value() == 5


def test_non_callable_mocks_get_no_asynq() -> None:
    with patch("mock_targets.LIMIT", spec=True) as limit:
        assert not callable(limit)
        assert not has_async_fn(limit)
        with pytest.raises(AttributeError):
            limit.asynq


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["nodots", 123, None])
def test_patch_needs_a_dotted_target(target: Any) -> None:
    with pytest.raises(TypeError, match=r"Need a valid target to patch. You supplied: "):
        patch(target)


def test_patch_object_needs_the_object_itself_when_it_starts() -> None:
    # As in asynq 1.x, the patch is made; it fails when it starts.
    by_name = patch.object("mock_targets", "fetch_user")
    bad_attribute = patch.object(targets, 3)  # type: ignore[arg-type]

    @patch.object("mock_targets", "fetch_user")
    def never_run() -> None:
        pass

    with pytest.raises(TypeError, match=r"patch.object\(\): 'mock_targets' must be the actual"):
        by_name.start()
    with pytest.raises(TypeError, match=r"patch.object\(\): the attribute name must be a str"):
        bad_attribute.start()
    with pytest.raises(TypeError, match=r"patch.object\(\): 'mock_targets' must be the actual"):
        never_run()


def test_mocksignature_is_accepted_and_ignored_as_in_asynq_1x() -> None:
    with patch("mock_targets.fetch_user", new=lambda uid: "new", mocksignature=False):
        assert targets.fetch_user.asynq(1).value() == "new"
    with patch.object(targets, "fetch_user", mocksignature=True) as fetch_user:
        fetch_user.return_value = "mocked"
        assert targets.fetch_name(1) == "MOCKED"
        assert isinstance(fetch_user.mocksignature, MagicMock)  # not set from the argument


def test_misuse_raises_as_unittest_mock_does() -> None:
    with pytest.raises(AttributeError, match="does not have the attribute 'missing'"):
        patch("mock_targets.missing").start()
    with pytest.raises(ModuleNotFoundError):
        patch("no_such_module_here.attribute").start()
    with pytest.raises(ValueError, match="Cannot use 'new' and 'new_callable' together"):
        patch("mock_targets.fetch_user", new=1, new_callable=MagicMock)
    with pytest.raises(TypeError, match="Can't pass kwargs to a mock we aren't creating"):
        patch("mock_targets.fetch_user", new=MagicMock(), return_value=1).start()
    assert targets.fetch_user is ORIGINAL_FETCH_USER


def test_default_is_the_unittest_sentinel() -> None:
    with patch("mock_targets.fetch_user", new=DEFAULT) as fetch_user:
        assert has_async_fn(fetch_user)
