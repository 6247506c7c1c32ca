"""An AsyncScopedValue holds values of one type."""

from asynq_contexts import AsyncScopedValue

level = AsyncScopedValue(0)
level.set("high")  # error: mypy[arg-type] pyright[reportArgumentType]
level.override(None)  # error: mypy[arg-type] pyright[reportArgumentType]
name: str = level.get()  # error: mypy[assignment] pyright[reportAssignmentType]
