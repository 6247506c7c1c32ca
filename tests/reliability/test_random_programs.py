"""Random asynq programs must behave exactly like their plain synchronous evaluation.

A program is a tuple of function bodies. Body ``i`` may call only functions
``j > i`` (so calls form a DAG and every program ends); its statements wait
for an expression (a constant, a key read through a batch, a call, None, or
lists, tuples and dicts of them nested, or the same future twice), call a
function synchronously, raise, or open a ``with`` block. Waits and
synchronous calls may catch the errors of what they waited for.

Two interpreters run the same description: ``Evaluation`` is plain Python
(no asynq) and also computes the program's *batch depth*, the number of
batch rounds it needs; ``AsynqRun`` runs it as asynq tasks whose keys are
read through a real ``BatchBase``. They must agree on the result or on which
error reaches the root, on how many times each function finished (nothing is
lost), on how many keys were read, and the number of flushes must equal the
batch depth: no more (batching works), no fewer (nothing is skipped). A
synchronous call nests a loop on Python's stack, which can keep a caller from
sharing a round with its siblings: with those, the depth is a lower bound.
The same programs also run under asyncio (without synchronous calls, which
asyncio mode refuses) with the same flushes.
With contexts, every ``with`` block enters a fresh AsyncContext that must be
active exactly while its task, or a task created inside its block, runs.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Union

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from asynq_contexts import AsyncContext
from asynq_core import ConstFuture, FutureBase, asynq, get_scheduler

RELIABILITY = settings.get_profile("reliability")

KEY_COUNT = 12
ROWS = {key: key * 11 for key in range(KEY_COUNT - 1)}  # the last key is missing: KeyError
MAX_CALLS = 300  # task executions per program, so that each example stays fast


class ProgramError(Exception):
    """What a ``Fail`` statement raises."""


# -- the program description ----------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Read:
    key: int


@dataclass(frozen=True)
class Call:
    fn: int


@dataclass(frozen=True)
class Group:
    kind: str  # "list", "tuple" or "dict"
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Twice:
    """The same future (or structure) twice in a list."""

    part: Expr


Expr = Union[None, Const, Read, Call, Group, Twice]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Wait:
    expr: Expr
    catch: bool


@dataclass(frozen=True)
class SyncCall:
    fn: int
    catch: bool


@dataclass(frozen=True)
class Fail:
    tag: int


@dataclass(frozen=True)
class Within:
    """A ``with`` block (a fresh AsyncContext when contexts are on)."""

    body: tuple[Stmt, ...]


Stmt = Union[Wait, SyncCall, Fail, Within]  # noqa: UP007 (a runtime alias)
Program = tuple[tuple[Stmt, ...], ...]

CAUGHT = (ProgramError, KeyError)


def describe(error: BaseException) -> tuple[str, tuple[Any, ...]]:
    return type(error).__name__, error.args


# -- strategies -----------------------------------------------------------------


@functools.cache
def expressions(index: int, count: int) -> st.SearchStrategy[Expr]:
    reads = st.builds(Read, st.integers(0, KEY_COUNT - 1))
    leaves: list[st.SearchStrategy[Any]] = [reads, st.builds(Const, st.integers(0, 9))]
    if index + 1 < count:
        leaves.append(st.builds(Call, st.integers(index + 1, count - 1)))
    leaves += [reads, st.none()]

    def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.builds(
                Group,
                st.sampled_from(["list", "tuple", "dict"]),
                st.lists(children, max_size=4).map(tuple),
            ),
            st.builds(Twice, children),
        )

    return st.recursive(st.one_of(leaves), extend, max_leaves=6)


STATEMENT_KINDS = ["wait", "wait", "wait", "wait", "sync", "with", "wait", "fail"]


@st.composite
def bodies(draw: st.DrawFn, index: int, count: int, nesting: int = 0) -> tuple[Stmt, ...]:
    # Kinds are drawn from a list that starts with waits and holds few fails:
    # hypothesis favours (and shrinks towards) the first choices, and a program
    # that fails at once tests little.
    body: list[Stmt] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(STATEMENT_KINDS))
        if kind == "sync" and index + 1 < count:
            body.append(SyncCall(draw(st.integers(index + 1, count - 1)), draw(st.booleans())))
        elif kind == "with" and nesting < 2:
            body.append(Within(draw(bodies(index, count, nesting + 1))))
        elif kind == "fail":
            body.append(Fail(draw(st.integers(0, 99))))
        else:
            body.append(Wait(draw(expressions(index, count)), draw(st.booleans())))
    return tuple(body)


def call_count(program: Program) -> int:
    """An upper bound of the tasks a run creates (as if nothing failed)."""

    @functools.cache
    def calls_of_function(index: int) -> int:
        return 1 + calls_of_body(program[index])

    def calls_of_body(body: tuple[Stmt, ...]) -> int:
        total = 0
        for stmt in body:
            if isinstance(stmt, Wait):
                total += calls_of_expr(stmt.expr)
            elif isinstance(stmt, SyncCall):
                total += calls_of_function(stmt.fn)
            elif isinstance(stmt, Within):
                total += calls_of_body(stmt.body)
        return total

    def calls_of_expr(expr: Expr) -> int:
        if isinstance(expr, Call):
            return calls_of_function(expr.fn)
        if isinstance(expr, Twice):
            return calls_of_expr(expr.part)
        if isinstance(expr, Group):
            return sum(calls_of_expr(part) for part in expr.parts)
        return 0

    return calls_of_function(0)


@st.composite
def programs(draw: st.DrawFn, with_sync_calls: bool = True) -> Program:
    count = draw(st.integers(2, 5))
    program = tuple(draw(bodies(index, count)) for index in range(count))
    if not with_sync_calls:
        program = tuple(_without_sync_calls(body) for body in program)
    assume(call_count(program) <= MAX_CALLS)
    return program


@st.composite
def failing_structures(draw: st.DrawFn) -> Program:
    """A root yielding one nested structure of calls, most of which fail, each
    with its own error, some after a read: which error surfaces, and when?"""
    leaf_count = draw(st.integers(2, 6))
    leaves: list[tuple[Stmt, ...]] = []
    for index in range(1, leaf_count + 1):
        read: tuple[Stmt, ...] = (Wait(Read(draw(st.integers(0, KEY_COUNT - 1))), False),)
        ending = draw(st.sampled_from(["fail", "fail after a read", "value after a read"]))
        if ending == "fail":
            leaves.append((Fail(index),))
        elif ending == "fail after a read":
            leaves.append((*read, Fail(index)))
        else:
            leaves.append(read)
    calls = st.builds(Call, st.integers(1, leaf_count))
    shape = st.recursive(
        st.one_of(calls, st.none()),
        lambda children: st.builds(
            Group,
            st.sampled_from(["list", "tuple", "dict"]),
            st.lists(children, min_size=1, max_size=4).map(tuple),
        ),
        max_leaves=8,
    )
    root: tuple[Stmt, ...] = (Wait(draw(shape), False),)
    return (root, *leaves)


def _without_sync_calls(body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    result: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, SyncCall):
            result.append(Wait(Call(stmt.fn), stmt.catch))
        elif isinstance(stmt, Within):
            result.append(Within(_without_sync_calls(stmt.body)))
        else:
            result.append(stmt)
    return tuple(result)


# -- the plain interpreter --------------------------------------------------------

# (ok, value or described error, time): time counts the batch rounds done so
# far. A read started at time t is answered by the flush ending round t + 1;
# the parts of a structure all start together, so it is done when its
# slowest part is (even if another part failed: the others still finish).
Outcome = tuple[bool, Any, int]


class Evaluation:
    """Evaluates a program with plain calls, counting its batch depth."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.finished: Counter[int] = Counter()
        self.reads = 0

    def call(self, index: int, time: int) -> Outcome:
        results: list[Any] = []
        ok, error, time = self.body(self.program[index], time, results)
        self.finished[index] += 1
        return (True, results, time) if ok else (False, error, time)

    def body(self, body: tuple[Stmt, ...], time: int, results: list[Any]) -> Outcome:
        for stmt in body:
            if isinstance(stmt, (Wait, SyncCall)):
                if isinstance(stmt, Wait):
                    ok, value, time = self.expr(stmt.expr, time)
                else:
                    ok, value, time = self.call(stmt.fn, time)
                if ok:
                    results.append(value)
                elif stmt.catch:
                    results.append(("caught", *value))
                else:
                    return False, value, time
            elif isinstance(stmt, Fail):
                return False, describe(ProgramError(stmt.tag)), time
            else:
                ok, error, time = self.body(stmt.body, time, results)
                if not ok:
                    return False, error, time
        return True, None, time

    def expr(self, expr: Expr, time: int) -> Outcome:
        if expr is None:
            return True, None, time
        if isinstance(expr, Const):
            return True, expr.value, time
        if isinstance(expr, Read):
            self.reads += 1
            if expr.key in ROWS:
                return True, ROWS[expr.key], time + 1
            return False, describe(KeyError(expr.key)), time + 1
        if isinstance(expr, Call):
            return self.call(expr.fn, time)
        if isinstance(expr, Twice):
            ok, value, end = self.expr(expr.part, time)
            return (True, [value, value], end) if ok else (False, value, end)
        outcomes = [self.expr(part, time) for part in expr.parts]
        end = max([time, *(outcome[2] for outcome in outcomes)])
        for ok, value, _ in outcomes:
            if not ok:
                return False, value, end
        values = [value for _, value, _ in outcomes]
        if expr.kind == "tuple":
            return True, tuple(values), end
        if expr.kind == "dict":
            return True, {f"k{position}": value for position, value in enumerate(values)}, end
        return True, values, end


