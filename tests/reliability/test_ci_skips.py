"""Under ``CI=true`` a skip is a failure (the hooks of tests/conftest.py): CI
installs every optional dependency and server, so a skip there hides a gap.
Checked in a pytest subprocess whose conftest is the root one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

SKIPPING_TESTS = """
    import pytest

    def test_skips_at_run_time():
        pytest.skip("no server")

    @pytest.mark.skipif(True, reason="no client")
    def test_skipped_by_a_marker():
        pass

    @pytest.mark.xfail(strict=True)
    def test_expected_to_fail():
        raise AssertionError

    def test_passes():
        pass
"""


def _outcomes(tmp_path: Path, ci: str | None) -> str:
    shutil.copy(ROOT_CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --continue-on-collection-errors\n")
    (tmp_path / "test_skips.py").write_text(textwrap.dedent(SKIPPING_TESTS))
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\n\npytest.skip('no sdk', allow_module_level=True)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    summary = completed.stdout.strip().splitlines()[-1]
    return re.sub(r" in [\d.]+s.*", "", summary.strip("= "))


def test_under_ci_a_skip_fails_its_test_or_module(tmp_path: Path) -> None:
    assert _outcomes(tmp_path, "TRUE") == "1 failed, 1 passed, 1 xfailed, 2 errors"


def test_elsewhere_a_skip_is_a_skip(tmp_path: Path) -> None:
    assert _outcomes(tmp_path, None) == "1 passed, 3 skipped, 1 xfailed"
