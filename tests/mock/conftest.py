"""Shared fixtures of the asynq-mock tests.

``mock_targets.py`` (beside this file) is loaded once as the module
``mock_targets``, so tests can patch it by name as code under test would be
patched. The ``asynq_patch`` fixture is imported from the plugin module, so
the tests also run when asynq-mock is not installed (its pytest11 entry point
then is not registered); when it is, this definition is the same function.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import asynq_core
from asynq_mock.pytest_plugin import asynq_patch as asynq_patch


def _load_targets() -> ModuleType:
    name = "mock_targets"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("mock_targets.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


targets = _load_targets()


@pytest.fixture(autouse=True)
def fresh_scheduler() -> Iterator[None]:
    asynq_core.scheduler.reset()
    yield
    asynq_core.scheduler.reset()
