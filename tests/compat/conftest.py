"""Shared fixtures of the compatibility tests (asynq 1.6 code run on our umbrella).

``compat_app.py`` (beside this file) is loaded once as the module
``compat_app``, so that tests patch it by name as a 1.6 code base's tests
would. Every test starts with a fresh scheduler, store and batch, and gets the
debug options and the profiler back as they were.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import asynq


def _load_app() -> ModuleType:
    name = "compat_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("compat_app.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


app = _load_app()

_OPTION_NAMES = (
    *asynq._debug.DUMP_FLAGS,
    "COLLECT_PERF_STATS",
    "ENABLE_COMPLEX_ASSERTIONS",
    "KEEP_DEPENDENCIES",
    "MAX_TASK_STACK_SIZE",
    "DEBUG_STR_REPR_MAX_LENGTH",
    "STACK_DUMP_LIMIT",
)


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    options = asynq.debug.options
    saved = {name: getattr(options, name) for name in _OPTION_NAMES}
    asynq.scheduler.reset()
    asynq.profiler.reset()
    app.reset()
    yield
    for name, value in saved.items():
        setattr(options, name, value)
    asynq.scheduler.reset()
    asynq.profiler.reset()
    app.reset()
