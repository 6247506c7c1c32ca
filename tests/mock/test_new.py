"""What a patch installs for a ``new`` given by the caller."""

from __future__ import annotations

import functools
from typing import Any

import mock_targets as targets
import pytest

from asynq_core import AsyncTask, ConstFuture, asynq, get_async_fn, has_async_fn, is_pure_async_fn
from asynq_mock import MagicMock, patch


def test_a_plain_function_is_made_async() -> None:
    def fake_fetch(uid: int) -> str:
        """A fake."""
        return f"fake {uid}"

    with patch("mock_targets.fetch_user", new=fake_fetch) as installed:
        assert installed is targets.fetch_user
        assert has_async_fn(installed)
        assert installed(1) == "fake 1"
        future = installed.asynq(2)
        assert isinstance(future, ConstFuture) and future.value() == "fake 2"
        assert get_async_fn(installed) is installed.asynq
        assert targets.fetch_name(3) == "FAKE 3"
        assert installed.__name__ == "fake_fetch"
        assert installed.__doc__ == "A fake."
        assert installed.__wrapped__ is fake_fetch
    assert targets.fetch_name(3) == "USER 3"


def test_the_patcher_keeps_the_function_it_was_given() -> None:
    def fake_fetch(uid: int) -> str:
        return "fake"

    patcher = patch("mock_targets.fetch_user", new=fake_fetch)
    with patcher:
        assert patcher.new is fake_fetch
        assert targets.fetch_user is not fake_fetch


def test_an_error_of_the_plain_function_surfaces_at_the_yield() -> None:
    def failing(uid: int) -> str:
        raise LookupError(f"no user {uid}")

    @asynq()
    def caller() -> Any:
        try:
            yield targets.fetch_user.asynq(4)
        except LookupError as error:
            return str(error)

    with patch("mock_targets.fetch_user", new=failing):
        assert caller() == "no user 4"
        with pytest.raises(LookupError):
            targets.fetch_user(1)


def test_a_plain_function_replacing_a_method_binds_like_a_function() -> None:
    service = targets.Service()
    with patch.object(targets.Service, "get", new=lambda self, key: (self, key)):
        assert service.get(1) == (service, 1)
        assert service.get.asynq(2).value() == (service, 2)
        assert targets.use_service(service, 3)[0] == (service, 3)
        assert targets.Service.get(service, 4) == (service, 4)
        assert has_async_fn(service.get)


def test_staticmethod_and_classmethod_objects_keep_their_kind() -> None:
    class Sub(targets.Service):
        pass

    with (
        patch.object(targets.Service, "double", new=staticmethod(lambda key: -key)),
        patch.object(targets.Service, "make", new=classmethod(lambda cls, key: (cls, key))),
    ):
        assert targets.Service.double(3) == -3
        assert targets.Service().double.asynq(4).value() == -4
        assert Sub.make.asynq(5).value() == (Sub, 5)
        assert Sub().make(6) == (Sub, 6)
        assert targets.use_service(targets.Service(), 7)[1:] == ((targets.Service, 7), -7)
    assert targets.Service.double(3) == 6


def test_builtins_and_partials_are_made_async_and_do_not_bind() -> None:
    with patch("mock_targets.plain_double", new=abs):
        assert targets.plain_double(-3) == 3
        assert targets.plain_double.asynq(-4).value() == 4
    with patch.object(targets.Service, "plain", new=abs):
        assert targets.Service().plain(-2) == 2
        assert targets.Service().plain.asynq(-5).value() == 5
    with patch("mock_targets.plain_double", new=functools.partial(max, 10)):
        assert targets.plain_double(3) == 10
        assert targets.plain_double.asynq(30).value() == 30


def test_a_generator_function_replacing_an_asynq_function_becomes_one() -> None:
    def fake_name(uid: int) -> Any:
        user = yield targets.fetch_user.asynq(uid)
        return f"{user}!"

    with patch("mock_targets.fetch_name", new=fake_name) as installed:
        assert has_async_fn(installed)
        task = targets.fetch_name.asynq(1)
        assert isinstance(task, AsyncTask)
        assert task.value() == "user 1!"
        assert targets.fetch_name(2) == "user 2!"
        assert targets.fetch_names([3, 4]) == ["user 3!", "user 4!"]


def test_a_generator_function_replacing_a_pure_asynq_function_is_pure() -> None:
    def fake_pure(uid: int) -> Any:
        value = yield ConstFuture(uid * 2)
        return value

    with patch("mock_targets.pure_fetch", new=fake_pure):
        assert is_pure_async_fn(targets.pure_fetch)
        task = targets.pure_fetch(4)
        assert isinstance(task, AsyncTask)
        assert task.value() == 8


def test_a_generator_function_replacing_a_plain_generator_stays_a_generator() -> None:
    def fake_count(n: int) -> Any:
        yield from ("a", "b")[:n]

    with patch("mock_targets.count_up", new=fake_count):
        assert list(targets.count_up(2)) == ["a", "b"]
        assert list(targets.count_up.asynq(1).value()) == ["a"]


def test_a_mock_given_as_new_answers_asynq() -> None:
    given = MagicMock(return_value="given")
    with patch("mock_targets.fetch_user", new=given) as installed:
        assert installed is given
        assert targets.fetch_name(1) == "GIVEN"
        assert has_async_fn(given)
        given.assert_called_once_with(1)
    # Reusing the same mock in another patch is fine.
    with patch("mock_targets.fetch_user", given):
        assert targets.fetch_user.asynq(2).value() == "given"


def test_an_asynq_function_given_as_new_is_installed_unchanged() -> None:
    @asynq()
    def replacement(uid: int) -> Any:
        value = yield ConstFuture(uid)
        return f"async replacement {value}"

    with patch("mock_targets.fetch_user", new=replacement):
        assert targets.fetch_user is replacement
        assert targets.fetch_name(1) == "ASYNC REPLACEMENT 1"


@pytest.mark.parametrize(
    "new", [5, None, "text", {"a": 1}, targets.Service, MagicMock], ids=lambda new: repr(new)
)
def test_values_classes_and_other_objects_are_installed_unchanged(new: Any) -> None:
    with patch("mock_targets.LIMIT", new=new):
        assert targets.LIMIT is new
    assert targets.LIMIT == 10


def test_a_callable_object_is_installed_unchanged() -> None:
    class Callable:
        def __call__(self, uid: int) -> str:
            return "called"

    given = Callable()
    with patch("mock_targets.plain_double", new=given):
        assert targets.plain_double is given
        assert not has_async_fn(targets.plain_double)


def test_repr_of_a_replacement_names_the_function() -> None:
    with patch("mock_targets.plain_double", new=abs):
        assert repr(targets.plain_double) == "<async replacement <built-in function abs>>"
