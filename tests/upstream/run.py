"""Runs the test suite of Quora's asynq 1.6 against our umbrella package.

The suite ships inside the ``asynq==1.6.0`` distribution on the index (its
``asynq/tests`` package). At test time this script downloads that file into
a temporary folder (``pip download --no-deps``), extracts only the tests,
under the package name ``asynq16_tests``, and runs them with pytest in this
interpreter, where ``import asynq`` is our umbrella. Nothing of the
distribution is installed or kept; nothing of it is in this repository.

The suite names its own modules by their 1.6 path in a few places
(``asynq.mock.patch("asynq.tests.test_mock.fn")``): a conftest written into
the temporary folder registers ``asynq.tests`` (and each of its modules) as
an alias of the renamed package, so the suite runs as written.

Only ``test_pyright.py`` is left out: it runs pyright on files that the
distribution does not ship. Prints one summary line; exits non-zero if any
test fails or errors, or if none ran.

    python tests/upstream/run.py [--keep DIR] [pytest args...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "asynq==1.6.0"
PACKAGE = "asynq16_tests"
DESELECTED = ["test_pyright.py"]

# Written next to the extracted package: makes ``asynq.tests.X`` the module
# ``asynq16_tests.X`` (the suite patches objects by their 1.6 dotted path),
# importing it only when asked for, as a real subpackage would be.
CONFTEST = f'''
import importlib
import importlib.abc
import importlib.util
import sys

import asynq
import {PACKAGE}

ALIAS = "asynq.tests"


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == ALIAS or name.startswith(ALIAS + "."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("{PACKAGE}" + spec.name[len(ALIAS):])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Alias())
asynq.tests = {PACKAGE}
sys.modules[ALIAS] = {PACKAGE}
'''


def download(dest: Path) -> Path:
    """Downloads the 1.6 distribution (a wheel for this interpreter, else the
    sdist) into ``dest`` and returns its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(dest),
            DISTRIBUTION,
        ],
        check=True,
    )
    files = [p for p in dest.iterdir() if p.name.startswith("asynq-1.6.0")]
    if len(files) != 1:
        sys.exit(f"upstream: expected one downloaded file of {DISTRIBUTION}, got {files}")
    return files[0]


def extract_tests(archive: Path, dest: Path) -> Path:
    """Extracts the ``asynq/tests/`` files of ``archive`` into ``dest/PACKAGE``."""
    target = dest / PACKAGE
    target.mkdir(exist_ok=True)
    pattern = re.compile(r"^(?:[^/]+/)?asynq/tests/([^/]+\.py)$")
    found = 0
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                match = pattern.match(name)
                if match:
                    (target / match.group(1)).write_bytes(zf.read(name))
                    found += 1
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                match = pattern.match(member.name)
                if match and member.isfile():
                    data = tf.extractfile(member)
                    assert data is not None
                    (target / match.group(1)).write_bytes(data.read())
                    found += 1
    if not (target / "__init__.py").exists() or found < 10:
        sys.exit(f"upstream: {archive.name} holds no asynq/tests package ({found} files)")
    return target


def summarize(junit: Path) -> tuple[int, int, int, int]:
    """(passed, failed, errors, skipped) from pytest's JUnit XML report."""
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failures = errors = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0))
        errors += int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failures - errors - skipped, failures, errors, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="extract into DIR and keep it")
    args, pytest_args = parser.parse_known_args()

    import asynq

    if "asynq_core" not in sys.modules:
        sys.exit(f"upstream: 'import asynq' is not our umbrella ({asynq.__file__})")

    with tempfile.TemporaryDirectory(prefix="asynq-upstream-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        archive = download(work / "download")
        extract_tests(archive, work)
        (work / "conftest.py").write_text(CONFTEST)
        junit = work / "report.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            PACKAGE,
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(work),
            "-o",
            "addopts=",
            f"--junitxml={junit}",
            *[f"--ignore={PACKAGE}/{name}" for name in DESELECTED],
            *pytest_args,
        ]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        rc = subprocess.run(command, cwd=work, env=env).returncode
        if not junit.exists():
            print(f"asynq 1.6 suite: pytest produced no report (exit code {rc})")
            return rc or 1
        passed, failed, errors, skipped = summarize(junit)
        total = passed + failed + errors + skipped
        print(
            f"asynq 1.6 suite against asynq {asynq.__version__} (umbrella): "
            f"{passed} of {total} passed, {failed} failed, {errors} errors, "
            f"{skipped} skipped ({', '.join(DESELECTED)} not run)"
        )
        if total == 0:
            return 1
        return 0 if rc == 0 and passed == total else (rc or 1)


if __name__ == "__main__":
    sys.exit(main())
