"""Every name and module path a 1.6 code base imports exists, and the module
paths are the very modules of the parts, so patching them reaches the implementation."""

from __future__ import annotations

import ast
import importlib
import io
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import asynq
from asynq.mock import patch

MODULE_PATHS = {
    "futures": "asynq_core.futures",
    "async_task": "asynq_core.async_task",
    "scheduler": "asynq_core.scheduler",
    "decorators": "asynq_core.decorators",
    "utils": "asynq_core.utils",
    "debug": "asynq_core.debug",
    "_debug": "asynq_core._debug",
    "profiler": "asynq_core.profiler",
    "tracing": "asynq_core.tracing",
    "asynq_to_async": "asynq_core.asynq_to_async",
    "batching": "asynq_batching.batching",
    "contexts": "asynq_contexts.contexts",
    "scoped_value": "asynq_contexts.scoped_value",
    "tools": "asynq_tools.tools",
    "mock": "asynq_mock.mock",
    "mock_": "asynq_mock.mock",
    "generator": "asynq_generator.generator",
}

TOP_LEVEL_NAMES = """
    FutureBase Future ConstFuture ErrorFuture none_future FutureIsAlreadyComputed
    AsyncTask AsyncTaskCancelledError AsyncTaskResult
    TaskScheduler get_scheduler get_active_task AsyncTaskError
    asynq async_proxy has_async_fn is_pure_async_fn is_async_fn get_async_fn
    get_async_or_sync_fn async_call make_async_decorator result
    BatchBase BatchItemBase BatchingError BatchCancelledError
    AsyncContext NonAsyncContext AsyncScopedValue async_override
    async_generator Value list_of_generator take_first END_OF_GENERATOR
    is_asyncio_mode
    debug futures batching async_task scheduler decorators utils contexts
    scoped_value tools profiler mock
""".split()

SUBMODULE_NAMES = {
    "futures": "FutureBase Future ConstFuture ErrorFuture none_future FutureIsAlreadyComputed",
    "async_task": "AsyncTask AsyncTaskCancelledError AsyncTaskResult",
    "scheduler": "TaskScheduler get_scheduler get_active_task AsyncTaskError reset",
    "decorators": (
        "asynq async_proxy has_async_fn is_async_fn is_pure_async_fn get_async_fn "
        "get_async_or_sync_fn lazy async_call make_async_decorator"
    ),
    "utils": "result",
    "batching": (
        "BatchBase BatchItemBase BatchingError BatchCancelledError DebugBatch DebugBatchItem sync"
    ),
    "contexts": "AsyncContext NonAsyncContext async_override",
    "scoped_value": "AsyncScopedValue async_override",
    "tools": (
        "amap afilter afilterfalse asorted amax amin asift acached_per_instance alru_cache "
        "alazy_constant aretry call_with_context deduplicate AsyncTimer AsyncEventHook "
        "AsyncDecorator DeduplicateDecorator DeduplicateDecoratorBinder time utime"
    ),
    "mock": "patch",
    "generator": "async_generator Value list_of_generator take_first END_OF_GENERATOR",
    "debug": (
        "options dump_asynq_stack format_asynq_stack dump_error format_error dump_stack "
        "write str repr extract_tb format_tb filter_traceback AsynqStackTracebackFormatter "
        "attach_exception_hook detach_exception_hook enable_original_exc_handler "
        "enable_filter_traceback enable_traceback_syntax_highlight "
        "enable_complex_assertions disable_complex_assertions sync DUMP_ALL async_exception_hook"
    ),
    "profiler": "flush append reset incr_counter",
    "asynq_to_async": "is_asyncio_mode",
}


@pytest.mark.parametrize("path", sorted(MODULE_PATHS))
def test_module_paths_are_the_modules_of_the_parts(path: str) -> None:
    imported = importlib.import_module(f"asynq.{path}")
    implementation = sys.modules[MODULE_PATHS[path]]
    assert imported is implementation
    assert sys.modules[f"asynq.{path}"] is implementation
    assert getattr(asynq, path) is implementation


