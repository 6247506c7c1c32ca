"""Mocking in tests the 1.6 way: ``asynq.mock.patch`` on functions and methods
that the code under test calls through ``.asynq``."""

from __future__ import annotations

from typing import Any

import compat_app as app
import pytest

from asynq import ConstFuture, FutureBase, async_call, asynq, has_async_fn
from asynq.mock import patch


@patch("compat_app.mc_get")
def test_patch_decorator_on_a_function_used_through_asynq(mock_get: Any) -> None:
    mock_get.side_effect = lambda key: {"answer:1:author": 5, "user:5:name": "eve"}[key]
    assert app.all_author_names([1]) == ["eve"]
    assert [call.args for call in mock_get.call_args_list] == [
        ("answer:1:author",),
        ("user:5:name",),
    ]
    assert app.store.requests == []  # the real store was never reached


def test_patch_as_context_manager_records_calls_on_the_mock_itself() -> None:
    app.seed_answers(2)
    with patch("compat_app.name_of_user") as mock_name:
        mock_name.return_value = "mocked"
        assert app.all_author_names([0, 1]) == ["mocked", "mocked"]
    mock_name.assert_any_call(100)
    mock_name.assert_called_with(101)
    assert mock_name.call_count == 2
    assert app.all_author_names([0]) == ["user0"]  # unpatched again


def test_patch_of_a_method_called_as_self_method_asynq() -> None:
    with patch.object(app.User, "name", return_value="mocked") as mock_name:
        assert app.User(3).describe() == "User 3 (mocked)"
    mock_name.assert_called_once_with()
    assert "User.name(3)" not in app.calls


def test_patch_of_a_method_reached_through_super() -> None:
    app.seed_user("admin", 1, "al")
    with patch.object(app.User, "load") as mock_load:
        mock_load.return_value = {"oid": 1}
        admin = app.Admin.get(1)
    assert admin.fields == {"oid": 1, "admin": True}
    assert mock_load.call_count == 1
    assert app.calls == ["Admin.get(1)", "Admin.load(1)"]


def test_patch_of_a_classmethod_and_of_a_staticmethod() -> None:
    sentinel_user = app.User(42)
    with patch.object(app.User, "get", return_value=sentinel_user) as mock_get:

        @asynq()
        def two() -> Any:
            return (yield app.User.get.asynq(1), app.User(0).get.asynq(2))

        assert two() == (sentinel_user, sentinel_user)
    assert [call.args for call in mock_get.call_args_list] == [(1,), (2,)]

    app.store.data["mocked:exists"] = True
    app.store.data["mocked:name"] = "zed"
    with patch.object(app.Model, "key_for", side_effect=lambda *parts: f"mocked:{parts[-1]}") as m:
        assert app.User.get(9).fields == {"oid": 9, "name": "zed"}
    assert sorted(call.args for call in m.call_args_list) == [
        ("user", 9, "exists"),
        ("user", 9, "name"),
    ]


def test_side_effect_exception_surfaces_at_the_callers_yield() -> None:
    app.seed_answers(3)
    caught: list[BaseException] = []

    @asynq()
    def tolerant(aid: int) -> Any:
        try:
            return (yield app.author_of_answer.asynq(aid))
        except LookupError as error:
            caught.append(error)
            return None

    with patch("compat_app.author_of_answer", side_effect=KeyError("gone")):
        with pytest.raises(KeyError, match="gone"):
            app.all_author_names([0, 1])
        assert tolerant(0) is None
    assert isinstance(caught[0], KeyError)


def test_side_effect_list_answers_in_call_order() -> None:
    with patch("compat_app.fetch_score", side_effect=[1, 2, 3]) as mock_score:

        @asynq()
        def three() -> Any:
            return (yield [app.fetch_score.asynq(uid) for uid in "abc"])

        assert three() == [1, 2, 3]
    assert [call.args for call in mock_score.call_args_list] == [("a",), ("b",), ("c",)]


def test_new_plain_function_is_made_async() -> None:
    with patch("compat_app.mc_get", new=lambda key: key.upper()):
        assert app.mc_get("abc") == "ABC"
        assert app.mc_get.asynq("abc").value() == "ABC"
        assert app.author_of_answer(1) == "ANSWER:1:AUTHOR"
        assert has_async_fn(app.mc_get)


def test_new_generator_function_replacing_an_asynq_function() -> None:
    def fake_get(key: str) -> Any:
        value = yield ConstFuture(len(key))
        return value

    with patch("compat_app.mc_get", fake_get):
        assert app.author_of_answer(7) == len("answer:7:author")


def test_patched_asynq_returns_a_computed_future_of_the_return_value() -> None:
    with patch("compat_app.bonus", return_value=5) as mock_bonus:
        future = app.bonus.asynq(1)
        assert isinstance(future, FutureBase)
        assert future.is_computed() and future.value() == 5
        assert async_call.asynq(app.bonus, 2).value() == 5
    assert mock_bonus.call_count == 2


def test_configuring_asynq_instead_of_the_mock_is_an_error_pointing_to_the_mock() -> None:
    with patch("compat_app.mc_get") as mock_get:
        with pytest.raises(TypeError, match=r"return_value.*mock itself"):
            mock_get.asynq.return_value = 3
        with pytest.raises(TypeError, match="mock"):
            mock_get.asynq.assert_called_once_with("x")
        mock_get.return_value = 3
        assert app.mc_get.asynq("x").value() == 3
        mock_get.assert_called_once_with("x")


def test_start_stop_and_stopall() -> None:
    original = app.mc_get
    first = patch("compat_app.mc_get", return_value=1)
    first.start()
    patch.object(app, "fetch_score", return_value=2).start()
    assert app.author_of_answer(0) == 1
    assert app.fetch_score(0) == 2
    first.stop()
    assert app.mc_get is original
    patch.stopall()
    assert app.fetch_score.__name__ == "fetch_score"


def test_patch_dict_on_the_store() -> None:
    with patch.dict(app.store.data, {"answer:0:author": 7}):
        assert app.author_of_answer(0) == 7
    assert "answer:0:author" not in app.store.data


@patch("compat_app.mc_get", return_value="v")
class TestClassDecoratedThe1xWay:
    """Every method whose name starts with patch.TEST_PREFIX gets the mock."""

    def test_first(self, mock_get: Any) -> None:
        assert app.author_of_answer(1) == "v"
        mock_get.assert_called_once_with("answer:1:author")

    def test_second(self, mock_get: Any) -> None:
        assert app.name_of_user(1) == "v"
        assert mock_get.call_count == 1  # a fresh mock per test

    def helper(self) -> Any:
        return app.mc_get

    def test_helpers_are_not_patched(self, mock_get: Any) -> None:
        assert not hasattr(TestClassDecoratedThe1xWay.helper, "patchings")
        assert self.helper() is mock_get  # a patched helper would get a mock argument
