"""Deadlines take seconds, and run() a future."""

from collections.abc import Generator
from typing import Any

from asynq_core import asynq, deadline, run, run_async


@asynq()
def double(value: int) -> Generator[Any, Any, int]:
    yield None
    return value * 2


deadline("1")  # error: mypy[arg-type] pyright[reportArgumentType]
run(double(2))  # error: mypy[arg-type] pyright[reportArgumentType]
run(double.asynq(2), deadline="soon")  # error: mypy[arg-type] pyright[reportArgumentType]
label: str = run(double.asynq(2))  # error: mypy[assignment] pyright[reportAssignmentType]
run_async(double(2))  # error: mypy[arg-type] pyright[reportArgumentType]
