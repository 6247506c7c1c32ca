"""One interpreter of random asynq programs, run on our umbrella and on asynq 1.6.

This module imports nothing but the standard library and ``asynq``, and uses
only what asynq 1.6 has (``asynq.asynq``, ``BatchBase``, ``BatchItemBase``,
``ConstFuture``, ``result``, ``scheduler.reset``). The differential test
(``test_differential_16.py``) imports it in-process, where ``asynq`` is our
umbrella, and also starts it as a script in a virtualenv that holds asynq 1.6
(never one that tests this repository): there it serves programs read as JSON
lines on stdin and writes one JSON outcome per line on stdout.

A program is JSON data (lists, strings, ints, ``None``)::

    {"fns": [body, ...],          function i may call only functions j > i
     "ends": ["return" | "result", ...],   how function i hands back its value
     "shared": [fn, ...],         shared task slots: slot s is one task of
                                  function shared[s], made at its first use
                                  and awaited by every body that names it
     "items": [[batch, key], ...]}  shared lookups: slot s is one batch item,
                                  made at its first use (it may be yielded
                                  again after its batch was flushed)

    body: a list of statements
      ["wait", expr, catch]       value = yield expr; appended to the results;
                                  catch: an error in CAUGHT (the program's own,
                                  and TypeError) is caught and ["caught", type,
                                  args] appended instead
      ["fail", tag]               raise ProgramError(tag)
      ["try", body, handler, fin] try: body / except CAUGHT: handler
                                  / finally: fin (handler or fin may be None)
      ["return"]                  return early (in the function's own style)
      ["start", expr]             makes expr's futures without yielding them:
                                  a lookup joins its batch (flushed with it, if
                                  ever), a task is made (and runs only if some
                                  body yields it later: a shared one)
      ["sync", fn, catch]         value = a synchronous call of function fn
                                  inside the task; catch as for "wait"

    expr: None, ["const", v] (a ConstFuture), ["plain", v] (v itself, not a
          future: yielding it is a TypeError), ["read", batch, key],
          ["call", fn], ["shared", slot], ["item", slot], ["twice", expr] (the
          same futures twice in a list), ["list" | "tuple" | "dict", [expr, ...]]

A function returns the list of its results, with ``return`` or with
``result(...); return`` (1.6's way), whether early or at its end.

Reads go through five ``BatchBase`` subclasses, one active batch of each per
run: ``A`` (priority 2), ``B`` and ``C`` (priority 1: equal), ``D`` and ``E``
(``BatchBase``'s own default priority, ``(0, len(items))``: equal when their
sizes are). ``_flush`` logs the batch and its keys in item order, then sets
each item: key ``MISSING_KEY`` fails with KeyError, key ``POISON_KEY`` makes
``_flush`` itself raise FlushError (the items before it keep their values,
the batch's error goes to the rest).

The outcome of a run: the root's value or error, the flush log, and a trace
of events (each task's start, every resumption after a yield, and every
flush; tasks are named by their function and creation order), as JSON data.

Equal priorities: asynq 1.6 keeps the batches to flush in a set, so it breaks
a tie between batches of equal priority by their addresses. ``hints`` (the
sequence of batch names flushed by the other implementation) lets it break
ties as the other did: ``get_priority`` returns the batch's own priority plus
a last component, 1 for the batch named by the hint of this flush, else 0. It
decides only among batches whose own priorities are equal and highest.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import asynq
from asynq import BatchBase, BatchItemBase, ConstFuture, result

MISSING_KEY = 8  # its lookup fails with KeyError
POISON_KEY = 9  # the flush of a batch holding it raises FlushError
BATCH_NAMES = ("A", "B", "C", "D", "E")


class ProgramError(Exception):
    """What a ``fail`` statement raises."""


class FlushError(Exception):
    """What ``_flush`` raises for a batch that holds POISON_KEY."""


PROGRAM_ERRORS = (ProgramError, KeyError, FlushError)
# what a catching wait or an except clause catches: the program's errors, and
# the TypeError of a yielded value that is not a future
CAUGHT = (*PROGRAM_ERRORS, TypeError)


def row(batch_name: str, key: int) -> int:
    return 100 * (BATCH_NAMES.index(batch_name) + 1) + key


# -- batches ---------------------------------------------------------------------


class Lookup(BatchItemBase):
    def __init__(self, batch: ProgramBatch, key: int) -> None:
        BatchItemBase.__init__(self, batch)
        self.key = key


class ProgramBatch(BatchBase):
    name = "?"
    level: int | None = None  # None: BatchBase's default priority

    def __init__(self, run: Run) -> None:
        BatchBase.__init__(self)
        self.run = run

    def get_priority(self) -> Any:
        own = BatchBase.get_priority(self) if self.level is None else (self.level, 0)
        run = self.run
        hints = run.hints
        done = len(run.flushes)
        preferred = hints is not None and done < len(hints) and hints[done] == self.name
        return (*own, 1 if preferred else 0)

    def _try_switch_active_batch(self) -> None:
        if self.run.active.get(self.name) is self:
            self.run.active[self.name] = type(self)(self.run)

    def _flush(self) -> None:
        keys = [item.key for item in self.items]
        self.run.flushes.append([self.name, keys])
        self.run.trace.append(f"flush {self.name} {keys}")
        for item in self.items:
            if item.key == POISON_KEY:
                raise FlushError(self.name)
            if item.key == MISSING_KEY:
                item.set_error(KeyError(item.key))
            else:
                item.set_value(row(self.name, item.key))


class A(ProgramBatch):
    name = "A"
    level = 2


class B(ProgramBatch):
    name = "B"
    level = 1


class C(ProgramBatch):
    name = "C"
    level = 1


class D(ProgramBatch):
    name = "D"


class E(ProgramBatch):
    name = "E"


BATCH_CLASSES = {cls.name: cls for cls in (A, B, C, D, E)}


# -- running a program ------------------------------------------------------------


class Run:
    """The state of one run of a program."""

    def __init__(self, program: dict[str, Any], hints: list[str] | None) -> None:
        self.fns: list[list[Any]] = program["fns"]
        self.ends: list[str] = program["ends"]
        self.shared_fns: list[int] = program.get("shared", [])
        self.hints = hints
        self.active: dict[str, ProgramBatch] = {}
        self.flushes: list[list[Any]] = []
        self.trace: list[str] = []
        self.shared: dict[int, Any] = {}
        self.item_keys: list[list[Any]] = program.get("items", [])
        self.items: dict[int, Lookup] = {}
        self.tasks_made = 0

    def lookup(self, batch_name: str, key: int) -> Lookup:
        batch = self.active.get(batch_name)
        if batch is None:
            batch = self.active[batch_name] = BATCH_CLASSES[batch_name](self)
        return Lookup(batch, key)

    def label(self, fn: int) -> str:
        label = f"f{fn}#{self.tasks_made}"
        self.tasks_made += 1
        return label

    def task(self, fn: int) -> Any:
        return run_function.asynq(self, fn, self.label(fn))

    def build(self, expr: Any) -> Any:
        if expr is None:
            return None
        kind = expr[0]
        if kind == "const":
            return ConstFuture(expr[1])
        if kind == "plain":
            return expr[1]  # not a future: yielding it is a TypeError
        if kind == "read":
            return self.lookup(expr[1], expr[2])
        if kind == "call":
            return self.task(expr[1])
        if kind == "shared":
            slot = expr[1]
            if slot not in self.shared:
                self.shared[slot] = self.task(self.shared_fns[slot])
            return self.shared[slot]
        if kind == "item":
            slot = expr[1]
            if slot not in self.items:
                self.items[slot] = self.lookup(*self.item_keys[slot])
            return self.items[slot]
        if kind == "twice":
            part = self.build(expr[1])
            return [part, part]
        parts = [self.build(part) for part in expr[1]]
        if kind == "tuple":
            return tuple(parts)
        if kind == "dict":
            return {f"k{position}": part for position, part in enumerate(parts)}
        return parts


def describe(error: BaseException) -> list[Any]:
    """Type and arguments of a program's error; only the type of any other."""
    if isinstance(error, PROGRAM_ERRORS):
        return [type(error).__name__, repr(error.args)]
    return [type(error).__name__, None]


