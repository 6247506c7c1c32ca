"""asynq-mock: ``patch`` and friends, mocking asynq functions for both plain and ``.asynq`` calls.

Everything lives in :mod:`asynq_mock.mock` (the module the umbrella exposes as
``asynq.mock``); the pytest plugin with the ``asynq_patch`` fixture is
:mod:`asynq_mock.pytest_plugin`, registered through the ``pytest11`` entry point.
"""

from . import mock
from .__about__ import __version__
from .mock import (
    ANY,
    DEFAULT,
    FILTER_DIR,
    AsyncioCaller,
    AsyncMock,
    AsyncPatcher,
    AsynqCaller,
    MagicMock,
    Mock,
    NonCallableMagicMock,
    NonCallableMock,
    PatchScope,
    PropertyMock,
    call,
    create_autospec,
    mock_open,
    patch,
    seal,
    sentinel,
)

__all__ = [
    "__version__",
    "mock",
    "patch",
    "PatchScope",
    "AsyncPatcher",
    "AsynqCaller",
    "AsyncioCaller",
    "ANY",
    "DEFAULT",
    "FILTER_DIR",
    "AsyncMock",
    "MagicMock",
    "Mock",
    "NonCallableMagicMock",
    "NonCallableMock",
    "PropertyMock",
    "call",
    "create_autospec",
    "mock_open",
    "seal",
    "sentinel",
]
