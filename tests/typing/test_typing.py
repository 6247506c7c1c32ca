"""The static types of the packages, as mypy (--strict) and pyright (strict) see them.

- ``examples/*.py`` must type-check cleanly under both checkers, and each
  ``reveal_type`` must show what its marker says: ``# revealed: T`` (both
  checkers), ``# revealed-mypy: T`` / ``# revealed-pyright: T`` (one of them),
  written on the line of the ``reveal_type`` or on lines of their own right
  above it. Types are compared without module prefixes
  (``asynq_core.async_task.AsyncTask[builtins.str]`` is ``AsyncTask[str]``).
  Files named ``pyright_only_*.py`` hold what mypy cannot follow (see the
  README's Typing section) and are checked by pyright only. Every example
  also runs: what it asserts about values holds at run time.
- ``negative/*.py`` must fail: each line marked
  ``# error: mypy[code] pyright[rule]`` (or with that marker on a line of its
  own right above it) gets that error from each checker, and no other line
  gets any. A marker may name one checker only, for an error only it reports.

The checkers run once per session, on all the files together. The test is
skipped when mypy or pyright is not installed (a failure under ``CI=true``:
see the root conftest; ``hatch test`` and the ``typing`` environment of
hatch.toml install both; pyright's ``nodejs`` extra brings its node).
"""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import subprocess
import sys
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = sorted((HERE / "examples").glob("*.py"))
NEGATIVE = sorted((HERE / "negative").glob("*.py"))
SOURCES = sorted(ROOT.glob("packages/*/src"))

_MODULE_PREFIX = re.compile(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_])")
_REVEAL_MARKER = re.compile(r"#\s*revealed(?:-(mypy|pyright))?:\s*(.+?)\s*$")
_ERROR_MARKER = re.compile(
    r"#\s*error:(?=\s*\w)(?:\s*mypy\[(?P<mypy>[\w-]+)\])?(?:\s*pyright\[(?P<pyright>\w+)\])?\s*$"
)
_LAYOUT_TOKENS = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_MYPY_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+): (?P<severity>error|note): (?P<message>.*?)"
    r"(?:  \[(?P<code>[\w-]+)\])?$"
)


def normalize(type_text: str) -> str:
    """A revealed type without module prefixes, as the markers write it."""
    return _MODULE_PREFIX.sub("", type_text.strip())


@dataclass
class Findings:
    """What one checker said about one file: errors and revealed types by line."""

    errors: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    reveals: dict[int, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


@dataclass
class Markers:
    """The expectations written in one file."""

    reveals: dict[str, dict[int, str]] = field(default_factory=lambda: {"mypy": {}, "pyright": {}})
    errors: dict[str, dict[int, str]] = field(default_factory=lambda: {"mypy": {}, "pyright": {}})


def read_markers(path: Path) -> Markers:
    markers = Markers()
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    reveal_lines: set[int] = set()
    previous = ""
    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string
            elif token.type not in _LAYOUT_TOKENS:
                code_lines.add(token.start[0])
                if previous == "reveal_type" and token.string == "(":
                    reveal_lines.add(token.start[0])
                previous = token.string
    pending_reveals: dict[str, str] = {}
    pending_errors: dict[str, str] = {}
    for number in sorted(comments.keys() | code_lines):
        comment = comments.get(number, "")
        reveal = _REVEAL_MARKER.match(comment)
        error = _ERROR_MARKER.match(comment)
        if reveal:
            checkers = [reveal.group(1)] if reveal.group(1) else ["mypy", "pyright"]
            for checker in checkers:
                pending_reveals[checker] = normalize(reveal.group(2))
        if error:
            pending_errors = {
                checker: code for checker, code in error.groupdict().items() if code is not None
            }
        if number not in code_lines:
            continue  # a marker on a line of its own applies to the next code line
        if number in reveal_lines:
            if set(pending_reveals) != {"mypy", "pyright"}:
                raise AssertionError(
                    f"{path.name}:{number}: reveal_type needs a marker per checker"
                )
            for checker, expected in pending_reveals.items():
                markers.reveals[checker][number] = expected
        elif pending_reveals:
            raise AssertionError(f"{path.name}:{number}: revealed marker without reveal_type")
        for checker, code in pending_errors.items():
            markers.errors[checker][number] = code
        pending_reveals = {}
        pending_errors = {}
    return markers


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the `typing` hatch environment has it)")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="session")
def mypy_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Findings]:
    _require("mypy")
    files = [path for path in EXAMPLES + NEGATIVE if not path.name.startswith("pyright_only_")]
    result = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            # The packages are checked on their own (with the project's
            # settings): here only the files given count.
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path_factory.mktemp("mypy-cache")),
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            "--hide-error-context",
            "--no-color-output",
            *map(str, files),
        ]
    )
    if result.returncode not in (0, 1):
        pytest.fail(f"mypy failed to run:\n{result.stdout}\n{result.stderr}")
    findings: dict[Path, Findings] = defaultdict(Findings)
    for line in result.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        if match is None:
            continue
        path = (ROOT / match["path"]).resolve()
        number = int(match["line"])
        message = match["message"]
        found = findings[path]
        found.messages.append(line)
        if match["severity"] == "error":
            found.errors[number].append(match["code"] or "?")
        elif message.startswith("Revealed type is "):
            found.reveals[number] = normalize(message.removeprefix("Revealed type is ")[1:-1])
    return findings


