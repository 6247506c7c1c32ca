"""Random programs behave on our umbrella exactly as on Quora's asynq 1.6 itself.

Hypothesis writes programs (see ``differential16.py`` for their language):
functions that yield single tasks, lists, tuples and dicts of them nested,
lookups through five batch classes of different and equal priorities, tasks
and lookups shared by several parents (yielded again once computed), tasks
made and lookups prefetched without being yielded, lookups that fail (the
batch sets a KeyError) and flushes that fail (``_flush`` raises), tasks that
raise, values that are not futures yielded (a TypeError), try/except/finally
(yielding in every part), early returns, values handed back with ``return``
or with ``result(...)``, and (only when asked for, below) synchronous calls
inside tasks. Each program
runs in this process on our ``asynq`` and in a worker process on asynq 1.6,
and the two must agree on

- the outcome: the root's value, or the type (and, for the program's own
  errors, the arguments) of the error that reaches the root;
- the flush log: which batch was flushed, with which keys in item order, in
  which order, as recorded by ``_flush`` itself;
- the trace: the order in which tasks start, resume after each yield, and
  batches are flushed.

A failure shows the smallest program hypothesis found, as JSON and as the
asynq code it stands for, and where the two runs part.

The one known difference, left out by default: a synchronous call inside a
task (``f(x)`` there). 1.6's nested loop runs only the called task's own
subtree; ours runs every ready task of the thread (as the design states), so
it can batch more: the same values, fewer or differently filled flushes.

Batches of equal priority: asynq 1.6 keeps the batches to flush in a set and
so breaks such ties by object address, which no program can control. The
comparison does not depend on it: 1.6 is told the sequence of batches ours
flushed and, among the batches whose priorities are equal and highest (only
those), prefers the one ours flushed at that point (see ``hints`` in
``differential16.py``). So a tie that ours breaks one way, 1.6 breaks the same
way, and the rest of the run (which keys join the batches still pending) is
compared exactly; flushing a batch of lower priority, or one that 1.6 would
not have pending then, is still a difference.

asynq 1.6 is installed from the index at test time into a virtualenv of its
own, under a cache folder keyed by its recipe (``ASYNQ16_ENV_DIR`` overrides
the folder), never into an environment that tests this repository: its import
name is ours. One worker process serves every program of the test. Where the
index cannot be reached the test is skipped, and fails under ``CI=true``.

Programs are drawn derandomized (the same ones on every run) with no example
database; ``ASYNQ_DIFF16_EXAMPLES`` sets how many (2,000 by default: about 25 s
on two cores when they agree). Hypothesis stops drawing at the first failing
program, so a difference can hide behind another: for triage,
``ASYNQ_DIFF16_WITHOUT=sync,dict`` leaves features out (each is drawn as the
simplest thing instead; the default is ``sync``), to see which differences
remain once known ones are set aside.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
INTERPRETER = HERE / "differential16.py"
EXAMPLES = int(os.environ.get("ASYNQ_DIFF16_EXAMPLES", "2000"))
IN_CI = os.environ.get("CI", "").lower() == "true"

# What the 1.6 environment holds. Compiled wheels only: asynq 1.6 is built
# with Cython, and an interpreter without its wheel (cp310 to cp313) should
# not try to compile it. Bump RECIPE_VERSION when the way it is built changes.
RECIPE_VERSION = 1
REQUIREMENTS = ["asynq==1.6.0", "qcore==1.11.1", "pygments==2.21.0"]
WORKER_TIMEOUT = 30.0  # seconds for one program (they take milliseconds)


def _load_interpreter() -> ModuleType:
    name = "differential16"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, INTERPRETER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


interp = _load_interpreter()


# -- the asynq 1.6 environment and its worker -----------------------------------------


class EnvError(Exception):
    """The 1.6 environment could not be built (the index unreachable, no wheel, ...)."""


def _recipe() -> dict[str, Any]:
    return {
        "recipe_version": RECIPE_VERSION,
        "python": sys.version,
        "base_python": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        "requirements": REQUIREMENTS,
    }


def _env_dir(recipe: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    root = os.environ.get("ASYNQ16_ENV_DIR")
    if root:
        base = Path(root)
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(cache) / "asynq-tests"
    return base / f"asynq16-{digest}"


def _env_python(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def _run(command: list[str], what: str) -> None:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise EnvError(f"{what}: no answer after 600 s") from None
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-20:])
        raise EnvError(f"{what} failed (exit {completed.returncode}):\n{tail}")


def ensure_asynq16_env() -> Path:
    """The interpreter of the asynq 1.6 virtualenv, built first if needed.

    Built in a temporary folder beside its final place and renamed into it when
    complete (its stamp written last), so a half-built environment is never
    used and two test runs building at once do not collide.
    """
    recipe = _recipe()
    env_dir = _env_dir(recipe)
    stamp = env_dir / "asynq16-recipe.json"

    def complete() -> bool:
        try:
            return json.loads(stamp.read_text(encoding="utf-8")) == recipe
        except (OSError, ValueError):
            return False

    if complete():
        return _env_python(env_dir)
    if env_dir.exists():  # damaged (not built by this function): build it again
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=env_dir.name + ".building-", dir=env_dir.parent))
    try:
        _run([sys.executable, "-m", "venv", str(building)], "creating the asynq 1.6 virtualenv")
        python = _env_python(building)
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary",
                ":all:",
                *REQUIREMENTS,
            ],
            f"pip install {' '.join(REQUIREMENTS)}",
        )
        (building / "asynq16-recipe.json").write_text(json.dumps(recipe), encoding="utf-8")
        try:
            building.rename(env_dir)
        except OSError:
            if not complete():  # not another run's complete environment
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return _env_python(env_dir)


class Worker:
    """A process of the 1.6 environment running ``differential16.py``: one program
    per request, one outcome per reply, for as long as the test needs it."""

    def __init__(self, python: Path) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        # -E -s: no PYTHONPATH, no user site: nothing of ours can be imported there.
        self.process = subprocess.Popen(
            [str(python), "-E", "-s", str(INTERPRETER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        self.hello = self._read()["hello"]

    def _read(self) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], WORKER_TIMEOUT)
        line = stdout.readline() if ready else ""
        if not line:
            self.close()
            self.stderr.seek(0)
            raise AssertionError(
                f"the asynq 1.6 worker did not answer within {WORKER_TIMEOUT} s "
                f"(exit code {self.process.returncode}):\n{self.stderr.read()[-3000:]}"
            )
        return json.loads(line)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
        self.stderr.close()

    def run(self, program: dict[str, Any], hints: list[str]) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps({"program": program, "hints": hints}) + "\n")
        stdin.flush()
        reply = self._read()
        if "crash" in reply:
            raise AssertionError(f"the interpreter failed under asynq 1.6:\n{reply['crash']}")
        return reply

    def close(self) -> None:
        process = self.process
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


@pytest.fixture(scope="module")
def asynq16() -> Iterator[Worker]:
    try:
        python = ensure_asynq16_env()
    except (EnvError, OSError) as error:
        message = f"cannot build the asynq 1.6 environment: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with Worker(python) as worker:
        yield worker


# -- programs -----------------------------------------------------------------------
#
# One composite strategy draws a whole program through plain functions that
# draw only a few module-level strategies: hypothesis' cost is per strategy
# and per draw, and these thousands of programs must take seconds, not minutes.
# sampled_from favours (and shrinks towards) its first choices: plain waits,
# reads, present keys, the batch of highest priority.

MAX_TASKS = 150  # an upper bound of the tasks a program makes, so that each stays fast
MAX_DEPTH = 2  # how deep groups nest in an expression
MAX_NESTING = 2  # how deep try statements nest

PRESENT_KEYS = list(range(interp.MISSING_KEY))
KEYS = st.sampled_from([*PRESENT_KEYS, interp.MISSING_KEY, *PRESENT_KEYS, interp.POISON_KEY])
BATCHES = st.sampled_from(interp.BATCH_NAMES)
BOOLEANS = st.booleans()
SMALL = st.integers(0, 9)
TAGS = st.integers(0, 99)
BODY_LENGTHS = st.integers(1, 4)
GROUP_SIZES = st.integers(0, 4)
GROUP_KINDS = st.sampled_from(["list", "tuple", "dict"])
LEAF_KINDS = st.sampled_from(
    ["read", "call", "read", "call", "call", "shared", "const", "none", "item", "read", "plain"]
)
EXPR_KINDS = st.sampled_from(["leaf", "leaf", "group", "leaf", "twice"])
STATEMENT_KINDS = st.sampled_from(
    [
        *("wait", "wait", "wait", "try", "wait", "wait", "fail", "wait", "return", "try", "wait"),
        *("start", "wait", "sync"),
    ]
)
TRY_SHAPES = st.sampled_from(["except", "finally", "both"])
ENDS = st.sampled_from(["return", "result"])

# ASYNQ_DIFF16_WITHOUT=dict,... leaves those features out (see the module
# docstring). The test as CI runs it leaves out "sync" only, the one known,
# deliberate difference; ASYNQ_DIFF16_WITHOUT= (empty) draws it too.
FEATURES = {
    *("dict", "twice", "shared", "item", "plain", "const", "try", "fail", "return"),
    *("start", "sync", "missing", "poison", "result"),
}
WITHOUT = {name for name in os.environ.get("ASYNQ_DIFF16_WITHOUT", "sync").split(",") if name}
if WITHOUT - FEATURES:
    raise ValueError(f"ASYNQ_DIFF16_WITHOUT: unknown features {sorted(WITHOUT - FEATURES)}")


def draw_kind(draw: st.DrawFn, kinds: st.SearchStrategy[str], instead: str) -> str:
    kind = draw(kinds)
    return instead if kind in WITHOUT else kind


def draw_key(draw: st.DrawFn) -> int:
    key = draw(KEYS)
    if (key == interp.MISSING_KEY and "missing" in WITHOUT) or (
        key == interp.POISON_KEY and "poison" in WITHOUT
    ):
        return 0
    return key


class Scope:
    """What the body of function ``index`` (of ``count``) may name."""

    def __init__(self, index: int, count: int, shared: list[int], items: int) -> None:
        self.callees = st.integers(index + 1, count - 1) if index + 1 < count else None
        usable = [slot for slot, fn in enumerate(shared) if fn > index]
        self.slots = st.sampled_from(usable) if usable else None
        self.items = st.integers(0, items - 1) if items else None


def draw_expr(draw: st.DrawFn, scope: Scope, depth: int = 0) -> Any:
    kind = draw_kind(draw, EXPR_KINDS, "leaf") if depth < MAX_DEPTH else "leaf"
    if kind == "group":
        parts = [draw_expr(draw, scope, depth + 1) for _ in range(draw(GROUP_SIZES))]
        return [draw_kind(draw, GROUP_KINDS, "list"), parts]
    if kind == "twice":
        return ["twice", draw_expr(draw, scope, depth + 1)]
    leaf = draw_kind(draw, LEAF_KINDS, "read")
    if leaf == "call" and scope.callees is not None:
        return ["call", draw(scope.callees)]
    if leaf == "shared" and scope.slots is not None:
        return ["shared", draw(scope.slots)]
    if leaf == "item" and scope.items is not None:
        return ["item", draw(scope.items)]
    if leaf in ("const", "plain"):
        return [leaf, draw(SMALL)]
    if leaf == "none":
        return None
    return ["read", draw(BATCHES), draw_key(draw)]


def draw_body(draw: st.DrawFn, scope: Scope, nesting: int = 0, in_finally: bool = False) -> list:
    body: list[Any] = []
    for _ in range(draw(BODY_LENGTHS)):
        kind = draw_kind(draw, STATEMENT_KINDS, "wait")
        if kind == "try" and nesting < MAX_NESTING:
            shape = draw(TRY_SHAPES)
            try_body = draw_body(draw, scope, nesting + 1, in_finally)
            handler = (
                None if shape == "finally" else draw_body(draw, scope, nesting + 1, in_finally)
            )
            final = None if shape == "except" else draw_body(draw, scope, nesting + 1, True)
            body.append(["try", try_body, handler, final])
        elif kind == "fail":
            body.append(["fail", draw(TAGS)])
        elif kind == "return" and not in_finally:  # no return inside a finally body
            body.append(["return"])
        elif kind == "start":
            body.append(["start", draw_expr(draw, scope)])
        elif kind == "sync" and scope.callees is not None:
            body.append(["sync", draw(scope.callees), draw(BOOLEANS)])
        else:
            body.append(["wait", draw_expr(draw, scope), draw(BOOLEANS)])
    return body


def task_bound(program: dict[str, Any]) -> int:
    """An upper bound of the tasks a run makes (shared tasks counted at each use)."""
    fns, shared = program["fns"], program["shared"]

    @functools.cache
    def of_function(index: int) -> int:
        return 1 + of_body(fns[index])

    def of_body(body: list[Any]) -> int:
        total = 0
        for stmt in body:
            if stmt[0] in ("wait", "start"):
                total += of_expr(stmt[1])
            elif stmt[0] == "sync":
                total += of_function(stmt[1])
            elif stmt[0] == "try":
                total += sum(of_body(part) for part in stmt[1:] if part is not None)
        return total

    def of_expr(expr: Any) -> int:
        if expr is None or expr[0] in ("const", "plain", "read", "item"):
            return 0
        if expr[0] == "call":
            return of_function(expr[1])
        if expr[0] == "shared":
            return of_function(shared[expr[1]])
        if expr[0] == "twice":
            return of_expr(expr[1])
        return sum(of_expr(part) for part in expr[1])

    return of_function(0)


@st.composite
def programs(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(2, 6))
    shared = draw(st.lists(st.integers(1, count - 1), max_size=2))
    items = [[draw(BATCHES), draw_key(draw)] for _ in range(draw(st.integers(0, 2)))]
    fns = [draw_body(draw, Scope(index, count, shared, len(items))) for index in range(count)]
    ends = [draw_kind(draw, ENDS, "return") for _ in range(count)]
    program = {"fns": fns, "ends": ends, "shared": shared, "items": items}
    assume(task_bound(program) <= MAX_TASKS)
    return program


# -- the test -----------------------------------------------------------------------


def run_ours(program: dict[str, Any]) -> dict[str, Any]:
    # through JSON, as the worker's replies are (tuples become lists)
    return json.loads(json.dumps(interp.run_program(program)))


def divergence(what: str, ours: list[Any], theirs: list[Any]) -> str:
    """Where two logs part, with what came before: an assertion message."""
    pairs = zip(ours, theirs, strict=False)
    index = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(ours), len(theirs)))

    def shown(log: list[Any]) -> str:
        return repr(log[index]) if index < len(log) else "(the end)"

    before = ours[max(0, index - 6) : index]
    return (
        f"the {what} part at entry {index}: ours {shown(ours)}, asynq 1.6 {shown(theirs)}\n"
        f"  before it (both): {before}\n  ours: {ours}\n  1.6:  {theirs}"
    )


def test_the_interpreter_runs_on_our_umbrella() -> None:
    assert interp.identify()["ours"], "in-process, 'import asynq' must be our umbrella"


def test_hints_break_ties_and_only_ties(asynq16: Worker) -> None:
    # B and C (priority 1) are pending together, later A (priority 2) and B:
    # on both sides the hints decide between B and C, and cannot put B before A.
    program = {
        "fns": [
            [
                ["wait", ["list", [["read", "B", 1], ["read", "C", 2]]], False],
                ["wait", ["call", 1], False],
            ],
            [["wait", ["list", [["read", "B", 3], ["read", "A", 4]]], False]],
        ],
        "ends": ["return", "return"],
        "shared": [],
    }
    for hints, order in [
        (["B", "C", "B", "A"], ["B", "C", "A", "B"]),
        (["C", "B", "B", "A"], ["C", "B", "A", "B"]),
    ]:
        ours = interp.run_program(program, hints)["flushes"]
        theirs = asynq16.run(program, hints)["flushes"]
        assert [name for name, _ in ours] == [name for name, _ in theirs] == order


def test_random_programs_agree_with_asynq_16(asynq16: Worker) -> None:
    assert not asynq16.hello["ours"], f"the worker runs our asynq: {asynq16.hello}"
    assert "asynq_core" in sys.modules, "in this process, 'import asynq' must be ours"
    ran = 0

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(program=programs())
    def agree(program: dict[str, Any]) -> None:
        nonlocal ran
        ran += 1
        ours = run_ours(program)
        theirs = asynq16.run(program, hints=[name for name, _ in ours["flushes"]])
        note("The program as asynq code:\n" + interp.to_source(program))
        assert ours["outcome"] == theirs["outcome"], (
            f"outcomes differ: ours {ours['outcome']} ({ours['detail']}), "
            f"asynq 1.6 {theirs['outcome']} ({theirs['detail']})"
        )
        assert ours["flushes"] == theirs["flushes"], divergence(
            "flush logs", ours["flushes"], theirs["flushes"]
        )
        assert ours["trace"] == theirs["trace"], divergence(
            "traces", ours["trace"], theirs["trace"]
        )

    agree()
    assert ran >= EXAMPLES