def test_each_module_path_is_a_file_of_the_umbrella() -> None:
    """Type checkers find ``asynq.tools`` only as a file: there is one per path."""
    files = {info.name for info in pkgutil.iter_modules(asynq.__path__)}
    assert files - {"__about__"} == set(MODULE_PATHS)


@pytest.mark.parametrize("path", sorted(MODULE_PATHS))
def test_what_a_path_file_shows_checkers_is_what_its_module_has(path: str) -> None:
    """The file re-exports its part's module (``*``, its ``__all__``) and names
    outside ``__all__`` that are the very objects of that module at run time."""
    implementation = sys.modules[MODULE_PATHS[path]]
    tree = ast.parse(Path(asynq.__file__).with_name(f"{path}.py").read_text())
    star_imports = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.names[0].name == "*":
            star_imports.append(node.module)
        elif isinstance(node, ast.ImportFrom):
            source = importlib.import_module(node.module or "")
            for alias in node.names:
                assert alias.asname == alias.name  # an explicit re-export
                assert getattr(implementation, alias.name) is getattr(source, alias.name)
    assert star_imports == [MODULE_PATHS[path]]
    assert implementation.__all__
    assert [name for name in implementation.__all__ if not hasattr(implementation, name)] == []


def test_importing_a_path_first_gives_the_module_of_the_part() -> None:
    """In a fresh interpreter, a 1.x path imported before anything else, and
    imported again once dropped from sys.modules (the file runs then), is the
    part's module."""
    program = (
        "import sys\n"
        "from asynq.debug import dump_error\n"
        "import asynq.tools, asynq_tools.tools, asynq_core.debug\n"
        "assert asynq.tools is asynq_tools.tools, asynq.tools\n"
        "assert dump_error is asynq_core.debug.dump_error\n"
        "assert sys.modules['asynq.debug'] is asynq_core.debug\n"
        "del sys.modules['asynq.tools']; del asynq.tools\n"
        "import asynq.tools\n"
        "assert asynq.tools is asynq_tools.tools, asynq.tools\n"
        "assert sys.modules['asynq.tools'] is asynq_tools.tools\n"
        "from asynq import tools\n"
        "assert tools is asynq_tools.tools\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert finished.returncode == 0, finished.stderr


def test_the_umbrella_registers_exactly_these_module_paths() -> None:
    registered = {name for name in sys.modules if name.startswith("asynq.")}
    assert registered - {"asynq.__about__"} == {f"asynq.{path}" for path in MODULE_PATHS}


def test_from_imports_of_submodules_work_as_in_1x() -> None:
    from asynq import debug, mock, tools
    from asynq.batching import BatchBase
    from asynq.mock_ import patch as patch_
    from asynq.scoped_value import AsyncScopedValue

    assert debug is asynq.debug and tools is asynq.tools and mock is asynq.mock
    assert BatchBase is asynq.BatchBase
    assert AsyncScopedValue is asynq.AsyncScopedValue
    assert patch_ is patch


def test_every_top_level_name_exists_and_is_in_all() -> None:
    missing = [name for name in TOP_LEVEL_NAMES if not hasattr(asynq, name)]
    assert missing == []
    unlisted = [name for name in TOP_LEVEL_NAMES if name not in asynq.__all__]
    assert unlisted == []


# What ``from asynq import *`` binds under asynq 1.6 (which has no ``__all__``).
STAR_NAMES_16 = """
    AsyncContext AsyncScopedValue AsyncTask AsyncTaskCancelledError AsyncTaskError
    AsyncTaskResult BatchBase BatchCancelledError BatchItemBase BatchingError ConstFuture
    END_OF_GENERATOR ErrorFuture Future FutureBase FutureIsAlreadyComputed NonAsyncContext
    TaskScheduler Value async_call async_generator async_override async_proxy async_task
    asynq asynq_to_async batching contexts debug decorators futures generator
    get_active_task get_async_fn get_async_or_sync_fn get_scheduler has_async_fn
    is_async_fn is_asyncio_mode is_pure_async_fn list_of_generator make_async_decorator
    mock mock_ none_future profiler result scheduler scoped_value take_first tools utils
""".split()


def test_star_import_binds_every_name_it_binds_under_1_6() -> None:
    namespace: dict[str, object] = {}
    exec("from asynq import *", namespace)
    assert [name for name in STAR_NAMES_16 if name not in namespace] == []
    assert all(namespace[name] is getattr(asynq, name) for name in STAR_NAMES_16)


def test_all_lists_only_names_that_exist_once() -> None:
    assert len(asynq.__all__) == len(set(asynq.__all__))
    assert [name for name in asynq.__all__ if not hasattr(asynq, name)] == []
    namespace: dict[str, object] = {}
    exec("from asynq import *", namespace)
    assert set(asynq.__all__) <= set(namespace)


def test_all_lists_every_public_name_of_the_umbrella() -> None:
    public = {name for name in vars(asynq) if not name.startswith("_")}
    assert public - set(asynq.__all__) == set()


@pytest.mark.parametrize("module", sorted(SUBMODULE_NAMES))
def test_submodules_have_their_1x_names(module: str) -> None:
    mod = getattr(asynq, module)
    assert [name for name in SUBMODULE_NAMES[module].split() if not hasattr(mod, name)] == []


def test_top_level_names_are_the_submodules_objects() -> None:
    assert asynq.ConstFuture is asynq.futures.ConstFuture
    assert asynq.AsyncTask is asynq.async_task.AsyncTask
    assert asynq.asynq is asynq.decorators.asynq
    assert asynq.result is asynq.utils.result
    assert asynq.BatchItemBase is asynq.batching.BatchItemBase
    assert asynq.AsyncContext is asynq.contexts.AsyncContext
    assert asynq.async_override is asynq.scoped_value.async_override
    assert asynq.get_scheduler is asynq.scheduler.get_scheduler
    assert asynq.debug.options is asynq._debug.options
    assert asynq.debug.sync is asynq.batching.sync


def test_patches_of_debug_stdout_and_stderr_reach_every_debug_function() -> None:
    original = asynq.debug.stdout, asynq.debug.stderr
    trace, errors = io.StringIO(), io.StringIO()
    with patch("asynq.debug.stdout", trace), patch("asynq.debug.stderr", errors):
        asynq.debug.write("hello", indent=2)
        asynq.debug.dump_asynq_stack()
        asynq.debug.dump_error(ValueError("boom"))
    assert trace.getvalue() == "    hello\nasynq stack: no task is running\n"
    assert errors.getvalue() == "\nValueError: boom\n"
    assert (asynq.debug.stdout, asynq.debug.stderr) == original


def test_options_set_through_either_path_are_seen_by_the_other() -> None:
    asynq.debug.options.DEBUG_STR_REPR_MAX_LENGTH = 12
    assert asynq._debug.options.DEBUG_STR_REPR_MAX_LENGTH == 12
    assert len(repr(asynq.ConstFuture("x" * 100)).split("value: ")[1]) < 20
    asynq._debug.options.DUMP_ALL = True
    assert asynq.debug.options.DUMP_FLUSH_BATCH and asynq.debug.options.DUMP_COMPUTED


def test_importing_asynq_attaches_the_exception_hook() -> None:
    """A fresh interpreter, so that no other test's hook handling interferes."""
    program = (
        "import asynq, sys\n"
        "assert sys.excepthook.__module__ == asynq.debug.__name__, sys.excepthook\n"
        "def fails():\n"
        "    raise KeyError('uncaught')\n"
        "@asynq.asynq()\n"
        "def task():\n"
        "    fails()\n"
        "    yield\n"
        "task()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert finished.returncode == 1
    assert finished.stderr.startswith("\nTraceback (most recent call last):")
    assert "in task" in finished.stderr and "in fails" in finished.stderr
    assert "asynq_core" not in finished.stderr  # the hook filters the library's own frames
    assert finished.stderr.rstrip().endswith("KeyError: 'uncaught'")


def test_patch_of_a_part_attribute_through_the_umbrella_path() -> None:
    """``patch("asynq.batching.X")`` changes what code importing the part sees."""
    with patch("asynq.tools.time") as fake_time:
        assert sys.modules["asynq_tools.tools"].time is fake_time
    assert sys.modules["asynq_tools.tools"].time is not fake_time