@pytest.fixture(scope="session")
def pyright_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Findings]:
    _require("pyright")
    # Its own configuration: the project's [tool.pyright] leaves the negative
    # cases out (they must fail), and pyright never checks the files its
    # configuration excludes, not even when they are named.
    config = tmp_path_factory.mktemp("pyright") / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {
                "extraPaths": [str(path) for path in SOURCES],
                "pythonVersion": "3.10",
                "typeCheckingMode": "strict",
            }
        )
    )
    result = _run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--project",
            str(config),
            "--pythonpath",
            sys.executable,
            *map(str, EXAMPLES + NEGATIVE),
        ]
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright failed to run:\n{result.stdout}\n{result.stderr}")
    findings: dict[Path, Findings] = defaultdict(Findings)
    for diagnostic in report["generalDiagnostics"]:
        path = Path(diagnostic["file"]).resolve()
        number = diagnostic["range"]["start"]["line"] + 1
        message = diagnostic["message"]
        found = findings[path]
        found.messages.append(f"{path.name}:{number}: {message} ({diagnostic.get('rule')})")
        if diagnostic["severity"] in ("error", "warning"):
            found.errors[number].append(diagnostic.get("rule", "?"))
        elif message.startswith("Type of "):
            found.reveals[number] = normalize(message.rsplit(' is "', 1)[1][:-1])
    if not report["summary"]["filesAnalyzed"]:
        pytest.fail(f"pyright analyzed no file:\n{result.stdout}\n{result.stderr}")
    return findings


def _checker_params(paths: list[Path]) -> list[object]:
    return [
        pytest.param(checker, path, id=f"{checker}-{path.name}")
        for path in paths
        for checker in ("mypy", "pyright")
        if not (checker == "mypy" and path.name.startswith("pyright_only_"))
    ]


def _findings(request: pytest.FixtureRequest, checker: str, path: Path) -> Findings:
    by_file: dict[Path, Findings] = request.getfixturevalue(f"{checker}_findings")
    return by_file.get(path.resolve(), Findings())


@pytest.mark.parametrize(("checker", "path"), _checker_params(EXAMPLES))
def test_example_type_checks(request: pytest.FixtureRequest, checker: str, path: Path) -> None:
    found = _findings(request, checker, path)
    expected_reveals = read_markers(path).reveals[checker]
    report = "\n".join(found.messages)
    assert not found.errors, f"{checker} reports errors in {path.name}:\n{report}"
    assert found.reveals == expected_reveals, f"{checker} on {path.name}:\n{report}"


@pytest.mark.parametrize(("checker", "path"), _checker_params(NEGATIVE))
def test_negative_case_fails(request: pytest.FixtureRequest, checker: str, path: Path) -> None:
    found = _findings(request, checker, path)
    markers = read_markers(path)
    expected = markers.errors[checker]
    assert markers.errors["mypy"] or markers.errors["pyright"], f"{path.name} marks no case"
    report = "\n".join(found.messages)
    for number, code in expected.items():
        assert code in found.errors.get(number, []), (
            f"{checker} does not report [{code}] on {path.name}:{number}:\n{report}"
        )
    unexpected = sorted(set(found.errors) - set(expected))
    assert not unexpected, f"{checker} reports unmarked errors in {path.name}:\n{report}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__typing_example__")
    # reveal_type prints the runtime type: each of them ran.
    revealed = read_markers(path).reveals["pyright"]
    assert capsys.readouterr().err.count("Runtime type is") == len(revealed)


def test_every_marker_is_read() -> None:
    """The markers are what the tests above compare against: a misspelt one
    must not leave a line unchecked."""
    for path in EXAMPLES + NEGATIVE:
        markers = read_markers(path)
        with path.open("rb") as source:
            comments = [
                token.string
                for token in tokenize.tokenize(source.readline)
                if token.type == tokenize.COMMENT
            ]
        error_markers = [text for text in comments if text.startswith("# error")]
        reveal_markers = [text for text in comments if text.startswith("# revealed")]
        assert all(_ERROR_MARKER.match(text) for text in error_markers), path.name
        assert all(_REVEAL_MARKER.match(text) for text in reveal_markers), path.name
        marked_lines = markers.errors["mypy"].keys() | markers.errors["pyright"].keys()
        assert len(marked_lines) == len(error_markers), path.name
        assert len(markers.reveals["pyright"]) == path.read_text().count("reveal_type("), path.name