# -- the asynq interpreter ----------------------------------------------------------


class RecordingContext(AsyncContext):
    """Keeps ``run.active`` equal to the set of contexts resumed and not paused."""

    def __init__(self, run: AsynqRun, name: str) -> None:
        self.run = run
        self.name = name

    def resume(self) -> None:
        if self in self.run.active:
            self.run.violations.append(f"{self.name} resumed while active")
        self.run.active.add(self)

    def pause(self) -> None:
        if self not in self.run.active:
            self.run.violations.append(f"{self.name} paused while not active")
        self.run.active.discard(self)

    def __repr__(self) -> str:
        return f"<context {self.name}>"


class AsynqRun:
    """The state of one asynq run of a program."""

    def __init__(self, program: Program, table: Any, use_contexts: bool) -> None:
        self.program = program
        self.table = table
        self.use_contexts = use_contexts
        self.finished: Counter[int] = Counter()
        self.active: set[RecordingContext] = set()
        self.violations: list[str] = []
        self.contexts_made = 0

    def check_contexts(self, where: str, expected: frozenset[RecordingContext]) -> None:
        if self.active != expected:
            self.violations.append(
                f"{where}: active {sorted(c.name for c in self.active)}, "
                f"expected {sorted(c.name for c in expected)}"
            )

    def build(self, expr: Expr, expected: frozenset[RecordingContext]) -> Any:
        if expr is None:
            return None
        if isinstance(expr, Const):
            return ConstFuture(expr.value)
        if isinstance(expr, Read):
            return self.table.lookup(expr.key)
        if isinstance(expr, Call):
            return run_function.asynq(self, expr.fn, expected)
        if isinstance(expr, Twice):
            part = self.build(expr.part, expected)
            return [part, part]
        parts = [self.build(part, expected) for part in expr.parts]
        if expr.kind == "tuple":
            return tuple(parts)
        if expr.kind == "dict":
            return {f"k{position}": part for position, part in enumerate(parts)}
        return parts


