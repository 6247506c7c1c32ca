"""asynq_mock.patch is typed like unittest.mock.patch: the patch objects are
context managers and decorators, and decorated functions keep their types."""

import sys
from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type, reveal_type

from asynq_core import FutureBase, asynq
from asynq_mock import MagicMock, patch


class Store:
    @asynq()
    def load(self, key: str) -> Generator[Any, Any, str]:
        yield None
        return f"real {key}"


@asynq()
def describe(store: Store, key: str) -> Generator[Any, Any, str]:
    value = yield store.load.asynq(key)
    return f"<{value}>"


def check_with_context_manager() -> None:
    with patch.object(Store, "load") as load:
        # The installed mock, as unittest.mock's: Any to the checkers.
        load.return_value = "mocked"
        assert describe(Store(), "k") == "<mocked>"
        assert isinstance(load.asynq("k"), FutureBase)
    assert describe(Store(), "k") == "<real k>"


@asynq()
@patch.object(Store, "load")
def check_with_decorator(load: MagicMock) -> Generator[Any, Any, str]:
    load.return_value = "decorated"
    described: str = yield describe.asynq(Store(), "x")
    return described


@patch.dict(sys.modules, {"not_a_real_module": None})
def check_with_patched_dict() -> bool:
    return "not_a_real_module" in sys.modules


check_with_context_manager()
# patch's decorator form returns a function of unknown parameters, as
# unittest.mock's: the result type survives @asynq() for pyright; to mypy the
# Any in such a signature makes the decorated function Any.
# revealed-mypy: Any
# revealed-pyright: str
reveal_type(check_with_decorator())
assert_type(check_with_patched_dict(), bool)

assert check_with_decorator() == "<decorated>"
assert check_with_patched_dict()
assert "not_a_real_module" not in sys.modules
