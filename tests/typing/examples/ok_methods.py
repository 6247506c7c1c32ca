"""Types through asynq methods: bound on instances, and the 1.x spelling with the
decorator above @classmethod / @staticmethod.

Where mypy cannot follow (see the README's Typing section): a classmethod
spelled ``-> Generator[...]`` is Any to mypy (revealed below), and a
staticmethod reached through an instance is checked as a bound method by
mypy, so that case is in pyright_only_methods.py.
"""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type, reveal_type

from asynq_core import AsyncTask, ConstFuture, FutureBase, async_proxy, asynq


class Repository:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @asynq()
    def name(self, uid: int) -> Generator[Any, Any, str]:
        yield None
        return f"{self.prefix}{uid}"

    @asynq()
    def names(self, uids: list[int]) -> Generator[Any, Any, list[str]]:
        names = yield [self.name.asynq(uid) for uid in uids]
        return list(names)

    @asynq(pure=True)
    def pure_name(self, uid: int) -> Generator[Any, Any, str]:
        name = yield self.name.asynq(uid)
        return str(name)

    @async_proxy()
    def cached(self, uid: int) -> FutureBase[int]:
        return ConstFuture(uid * 10)

    # The 1.x spelling: the asynq decorator above @classmethod. With a plain
    # return annotation both checkers type it fully.
    @asynq()
    @classmethod
    def default_prefix(cls, suffix: str) -> str:
        return f"{cls.__name__.lower()}-{suffix}"

    @asynq()
    @classmethod
    def load(cls, uid: int) -> Generator[Any, Any, str]:
        name = yield cls.default_prefix.asynq(str(uid))
        return str(name)

    @asynq()
    @staticmethod
    def normalize(uid: int) -> Generator[Any, Any, int]:
        yield None
        return abs(uid)


repo = Repository("u")

assert_type(repo.name(1), str)
assert_type(repo.name.asynq(1), AsyncTask[str])
assert_type(repo.names([1, 2]), list[str])
assert_type(Repository.name(repo, 3), str)
assert_type(repo.pure_name(4), AsyncTask[str])
assert_type(repo.cached(5), int)
assert_type(repo.cached.asynq(5), FutureBase[int])
assert_type(Repository.default_prefix("x"), str)
assert_type(Repository.default_prefix.asynq("x"), AsyncTask[str])
assert_type(repo.default_prefix("y"), str)
assert_type(Repository.normalize(-6), int)
assert_type(Repository.normalize.asynq(-6), AsyncTask[int])

# revealed-mypy: AsyncDecoratorBinder[[uid: int], str]
# revealed-pyright: AsyncDecoratorBinder[(uid: int), str]
reveal_type(repo.name)
# revealed-mypy: Any
# revealed-pyright: AsyncDecoratorBinder[(uid: int), str]
reveal_type(Repository.load)

assert repo.name(1) == "u1"
assert repo.names([1, 2]) == ["u1", "u2"]
assert Repository.name(repo, 3) == "u3"
assert repo.pure_name(4).value() == "u4"
assert repo.cached(5) == 50
assert repo.cached.asynq(5).value() == 50
assert Repository.default_prefix("x") == "repository-x"
assert repo.default_prefix("y") == "repository-y"
assert Repository.normalize(-6) == 6
assert Repository.load(7) == "repository-7"
