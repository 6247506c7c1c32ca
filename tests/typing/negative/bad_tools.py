"""The tools check their element functions against the elements."""

from collections.abc import Generator
from typing import Any

from asynq_core import asynq
from asynq_tools import afilter, alru_cache, amap, amax, asorted


@asynq()
def length(word: str) -> Generator[Any, Any, int]:
    yield None
    return len(word)


def plain(word: str) -> int:
    return len(word)


amap(length, [1, 2])  # error: mypy[arg-type] pyright[reportArgumentType]
afilter(length, [1, 2])  # error: mypy[arg-type] pyright[reportArgumentType]
asorted([1, 2], key=length)  # error: mypy[arg-type] pyright[reportArgumentType]
amax(["a"], key=length) + 1  # error: mypy[operator] pyright[reportOperatorIssue]

# The caches decorate asynq functions only (put them above @asynq()).
alru_cache()(plain)  # error: mypy[arg-type] pyright[reportArgumentType]