def run_body(run: Run, fn: int, label: str, body: list[Any], results: list[Any]) -> Any:
    """Runs statements (a generator); returns True if a ``return`` statement ran.

    In a function of the "result" style, a ``return`` statement calls
    ``result(results)``, which raises (1.6's AsyncTaskResult) through the
    enclosing finally bodies, as ``result(x); return`` does in 1.6 code.
    """
    for stmt in body:
        kind = stmt[0]
        if kind == "wait":
            try:
                value = yield run.build(stmt[1])
            except CAUGHT as error:
                run.trace.append(f"{label} resumed: {type(error).__name__}")
                if not stmt[2]:
                    raise
                value = ["caught", *describe(error)]
            else:
                run.trace.append(f"{label} resumed")
            results.append(value)
        elif kind == "sync":
            try:
                value = run_function(run, stmt[1], run.label(stmt[1]))
            except CAUGHT as error:
                if not stmt[2]:
                    raise
                value = ["caught", *describe(error)]
            results.append(value)
        elif kind == "fail":
            raise ProgramError(stmt[1])
        elif kind == "start":
            run.build(stmt[1])
        elif kind == "return":
            if run.ends[fn] == "result":
                result(results)
            return True
        elif kind == "try":
            _, try_body, handler, final = stmt
            try:
                if (yield from run_body(run, fn, label, try_body, results)):
                    return True
            except CAUGHT as error:
                if handler is None:
                    raise
                results.append(["handled", *describe(error)])
                if (yield from run_body(run, fn, label, handler, results)):
                    return True
            finally:
                if final is not None:
                    # a finally body holds no return statement (the generator
                    # only makes those outside finally bodies)
                    yield from run_body(run, fn, label, final, results)
        else:
            raise ValueError(f"unknown statement {stmt!r}")
    return False


