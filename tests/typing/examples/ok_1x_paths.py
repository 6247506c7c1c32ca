"""asynq 1.x's module paths (``asynq.tools``, ``import asynq.decorators``, ...)
are typed as the parts' modules they are at run time: each name has the type
it has in its part, in every spelling of the import."""

import io
from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

import asynq._debug
import asynq.async_task
import asynq.asynq_to_async
import asynq.batching
import asynq.contexts
import asynq.debug
import asynq.decorators
import asynq.futures
import asynq.generator
import asynq.mock
import asynq.mock_
import asynq.profiler
import asynq.scheduler
import asynq.scoped_value
import asynq.tools
import asynq.tracing
import asynq.utils
import asynq_batching
import asynq_contexts
import asynq_core
import asynq_core.decorators
import asynq_core.tracing
import asynq_generator
import asynq_tools
from asynq import debug, decorators, tools
from asynq._debug import DebugOptions
from asynq.batching import BatchItemBase, DebugBatchItem, sync
from asynq.debug import dump_error, format_error
from asynq.decorators import AsyncDecorator, PureAsyncDecoratorBinder
from asynq.tools import AsyncTimer, amap


@asynq.decorators.asynq()
def length(word: str) -> Generator[Any, Any, int]:
    yield None
    return len(word)


class Repository:
    @decorators.asynq(pure=True)
    def label(self, uid: int) -> Generator[Any, Any, str]:
        yield None
        return f"u{uid}"


class EchoBatch(asynq.batching.BatchBase):
    def _try_switch_active_batch(self) -> None:
        pass

    def _flush(self) -> None:
        for item in self.items:
            assert isinstance(item, Echo)
            item.set_value(item.key * 2)


class Echo(BatchItemBase[int]):
    def __init__(self, batch: EchoBatch, key: int) -> None:
        super().__init__(batch)
        self.key = key


class Quiet(asynq.contexts.AsyncContext):
    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass


@asynq.decorators.asynq()
def doubled(key: int) -> Generator[Any, Any, int]:
    with Quiet():
        value: int = yield Echo(EchoBatch(), key)
    return value


@asynq.generator.async_generator()
def words() -> Generator[Any, Any, None]:
    yield asynq.generator.Value("pear")


# asynq.tools, three spellings
assert_type(amap(length, ["fig", "pear"]), list[int])
assert_type(asynq.tools.amap(length, ["fig"]), list[int])
assert_type(tools.asorted([3, 1, 2]), list[int])
timer: asynq_tools.AsyncTimer = AsyncTimer()
deduplicator: type[asynq_core.decorators.AsyncDecorator[Any, Any]] = tools.DeduplicateDecorator

# asynq.decorators and the classes it names
decorated: asynq_core.decorators.AsyncDecorator[[str], int] = length
also_decorated: AsyncDecorator[[str], int] = length
assert_type(length.asynq("fig"), asynq.async_task.AsyncTask[int])
bound_label: PureAsyncDecoratorBinder[[int], str] = Repository().label
assert_type(asynq.decorators.is_pure_async_fn(length), bool)

# asynq.debug and asynq._debug: options are the same object's type
assert_type(debug.options, asynq._debug.DebugOptions)
assert_type(asynq.debug.options, DebugOptions)
assert_type(format_error(ValueError("boom")), str | None)
assert_type(dump_error(ValueError("boom"), None), None)
assert_type(asynq.debug.sync(), asynq_batching.DebugBatchItem)
assert_type(asynq.debug.DUMP_ALL(), bool)
assert_type(debug.options.DUMP_ALL(False), None)
debug.options.DUMP_ALL = False
assert_type(bool(asynq._debug.options.DUMP_ALL), bool)

# asynq.batching, asynq.contexts, asynq.futures, asynq.utils
assert_type(sync(), DebugBatchItem)
item: asynq.futures.FutureBase[int] = Echo(EchoBatch(), 1)
assert_type(doubled(21), int)
assert_type(asynq.futures.ConstFuture("x"), asynq_core.ConstFuture[str])
context: asynq_contexts.AsyncContext = Quiet()
misuse: type[Exception] = asynq.utils.AsynqMisuseError

# asynq.scheduler, asynq.profiler, asynq.tracing, asynq.asynq_to_async
assert_type(asynq.scheduler.get_scheduler(), asynq_core.TaskScheduler)
assert_type(asynq.profiler.flush(), list[dict[str, Any]])
with asynq.tracing.record() as recording:
    assert_type(recording, asynq_core.tracing.Recording)
    doubled(1)
assert_type(recording.rounds, int)
assert_type(asynq.asynq_to_async.is_asyncio_mode(), bool)

# asynq.scoped_value, asynq.generator, asynq.mock, asynq.mock_
level = asynq.scoped_value.AsyncScopedValue(3)
assert_type(level, asynq_contexts.AsyncScopedValue[int])
assert_type(asynq.generator.list_of_generator(words()), list[Any])
assert_type(words(), asynq_generator.AsyncGeneratorIterator[Any])
with asynq.mock.patch("asynq.debug.stderr", io.StringIO()):
    dump_error(ValueError("hidden"))
with asynq.mock_.patch.object(Repository, "label") as label:
    label.return_value = "mocked"

assert amap(length, ["fig", "pear"]) == [3, 4]
assert tools.asorted([3, 1, 2]) == [1, 2, 3]
assert Repository().label(7).value() == "u7"
assert doubled(21) == 42
assert recording.rounds == 1
assert asynq.generator.list_of_generator(words()) == ["pear"]
assert level.get() == 3
assert "ValueError: boom" in (format_error(ValueError("boom")) or "")
