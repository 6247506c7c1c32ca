"""Results have the function's return type: using them as another is an error.

A marker ``# error: mypy[code] pyright[rule]`` names the error each checker
must report on its line (or, on a line of its own, on the next line).
"""

from collections.abc import Generator
from typing import Any

from asynq_core import AsyncTask, ConstFuture, FutureBase, async_proxy, asynq


@asynq()
def get_name(uid: int) -> Generator[Any, Any, str]:
    yield None
    return str(uid)


@async_proxy()
def get_count(key: str) -> FutureBase[int]:
    return ConstFuture(len(key))


def takes_int(value: int) -> int:
    return value


takes_int(get_name(1))  # error: mypy[arg-type] pyright[reportArgumentType]
task: AsyncTask[int] = get_name.asynq(1)  # error: mypy[assignment] pyright[reportAssignmentType]
# error: mypy[assignment] pyright[reportAssignmentType]
future: FutureBase[str] = get_count.asynq("k")
takes_int(ConstFuture("x").value())  # error: mypy[arg-type] pyright[reportArgumentType]
