"""Contexts: AsyncScopedValue is generic in its value, AsyncContext subclasses
enter as themselves."""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

from asynq_contexts import AsyncContext, AsyncScopedValue, NonAsyncContext, async_override
from asynq_core import asynq


class Counter(AsyncContext):
    def __init__(self) -> None:
        self.resumes = 0

    def resume(self) -> None:
        self.resumes += 1

    def pause(self) -> None:
        pass


class Settings:
    verbose = False


level = AsyncScopedValue(0)
assert_type(level, AsyncScopedValue[int])
assert_type(level.get(), int)
assert_type(level(), int)


@asynq()
def read_level() -> Generator[Any, Any, tuple[int, bool]]:
    with level.override(5), async_override(Settings, "verbose", True):
        yield None
        return (level.get(), Settings.verbose)


with Counter() as counter:
    assert_type(counter, Counter)
with NonAsyncContext() as quiet:
    assert_type(quiet, NonAsyncContext)

assert_type(read_level(), tuple[int, bool])

assert read_level() == (5, True)
assert level.get() == 0
assert counter.resumes == 1