@asynq()
def run_function(
    run: AsynqRun, index: int, expected: frozenset[RecordingContext]
) -> Generator[Any, Any, list[Any]]:
    results: list[Any] = []
    try:
        yield from run_body(run, index, run.program[index], expected, results)
    finally:
        run.finished[index] += 1
    return results


def run_body(
    run: AsynqRun,
    index: int,
    body: tuple[Stmt, ...],
    expected: frozenset[RecordingContext],
    results: list[Any],
) -> Generator[Any, Any, None]:
    where = f"f{index}"
    for stmt in body:
        run.check_contexts(where, expected)
        if isinstance(stmt, (Wait, SyncCall)):
            try:
                if isinstance(stmt, Wait):
                    value = yield run.build(stmt.expr, expected)
                else:
                    value = run_function(run, stmt.fn, expected)
            except CAUGHT as error:
                if not stmt.catch:
                    raise
                value = ("caught", *describe(error))
            results.append(value)
        elif isinstance(stmt, Fail):
            raise ProgramError(stmt.tag)
        elif run.use_contexts:
            run.contexts_made += 1
            context = RecordingContext(run, f"{where}.c{run.contexts_made}")
            with context:
                yield from run_body(run, index, stmt.body, expected | {context}, results)
        else:
            yield from run_body(run, index, stmt.body, expected, results)
    run.check_contexts(where, expected)


def root_outcome(run_root: Any) -> tuple[bool, Any]:
    try:
        return True, run_root()
    except CAUGHT as error:
        return False, describe(error)


def check_against_evaluation(
    program: Program, table: Any, run: AsynqRun, outcome: Any, exact_flushes: bool = True
) -> None:
    """Same outcome, same finished functions, same reads as the plain evaluation,
    and as many flushes as the batch depth.

    With synchronous calls (``exact_flushes=False``) the depth is only a lower
    bound: a synchronous call nests a scheduler loop on the Python stack, so a
    caller whose callee is done still waits for the loops nested above it
    (started by sibling tasks) to return, and their rounds are not shared.
    """
    evaluation = Evaluation(program)
    ok, value, depth = evaluation.call(0, 0)
    assert outcome == (ok, value)
    assert run.finished == evaluation.finished, "every started function finished once"
    assert sum(len(keys) for _, keys in table.log) == evaluation.reads
    flushes = table.flush_count()
    if exact_flushes:
        assert flushes == depth, f"flushes {table.log} for a batch depth of {depth}"
    else:
        assert depth <= flushes <= evaluation.reads, f"flushes {table.log}, batch depth {depth}"


