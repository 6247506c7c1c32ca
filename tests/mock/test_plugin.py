"""The asynq_patch fixture, PatchScope behind it, and the pytest11 entry point."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mock_targets as targets
import pytest

import asynq_mock.pytest_plugin
from asynq_core import has_async_fn
from asynq_mock import PatchScope, patch

ORIGINAL_FETCH_USER = targets.fetch_user


def test_the_fixture_starts_patches_at_once(asynq_patch: PatchScope) -> None:
    fetch_user = asynq_patch("mock_targets.fetch_user", return_value="fixture")
    assert targets.fetch_name(1) == "FIXTURE"
    assert has_async_fn(fetch_user)
    get = asynq_patch.object(targets.Service, "get", return_value="object")
    assert targets.Service().get.asynq(1).value() == "object"
    get.assert_called_once_with(1)
    mocks = asynq_patch.multiple("mock_targets", plain_double=lambda x: x)
    assert mocks == {}
    assert targets.plain_double.asynq(3).value() == 3
    settings = asynq_patch.dict(targets.SETTINGS, mode="fixture")
    assert settings is targets.SETTINGS and settings["mode"] == "fixture"


def test_patch_scope_stops_latest_first() -> None:
    with PatchScope() as scope:
        scope("mock_targets.fetch_user", return_value="outer")
        scope("mock_targets.fetch_user", return_value="inner")
        assert targets.fetch_user(1) == "inner"
    # Stopped in reverse order, so the original (not the outer mock) is back.
    assert targets.fetch_user is ORIGINAL_FETCH_USER


def test_patch_scope_stops_every_patch_even_if_one_fails_to_stop() -> None:
    class Fragile:
        def stop(self) -> None:
            raise RuntimeError("cannot stop")

    scope = PatchScope()
    scope("mock_targets.fetch_user")
    scope._started.append(Fragile())
    scope.object(targets.Service, "get")
    with pytest.raises(RuntimeError, match="cannot stop"):
        scope.stopall()
    assert targets.fetch_user is ORIGINAL_FETCH_USER
    assert targets.Service().get(1) == 2
    scope.stopall()  # nothing left: a no-op


def test_patch_stopall_and_the_scope_do_not_conflict() -> None:
    scope = PatchScope()
    scope("mock_targets.fetch_user")
    patch.stopall()
    assert targets.fetch_user is ORIGINAL_FETCH_USER
    scope.stopall()


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    try:
        dist = importlib.metadata.distribution("asynq-mock")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("asynq-mock is not installed (tests run from the sources)")
    entry_points = [ep for ep in dist.entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in entry_points] == [
        ("asynq_mock", "asynq_mock.pytest_plugin")
    ]
    assert entry_points[0].load() is asynq_mock.pytest_plugin


PLUGIN_USER_TESTS = """
    import os.path

    SETTINGS = {"mode": "real"}

    def test_patches_and_fails(asynq_patch):
        exists = asynq_patch("os.path.exists", return_value="patched")
        assert os.path.exists("/nowhere") == "patched"
        assert os.path.exists.asynq("/nowhere").value() == "patched"
        exists.assert_called_with("/nowhere")
        asynq_patch.object(os.path, "ismount", return_value="object")
        asynq_patch.multiple("os.path", getctime=lambda path: "multiple")
        asynq_patch.dict(SETTINGS, mode="dict", extra=1)
        assert os.path.ismount.asynq("/").value() == "object"
        assert os.path.getctime("/") == "multiple"
        assert SETTINGS == {"mode": "dict", "extra": 1}
        raise AssertionError("the patches must be undone anyway")

    def test_sees_the_originals():
        assert os.path.exists("/nowhere/at/all") is False
        assert not hasattr(os.path.exists, "asynq")
        assert os.path.ismount("/") is True
        assert not hasattr(os.path.ismount, "asynq")
        assert isinstance(os.path.getctime("/"), float)
        assert SETTINGS == {"mode": "real"}
"""


def test_the_plugin_undoes_patches_in_a_real_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(textwrap.dedent(PLUGIN_USER_TESTS))
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    # The test process's import path, so the plugin is found however it runs.
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "asynq_mock.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_user.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert "1 failed, 1 passed" in output, output
    assert "the patches must be undone anyway" in output