@asynq.asynq()
def run_function(run: Run, fn: int, label: str) -> Any:
    run.trace.append(f"{label} started")
    results: list[Any] = []
    yield from run_body(run, fn, label, run.fns[fn], results)
    if run.ends[fn] == "result":
        result(results)
        return
    return results


def run_program(program: dict[str, Any], hints: list[str] | None = None) -> dict[str, Any]:
    """Runs ``program`` on whatever ``asynq`` is imported; its outcome as JSON data."""
    run = Run(program, hints)
    try:
        value = run.task(0).value()
        outcome = ["value", repr(value)]
        detail = None
    except Exception as error:
        outcome = ["error", *describe(error)]
        detail = f"{type(error).__name__}: {error}"
    finally:
        asynq.scheduler.reset()
    return {"outcome": outcome, "detail": detail, "flushes": run.flushes, "trace": run.trace}


def identify() -> dict[str, Any]:
    """Which asynq this process runs: the worker's first line."""
    return {
        "asynq_file": asynq.__file__,
        "ours": "asynq_core" in sys.modules,
        "python": sys.version,
    }


def serve() -> None:
    """The worker loop: one JSON request per line in, one JSON reply per line out."""
    out = sys.stdout
    out.write(json.dumps({"hello": identify()}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            reply = run_program(request["program"], request.get("hints"))
        except BaseException:
            reply = {"crash": traceback.format_exc()}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()


# -- a program as asynq source, for humans -----------------------------------------


def to_source(program: dict[str, Any]) -> str:
    """``program`` written as the plain asynq code the interpreter runs (the
    helpers named in its first lines are those of this module)."""
    shared = program.get("shared", [])
    items = program.get("items", [])
    lines = [
        "# read(name, key): a Lookup joining the active batch `name` (A: priority 2;",
        "# B, C: 1; D, E: BatchBase's default); key 8 fails with KeyError, key 9",
        "# makes _flush raise FlushError. CAUGHT = (ProgramError, KeyError,",
        "# FlushError, TypeError).",
    ]
    lines += [
        f"# shared({s}): one task f{fn}.asynq(), made at its first use"
        for s, fn in enumerate(shared)
    ]
    lines += [
        f"# item({s}): one read({n!r}, {k}), made at its first use"
        for s, (n, k) in enumerate(items)
    ]

    def expr(e: Any) -> str:
        if e is None:
            return "None"
        kind = e[0]
        if kind == "const":
            return f"ConstFuture({e[1]})"
        if kind == "plain":
            return repr(e[1])
        if kind == "read":
            return f"read({e[1]!r}, {e[2]})"
        if kind == "call":
            return f"f{e[1]}.asynq()"
        if kind in ("shared", "item"):
            return f"{kind}({e[1]})"
        if kind == "twice":
            return f"[x := {expr(e[1])}, x]"
        parts = [expr(part) for part in e[1]]
        if kind == "tuple":
            return "(" + "".join(f"{part}, " for part in parts).rstrip(" ") + ")"
        if kind == "dict":
            return "{" + ", ".join(f"'k{i}': {part}" for i, part in enumerate(parts)) + "}"
        return "[" + ", ".join(parts) + "]"

    def body(fn: int, stmts: list[Any], indent: str) -> None:
        if not stmts:
            lines.append(indent + "pass")
        for stmt in stmts:
            kind = stmt[0]
            if kind in ("wait", "sync"):
                call = f"(yield {expr(stmt[1])})" if kind == "wait" else f"f{stmt[1]}()"
                if stmt[2]:
                    lines.append(indent + "try:")
                    lines.append(indent + f"    results.append({call})")
                    lines.append(indent + "except CAUGHT as error:")
                    lines.append(indent + "    results.append(['caught', error])")
                else:
                    lines.append(indent + f"results.append({call})")
            elif kind == "fail":
                lines.append(indent + f"raise ProgramError({stmt[1]})")
            elif kind == "start":
                lines.append(indent + f"{expr(stmt[1])}  # made, not yielded")
            elif kind == "return":
                if program["ends"][fn] == "result":
                    lines.append(indent + "result(results); return")
                else:
                    lines.append(indent + "return results")
            elif kind == "try":
                lines.append(indent + "try:")
                body(fn, stmt[1], indent + "    ")
                if stmt[2] is not None:
                    lines.append(indent + "except CAUGHT as error:")
                    lines.append(indent + "    results.append(['handled', error])")
                    body(fn, stmt[2], indent + "    ")
                if stmt[3] is not None:
                    lines.append(indent + "finally:")
                    body(fn, stmt[3], indent + "    ")

    for fn, stmts in enumerate(program["fns"]):
        lines += ["", "@asynq()", f"def f{fn}():", "    results = []"]
        body(fn, stmts, "    ")
        if program["ends"][fn] == "result":
            lines.append("    result(results); return")
        else:
            lines.append("    return results")
    lines += ["", "f0()"]
    return "\n".join(lines)
