"""A pure asynq function returns its task when called and has no ``.asynq``."""

from collections.abc import Generator
from typing import Any

from asynq_core import asynq


@asynq(pure=True)
def load(key: str) -> Generator[Any, Any, bytes]:
    yield None
    return key.encode()


def size(data: bytes) -> int:
    return len(data)


load.asynq("k")  # error: mypy[attr-defined] pyright[reportAttributeAccessIssue]
size(load("k"))  # error: mypy[arg-type] pyright[reportArgumentType]
size(load("k").value())
