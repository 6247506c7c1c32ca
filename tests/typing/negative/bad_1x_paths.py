"""Through asynq 1.x's module paths the checkers see the parts' real types:
wrong uses are caught there too, and a name the module lacks is an error."""

from collections.abc import Generator
from typing import Any

import asynq.decorators
import asynq.tools
from asynq import debug
from asynq.batching import BatchItemBase
from asynq.tools import amap


@asynq.decorators.asynq()
def length(word: str) -> Generator[Any, Any, int]:
    yield None
    return len(word)


amap(length, [1, 2])  # error: mypy[arg-type] pyright[reportArgumentType]
asynq.tools.asorted([1, 2], key=length)  # error: mypy[arg-type] pyright[reportArgumentType]
name: str = length("fig")  # error: mypy[assignment] pyright[reportAssignmentType]
length.asynq(3)  # error: mypy[arg-type] pyright[reportArgumentType]
debug.dump_error("not an exception")  # error: mypy[arg-type] pyright[reportArgumentType]


def as_text(item: BatchItemBase[int]) -> BatchItemBase[str]:
    return item  # error: mypy[return-value] pyright[reportReturnType]


asynq.decorators.no_such_decorator  # error: mypy[attr-defined] pyright[reportAttributeAccessIssue]


def import_a_missing_name() -> None:
    # error: mypy[attr-defined] pyright[reportAttributeAccessIssue]
    from asynq.debug import no_such_function  # noqa: F401