def assert_clean_scheduler() -> None:
    scheduler = get_scheduler()
    assert scheduler.active_task is None
    assert scheduler._ready == [] or all(task.is_computed() for task in scheduler._ready)
    assert scheduler.pending_groups() == []


# -- the properties ---------------------------------------------------------------


@RELIABILITY
@given(program=programs(with_sync_calls=False))
def test_a_random_program_matches_its_synchronous_evaluation(program: Program, table_cls) -> None:
    table = table_cls("rows", ROWS)
    run = AsynqRun(program, table, use_contexts=False)
    outcome = root_outcome(lambda: run_function(run, 0, frozenset()))
    check_against_evaluation(program, table, run, outcome)
    assert_clean_scheduler()


@RELIABILITY
@given(program=failing_structures())
def test_the_first_error_in_structure_order_surfaces_once_all_parts_finished(
    program: Program, table_cls
) -> None:
    table = table_cls("rows", ROWS)
    run = AsynqRun(program, table, use_contexts=False)
    outcome = root_outcome(lambda: run_function(run, 0, frozenset()))
    check_against_evaluation(program, table, run, outcome)
    assert_clean_scheduler()


@RELIABILITY
@given(program=programs())
def test_synchronous_calls_inside_tasks_keep_every_result(program: Program, table_cls) -> None:
    table = table_cls("rows", ROWS)
    run = AsynqRun(program, table, use_contexts=False)
    outcome = root_outcome(lambda: run_function(run, 0, frozenset()))
    check_against_evaluation(program, table, run, outcome, exact_flushes=False)
    assert_clean_scheduler()


@RELIABILITY
@given(program=programs())
def test_contexts_are_active_exactly_while_their_tasks_run(program: Program, table_cls) -> None:
    table = table_cls("rows", ROWS)
    run = AsynqRun(program, table, use_contexts=True)

    def no_context_during_a_flush(group: FutureBase[Any]) -> None:
        if run.active:
            run.violations.append(f"flush of {group!r} with {sorted(c.name for c in run.active)}")

    get_scheduler().on_before_batch_flush.subscribe(no_context_during_a_flush)
    outcome = root_outcome(lambda: run_function(run, 0, frozenset()))
    assert run.violations == []
    assert run.active == set(), "every context is paused at the end"
    check_against_evaluation(program, table, run, outcome, exact_flushes=False)
    assert_clean_scheduler()


@RELIABILITY
@given(program=programs(with_sync_calls=False))
def test_a_random_program_under_asyncio_makes_the_same_flushes(program: Program, table_cls) -> None:
    table = table_cls("rows", ROWS)
    run = AsynqRun(program, table, use_contexts=True)
    outcome = root_outcome(lambda: asyncio.run(run_function.asyncio(run, 0, frozenset())))
    assert run.violations == []
    assert run.active == set()
    check_against_evaluation(program, table, run, outcome)


@RELIABILITY
@given(first=programs(), second=programs())
def test_a_second_program_runs_cleanly_after_the_first(
    first: Program, second: Program, table_cls
) -> None:
    for program in (first, second):
        table = table_cls("rows", ROWS)
        run = AsynqRun(program, table, use_contexts=True)
        outcome = root_outcome(lambda run=run: run_function(run, 0, frozenset()))
        check_against_evaluation(program, table, run, outcome, exact_flushes=False)
        assert_clean_scheduler()


def test_the_model_counts_batch_rounds_not_reads() -> None:
    # A guard on the oracle itself: reads side by side share a round,
    # reads one after the other do not, and a failing part still finishes.
    parallel: Program = (
        (Wait(Group("list", (Read(1), Read(2), Call(1))), False),),
        (Wait(Read(3), False),),
    )
    assert Evaluation(parallel).call(0, 0)[2] == 1
    sequential: Program = ((Wait(Read(1), False), Wait(Call(1), False)), (Wait(Read(3), False),))
    assert Evaluation(sequential).call(0, 0)[2] == 2
    missing = KEY_COUNT - 1
    failing: Program = (
        (Wait(Group("tuple", (Read(missing), Call(1))), False),),
        (
            Wait(Read(1), False),
            Wait(Read(2), False),
        ),
    )
    assert Evaluation(failing).call(0, 0) == (False, ("KeyError", (missing,)), 2)
