"""Wrong arguments to asynq functions are errors at the call site, in every form."""

from collections.abc import Generator
from typing import Any

from asynq_core import asynq


@asynq()
def get_name(uid: int) -> Generator[Any, Any, str]:
    yield None
    return str(uid)


class Repository:
    @asynq()
    def name(self, uid: int) -> Generator[Any, Any, str]:
        yield None
        return str(uid)

    @asynq()
    @classmethod
    def create(cls, label: str) -> str:
        return label

    @asynq()
    @staticmethod
    def normalize(uid: int) -> Generator[Any, Any, int]:
        yield None
        return uid


repo = Repository()
get_name("1")  # error: mypy[arg-type] pyright[reportArgumentType]
get_name.asynq("1")  # error: mypy[arg-type] pyright[reportArgumentType]
coroutine = get_name.asyncio(1, 2)  # error: mypy[call-arg] pyright[reportCallIssue]
get_name()  # error: mypy[call-arg] pyright[reportCallIssue]
repo.name("1")  # error: mypy[arg-type] pyright[reportArgumentType]
repo.name.asynq(uid="1")  # error: mypy[arg-type] pyright[reportArgumentType]
Repository.name(repo)  # error: mypy[call-arg] pyright[reportCallIssue]
Repository.create(1)  # error: mypy[arg-type] pyright[reportArgumentType]
Repository.normalize.asynq("1")  # error: mypy[arg-type] pyright[reportArgumentType]
