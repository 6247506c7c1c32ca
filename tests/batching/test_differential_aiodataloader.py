"""Random programs of gathered coroutines: our loaders against aiodataloader.

Hypothesis writes programs of native coroutines, the way a GraphQL server or
a web handler uses a DataLoader: a tree of coroutines run with
``asyncio.gather`` (gathers nest), each doing a sequence of

- ``load``: ``v = await A.load(key)`` (or from the second loader, ``B``);
- ``chain``: ``v = await A.load(v)``, keyed by the previous value (a child
  coroutine starts with its parent's ``v``, as a field resolver gets its
  parent object);
- ``many``: ``await asyncio.gather(A.load(k1), A.load(k2), ...)``;
- ``yield``: ``await asyncio.sleep(0)``;
- ``sleep``: ``await asyncio.sleep(ms / 1000)``, a wait on something else
  (I/O that takes that long);
- ``gather``: ``await asyncio.gather(child(v), child(v), ...)``.

Each store answers after a latency the program draws (none, one turn of the
loop, or some milliseconds). The same program runs twice, each time on a
fresh event loop: with aiodataloader's ``DataLoader`` (``cache=False``, one
per store) and with our ``@batched()`` loaders (``async def`` bulk functions,
``loader.asyncio(key)``). Each bulk function logs the keys of every call.
The two runs must give the same values, and ours at most as many flushes
as aiodataloader, per loader, on every program but a rare few (below).
aiodataloader takes a loader's queue two loop turns after the turn of its
first load (``call_soon`` a callback that starts the dispatching task) and
calls the bulk function in the turn after; ours takes a batch at the same
point, or later while coroutines are still running (see
``asynq_core.batch_clock``).

The loops run on a virtual clock: time stands still while callbacks are
ready and jumps to the next timer when none is, as if the machine were
infinitely fast. So a program's sleeps and store latencies interleave the
same way on every run and every machine (a real clock would make the flush
counts of programs with several timers depend on the machine's load); the
loops are otherwise plain ``asyncio.SelectorEventLoop``s. A program that
hangs fails instead of blocking the test.

Programs are drawn derandomized (the same ones on every run) with no example
database; ``ASYNQ_ADLDIFF_EXAMPLES`` sets how many (2,000 by default, about
20 s on two cores when they agree). The programs that random search once
found failing (``FOUND_PROGRAMS``) run on every run besides. Ours is not
better on every program: ``KNOWN_EXCESS_PROGRAMS`` are programs where it
makes one flush more on a loader, of a kind that a search of 20,000 programs
meets about 15 times; they are expected to fail, and the random test allows
such programs up to 1 in 200 (never more than one flush more on a loader,
and fewer flushes in total). Without holds (``set_asyncio_hold_turns(0)``)
every program must make exactly aiodataloader's batches. A failure shows
the smallest program found, as code and as data, and both flush logs
(``turn: loader [keys]``, the turn being the loop iteration in which the
bulk function was called). ``ASYNQ_ADLDIFF_WITHOUT=B,latency`` (any of
``chain, many, yield, sleep, gather, B, latency``) leaves features out, each
drawn as the simplest thing instead (a load, loader A, no latency), for triage.

The totals over all programs (flushes of each side; programs where ours made
fewer, as many, more) are printed at the end of the test (``pytest -s`` or
``-rP`` shows them) and recorded as properties of the test (``--junitxml``).

``test_a_nested_query_of_depth_d_makes_d_flushes``: the GraphQL shape
(20 coroutines at the top, each level loading keyed by the values of the
level above) makes exactly one flush per level on ours, also when half of
the resolvers first ``await asyncio.sleep(0)`` one to three times
(aiodataloader makes ``d``, ``d``, ``3d - 1`` and ``2d`` flushes for 0 to 3
pauses); aiodataloader's counts are printed beside ours.
"""

from __future__ import annotations

import asyncio
import os
import selectors
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq_batching import batched
from asynq_core import set_asyncio_hold_turns

aiodataloader = pytest.importorskip("aiodataloader")

EXAMPLES = int(os.environ.get("ASYNQ_ADLDIFF_EXAMPLES", "2000"))
# Without holds (set_asyncio_hold_turns(0)) ours must match aiodataloader flush
# for flush; a quarter as many programs check it.
EXACT_EXAMPLES = max(1, EXAMPLES // 4)

LOADERS = ("A", "B")
KEYS = range(10)


def value_of(loader: str, key: int) -> int:
    """What store ``loader`` holds at ``key``: again a key, so that loads chain."""
    return (3 * key + 1) % 10 if loader == "A" else (7 * key + 3) % 10


# -- a fresh event loop on a virtual clock ---------------------------------------------

HANG_GUARD = 5.0  # real seconds without a ready callback nor a timer: the program hangs


class _VirtualClockSelector(selectors.DefaultSelector):
    """The loop's selector: waiting ``timeout`` seconds moves the virtual clock
    forward instead (nothing real is ever registered but the loop's own
    self-pipe); each call is one iteration (turn) of the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.turns = 0

    def select(self, timeout: float | None = None) -> Any:
        self.turns += 1
        if timeout is None:
            events = super().select(HANG_GUARD)
            if not events:
                raise RuntimeError(
                    "nothing is ready, no timer is set and nothing happened for "
                    f"{HANG_GUARD} s: the program hangs"
                )
            return events
        if timeout > 0:
            self.now += timeout
        return super().select(0)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.clock = _VirtualClockSelector()
        super().__init__(selector=self.clock)

    def time(self) -> float:
        return self.clock.now


def run_on_fresh_loop(main: Callable[[VirtualClockLoop], Coroutine[Any, Any, Any]]) -> Any:
    """``asyncio.run(main(loop))`` on a new VirtualClockLoop (also on 3.10, which
    has no ``loop_factory``), bounded by an hour of virtual time."""
    loop = VirtualClockLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(main(loop), timeout=3600))
    finally:
        try:
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            if leftover:
                loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


# -- programs ---------------------------------------------------------------------------
#
# A program: {"roots": [node, ...], "latency": {loader: latency}}, a node a
# list of steps (see the module docstring):
#   ["load", loader, key] ["chain", loader] ["many", loader, [key, ...]]
#   ["yield"] ["sleep", ms] ["gather", [node, ...]]
# a latency None (the bulk function does not await), 0 (it awaits sleep(0))
# or milliseconds. One composite strategy draws all of it through a few
# module-level strategies (cheap draws); sampled_from shrinks towards its
# first choices: loads of A, short programs.

FEATURES = {"chain", "many", "yield", "sleep", "gather", "B", "latency"}
WITHOUT = {n for n in os.environ.get("ASYNQ_ADLDIFF_WITHOUT", "").split(",") if n}
if WITHOUT - FEATURES:
    raise ValueError(f"ASYNQ_ADLDIFF_WITHOUT: unknown features {sorted(WITHOUT - FEATURES)}")

MAX_DEPTH = 3  # how deep gathers nest below the roots
STEP_KINDS = st.sampled_from(
    ["load", "chain", "gather", "load", "yield", "chain", "many", "sleep", "load", "gather"]
)
LOADER_CHOICE = st.sampled_from(["A", "A", "B"])
KEY = st.sampled_from(list(KEYS))
ROOT_COUNTS = st.integers(1, 4)
STEP_COUNTS = st.integers(1, 4)
CHILD_COUNTS = st.integers(1, 3)
MANY_COUNTS = st.integers(2, 3)
SLEEP_MS = st.sampled_from([1, 2, 3, 5])
LATENCIES = st.sampled_from([None, 0, 1, 2, 5])


def _draw_node(draw: st.DrawFn, depth: int) -> list[Any]:
    steps: list[Any] = []
    for _ in range(draw(STEP_COUNTS)):
        kind = draw(STEP_KINDS)
        if kind in WITHOUT or (kind == "gather" and depth >= MAX_DEPTH):
            kind = "load"
        loader = draw(LOADER_CHOICE)
        if "B" in WITHOUT:
            loader = "A"
        if kind == "load":
            steps.append(["load", loader, draw(KEY)])
        elif kind == "chain":
            steps.append(["chain", loader])
        elif kind == "many":
            steps.append(["many", loader, [draw(KEY) for _ in range(draw(MANY_COUNTS))]])
        elif kind == "yield":
            steps.append(["yield"])
        elif kind == "sleep":
            steps.append(["sleep", draw(SLEEP_MS)])
        else:
            steps.append(
                ["gather", [_draw_node(draw, depth + 1) for _ in range(draw(CHILD_COUNTS))]]
            )
    return steps


@st.composite
def programs(draw: st.DrawFn) -> dict[str, Any]:
    roots = [_draw_node(draw, 0) for _ in range(draw(ROOT_COUNTS))]
    latency = {name: (None if "latency" in WITHOUT else draw(LATENCIES)) for name in LOADERS}
    return {"roots": roots, "latency": latency}


def to_source(program: dict[str, Any]) -> str:
    """The program as the asyncio code it stands for (``A(k)`` is ``await A.load(k)``)."""
    lines = [f"# store latency (ms, None: no await): {program['latency']}"]

    def node(steps: list[Any], name: str, indent: str) -> None:
        lines.append(f"{indent}async def {name}(v):")
        inner = indent + "    "
        for index, step in enumerate(steps):
            kind = step[0]
            if kind == "load":
                lines.append(f"{inner}v = await {step[1]}({step[2]})")
            elif kind == "chain":
                lines.append(f"{inner}v = await {step[1]}(v)")
            elif kind == "many":
                loads = ", ".join(f"{step[1]}({key})" for key in step[2])
                lines.append(f"{inner}await gather({loads})")
            elif kind == "yield":
                lines.append(f"{inner}await sleep(0)")
            elif kind == "sleep":
                lines.append(f"{inner}await sleep({step[1]}e-3)")
            else:
                names = [f"{name}_{index}_{child}" for child in range(len(step[1]))]
                for child_name, child in zip(names, step[1], strict=True):
                    node(child, child_name, inner)
                lines.append(f"{inner}await gather({', '.join(n + '(v)' for n in names)})")

    names = [f"root{index}" for index in range(len(program["roots"]))]
    for name, root in zip(names, program["roots"], strict=True):
        node(root, name, "")
    lines.append(f"await gather({', '.join(f'{n}({i})' for i, n in enumerate(names))})")
    return "\n".join(lines)


Load = Callable[[str, int], Awaitable[int]]


async def run_node(steps: list[Any], v: int, load: Load) -> list[Any]:
    """Runs one coroutine of a program; returns what it loaded and gathered."""
    results: list[Any] = []
    for step in steps:
        kind = step[0]
        if kind == "load":
            v = await load(step[1], step[2])
            results.append(v)
        elif kind == "chain":
            v = await load(step[1], v)
            results.append(v)
        elif kind == "many":
            results.append(list(await asyncio.gather(*(load(step[1], k) for k in step[2]))))
        elif kind == "yield":
            await asyncio.sleep(0)
        elif kind == "sleep":
            await asyncio.sleep(step[1] / 1000)
        else:
            results.append(list(await asyncio.gather(*(run_node(c, v, load) for c in step[1]))))
    return results


async def run_roots(program: dict[str, Any], load: Load) -> list[Any]:
    roots = program["roots"]
    return list(await asyncio.gather(*(run_node(r, i, load) for i, r in enumerate(roots))))


# -- the two sides ------------------------------------------------------------------------
#
# A flush log: (turn, loader, keys) for each call of a bulk function.

FlushLog = list[tuple[int, str, list[int]]]


def _bulk_function(
    name: str, latency: float | None, log: FlushLog, loop: VirtualClockLoop
) -> Callable[[list[int]], Coroutine[Any, Any, list[int]]]:
    async def bulk(keys: list[int]) -> list[int]:
        log.append((loop.clock.turns, name, list(keys)))
        if latency is not None:
            await asyncio.sleep(latency / 1000)
        return [value_of(name, key) for key in keys]

    bulk.__name__ = bulk.__qualname__ = f"store_{name}"
    return bulk


def run_theirs(program: dict[str, Any]) -> tuple[Any, FlushLog]:
    log: FlushLog = []

    async def main(loop: VirtualClockLoop) -> Any:
        loaders = {
            name: aiodataloader.DataLoader(
                _bulk_function(name, program["latency"][name], log, loop), cache=False
            )
            for name in LOADERS
        }
        return await run_roots(program, lambda name, key: loaders[name].load(key))

    return run_on_fresh_loop(main), log


def run_ours(program: dict[str, Any]) -> tuple[Any, FlushLog]:
    log: FlushLog = []

    async def main(loop: VirtualClockLoop) -> Any:
        loaders = {
            name: batched()(_bulk_function(name, program["latency"][name], log, loop))
            for name in LOADERS
        }
        return await run_roots(program, lambda name, key: loaders[name].asyncio(key))

    return run_on_fresh_loop(main), log


def counts(log: FlushLog) -> dict[str, int]:
    return {name: sum(1 for _, loader, _ in log if loader == name) for name in LOADERS}


def shown(log: FlushLog) -> str:
    return "\n".join(f"    turn {turn:3}: {name} {keys}" for turn, name, keys in log) or "    -"


# -- the tests ----------------------------------------------------------------------------


def test_the_virtual_clock_runs_timers_in_order_without_waiting() -> None:
    async def main(loop: VirtualClockLoop) -> list[int]:
        woken: list[int] = []

        async def sleeper(ms: int) -> None:
            await asyncio.sleep(ms / 1000)
            woken.append(ms)

        await asyncio.gather(sleeper(30_000), sleeper(1), sleeper(2_000), sleeper(1))
        assert loop.time() == pytest.approx(30.0)
        return woken

    assert run_on_fresh_loop(main) == [1, 1, 2_000, 30_000]


def test_a_hanging_program_fails_instead_of_blocking() -> None:
    async def main(loop: VirtualClockLoop) -> None:
        await loop.create_future()  # never set

    with pytest.raises(asyncio.TimeoutError):  # TimeoutError from 3.11 on
        run_on_fresh_loop(main)


def test_both_sides_run_a_known_program_alike() -> None:
    # Two coroutines, each a load then a chained load, the second one through
    # a nested gather, B slower than A: one flush of A per level on both sides.
    program = {
        "roots": [
            [["load", "A", 1], ["chain", "A"]],
            [["load", "A", 2], ["gather", [[["chain", "B"]], [["chain", "A"]]]]],
        ],
        "latency": {"A": None, "B": 1},
    }
    ours, our_log = run_ours(program)
    theirs, their_log = run_theirs(program)
    assert ours == theirs == [[4, 3], [7, [[2], [2]]]]
    expected = [("A", [1, 2]), ("A", [4, 7]), ("B", [7])]
    assert [(name, sorted(keys)) for _, name, keys in our_log] == expected
    assert [(name, sorted(keys)) for _, name, keys in their_log] == expected


def run_both(program: dict[str, Any]) -> tuple[FlushLog, FlushLog, str]:
    """Runs ``program`` on both sides, which must give the same values; returns
    both flush logs and the story a failure tells (the program, both logs)."""
    ours, our_log = run_ours(program)
    theirs, their_log = run_theirs(program)
    story = (
        f"The program:\n{to_source(program)}\nas data: {program}\n"
        f"ours:\n{shown(our_log)}\naiodataloader:\n{shown(their_log)}"
    )
    assert ours == theirs, f"values differ: ours {ours}, aiodataloader {theirs}\n{story}"
    return our_log, their_log, story


def compare(program: dict[str, Any], *, excess: list[str] | None = None) -> tuple[int, int]:
    """Runs ``program`` on both sides; the same values and, per loader, at most
    aiodataloader's flushes, or an AssertionError showing the program and both
    flush logs. Given ``excess``, a program with more flushes on a loader is
    appended to it instead (still an error if it makes more than one more).
    Returns the flush counts (ours, aiodataloader's)."""
    our_log, their_log, story = run_both(program)
    our_counts, their_counts = counts(our_log), counts(their_log)
    more = f"more flushes than aiodataloader: ours {our_counts}, aiodataloader {their_counts}"
    allowed = 0 if excess is None else 1
    assert all(our_counts[name] <= their_counts[name] + allowed for name in LOADERS), (
        f"{more}\n{story}"
    )
    if excess is not None and our_counts != their_counts:
        if any(our_counts[name] > their_counts[name] for name in LOADERS):
            excess.append(f"{more}\n{story}")
    return len(our_log), len(their_log)


def program_settings(examples: int) -> settings:
    """Hypothesis's settings for random programs: ``examples`` of them, the same
    ones on every run, none remembered between runs, however slow."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def test_random_programs_flush_less_than_aiodataloader_and_rarely_one_more(
    record_property: Callable[[str, object], None],
) -> None:
    # With holds (the default) a program may make one flush more on a loader
    # (see KNOWN_EXCESS_PROGRAMS): about 1 in 1,300. A bound of 1 in 200
    # leaves room for the draw, and still fails on a scheduler that holds
    # worse (the one before the batch clock made more on 236 of 300).
    totals = {"programs": 0, "ours": 0, "aiodataloader": 0, "fewer": 0, "equal": 0, "more": 0}
    excess: list[str] = []

    @program_settings(EXAMPLES)
    @given(program=programs())
    def agree(program: dict[str, Any]) -> None:
        mine, peer = compare(program, excess=excess)
        totals["programs"] += 1
        totals["ours"] += mine
        totals["aiodataloader"] += peer
        totals["fewer" if mine < peer else "equal" if mine == peer else "more"] += 1

    agree()
    for name, total in totals.items():
        record_property(name, total)
    record_property("more on a loader", len(excess))
    print(
        f"\n{totals['programs']} programs: {totals['ours']} flushes on ours, "
        f"{totals['aiodataloader']} on aiodataloader; ours made fewer on {totals['fewer']}, "
        f"as many on {totals['equal']}, more on {totals['more']}; "
        f"one more on a loader on {len(excess)}"
    )
    assert totals["programs"] >= EXAMPLES
    assert totals["ours"] < totals["aiodataloader"]
    assert len(excess) <= totals["programs"] // 200, "\n\n".join(excess)


# Programs that random search found (shrunk by hand: no step, coroutine or
# feature can be taken out and the difference stay), checked on every run
# whatever hypothesis draws. Each is a failure of ours at the time it was
# added; keep them once fixed.
FOUND_PROGRAMS = {
    # A's round is held back while the nested coroutines start; the last of
    # them opens B's batch (key 4) one turn before the round, which takes it
    # along. The B load that A's values lead to (key 0) then needs a flush of
    # its own. aiodataloader dispatches B later and sends [4, 0] at once.
    "a-round-takes-a-batch-opened-just-before-it": {
        "roots": [
            [["load", "A", 3]],
            [["load", "A", 2]],
            [
                [
                    "gather",
                    [
                        [["load", "A", 0], ["load", "B", 0]],
                        [["gather", [[["load", "B", 4]]]]],
                    ],
                ]
            ],
        ],
        "latency": {"A": None, "B": None},
    },
    # The same, B's batch opened by a coroutine that first awaits sleep(0).
    "the-same-after-a-sleep-0": {
        "roots": [
            [["load", "A", 0], ["load", "B", 7]],
            [["gather", [[["yield"], ["load", "B", 2]], [["load", "A", 3]]]]],
            [["load", "A", 0]],
        ],
        "latency": {"A": None, "B": None},
    },
    # Two coroutines, one of them a gather of loads (load_many).
    "the-same-with-two-coroutines": {
        "roots": [
            [["load", "A", 0], ["many", "A", [9, 6]], ["many", "B", [2]]],
            [["gather", [[["many", "A", [8]]]]], ["load", "B", 4]],
        ],
        "latency": {"A": None, "B": None},
    },
    # With timers: a 5 ms wait and a store answering after 5 ms.
    "the-same-with-a-slow-store": {
        "roots": [
            [
                [
                    "gather",
                    [
                        [["sleep", 5], ["load", "A", 0], ["load", "A", 9], ["load", "B", 0]],
                        [["load", "B", 5], ["gather", [[["load", "A", 0], ["load", "B", 3]]]]],
                    ],
                ]
            ]
        ],
        "latency": {"A": None, "B": 5},
    },
    # A straggler (three sleep(0)s) loads A while A's batch is held back for
    # it; its key rides along, but were its value handed over with the
    # others, its B load would leave root0's behind. aiodataloader sends
    # A [0] then A [0, 1], and both B loads at once.
    "a-straggler-keeps-dataloaders-pace": {
        "roots": [
            [["load", "A", 0], ["load", "A", 1], ["load", "B", 0]],
            [["yield"], ["yield"], ["yield"], ["load", "A", 0], ["load", "B", 0]],
        ],
        "latency": {"A": None, "B": None},
    },
    # The same, the straggler held up by a gather of a coroutine that awaits
    # sleep(0).
    "the-same-behind-a-gather": {
        "roots": [
            [["load", "A", 0], ["load", "A", 1], ["load", "B", 0]],
            [["gather", [[["yield"]]]], ["load", "A", 0], ["load", "B", 0]],
        ],
        "latency": {"A": None, "B": None},
    },
    # A batch opened while B's batch (5 ms store) is held back must not wait
    # for B's answer: only for B to be sent.
    "a-batch-opened-during-a-hold-waits-for-the-send-not-the-answer": {
        "roots": [
            [["load", "B", 7], ["load", "B", 7], ["load", "A", 3]],
            [
                ["gather", [[["gather", [[["load", "A", 8]]]], ["load", "B", 9]]]],
                ["load", "B", 6],
                ["load", "A", 5],
            ],
        ],
        "latency": {"A": None, "B": 5},
    },
}


@pytest.mark.parametrize("name", list(FOUND_PROGRAMS))
def test_programs_once_found_flush_at_most_as_often_as_aiodataloader(name: str) -> None:
    compare(FOUND_PROGRAMS[name])


# Programs where ours still makes one flush more than aiodataloader on a loader
# (and fewer or as many in total), found by the search (ASYNQ_ADLDIFF_EXAMPLES=
# 20000 meets about one in 1,300), shrunk by hand. The cost of catching the
# keys of coroutines still running (the depth-d query with pauses below): a
# batch held back for them stops the clock of the other pending batches,
# which keeps the coroutines waiting on them in step; but a coroutine that
# was running all along then adds its key to one of those batches after
# aiodataloader would have sent it, gets its value a batch early, and its
# next load misses the batch it shares with aiodataloader. Telling that
# coroutine from one held back needs knowing which coroutine loads, which
# the loop does not say; the variants of the scheduler tried that classify
# such loads as late lose as often on other programs. Strict xfail: fixing
# one is news.
KNOWN_EXCESS_PROGRAMS = {
    # A and B are due together, held back while root0 runs a gather and a
    # sleep(0); root0's B(7) then joins B [8], which aiodataloader sends
    # alone, and root0's A(3) comes a batch before root2's.
    "a-running-coroutine-joins-a-batch-stopped-by-a-hold": {
        "roots": [
            [["gather", [[["yield"]]]], ["many", "B", [7]], ["load", "A", 3]],
            [["load", "A", 0]],
            [["many", "B", [8]], ["load", "B", 0], ["many", "A", [3]]],
        ],
        "latency": {"A": None, "B": None},
    },
    # The same: A [0] waits while B [1] is held back; A(5), of a coroutine
    # that ran a sleep(0) meanwhile, joins it.
    "the-same-in-a-gather": {
        "roots": [
            [["many", "B", [1]]],
            [
                [
                    "gather",
                    [
                        [["load", "A", 0], ["load", "A", 0], ["many", "B", [3]]],
                        [["yield"], ["gather", [[["load", "A", 5], ["load", "B", 0]]]]],
                    ],
                ]
            ],
        ],
        "latency": {"A": None, "B": None},
    },
}


@pytest.mark.xfail(strict=True, reason="a hold can cost a flush; see KNOWN_EXCESS_PROGRAMS")
@pytest.mark.parametrize("name", list(KNOWN_EXCESS_PROGRAMS))
def test_programs_where_a_hold_costs_a_flush(name: str) -> None:
    compare(KNOWN_EXCESS_PROGRAMS[name])


def nested_query(depth: int, pauses: int) -> dict[str, Any]:
    """The GraphQL shape as a program: 20 coroutines at the top, each loading
    keyed by its index and then gathering two children keyed by its value,
    ``depth`` levels in all; every second coroutine first awaits
    ``asyncio.sleep(0)`` ``pauses`` times (a resolver that awaits something
    already done before it loads)."""

    def node(level: int, index: int) -> list[Any]:
        steps: list[Any] = [["yield"]] * (pauses if index % 2 else 0)
        steps.append(["chain", "A"])
        if level < depth:
            steps.append(["gather", [node(level + 1, child) for child in range(2)]])
        return steps

    return {"roots": [node(1, index) for index in range(20)], "latency": {"A": None, "B": None}}


@pytest.mark.parametrize("pauses", [0, 1, 2, 3])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_a_nested_query_of_depth_d_makes_d_flushes(
    depth: int, pauses: int, record_property: Callable[[str, object], None]
) -> None:
    program = nested_query(depth, pauses)
    ours, our_log = run_ours(program)
    theirs, their_log = run_theirs(program)
    assert ours == theirs
    record_property("ours", len(our_log))
    record_property("aiodataloader", len(their_log))
    print(
        f"\ndepth {depth}, {pauses} pauses: {len(our_log)} flushes on ours, "
        f"{len(their_log)} on aiodataloader"
    )
    assert len(our_log) == depth, f"ours:\n{shown(our_log)}"
    assert len(their_log) >= depth


# -- without holds: DataLoader's timing exactly ----------------------------------------


@pytest.fixture
def without_holds() -> Iterator[None]:
    previous = set_asyncio_hold_turns(0)
    try:
        yield
    finally:
        set_asyncio_hold_turns(previous)


def compare_exactly(program: dict[str, Any]) -> None:
    """Runs ``program`` on both sides: the same values, and the same number of
    flushes per loader, each with the same keys (in any order; ours asks for a
    key once per batch, aiodataloader without cache once per load)."""
    our_log, their_log, story = run_both(program)

    def batches(log: FlushLog) -> list[tuple[str, list[int]]]:
        return sorted((name, sorted(set(keys))) for _, name, keys in log)

    assert batches(our_log) == batches(their_log), f"other batches than aiodataloader's\n{story}"


@pytest.mark.usefixtures("without_holds")
def test_without_holds_random_programs_make_exactly_aiodataloaders_batches() -> None:
    @program_settings(EXACT_EXAMPLES)
    @given(program=programs())
    def agree(program: dict[str, Any]) -> None:
        compare_exactly(program)

    agree()


@pytest.mark.usefixtures("without_holds")
@pytest.mark.parametrize("name", list(KNOWN_EXCESS_PROGRAMS) + list(FOUND_PROGRAMS))
def test_without_holds_the_known_programs_make_exactly_aiodataloaders_batches(
    name: str,
) -> None:
    compare_exactly({**KNOWN_EXCESS_PROGRAMS, **FOUND_PROGRAMS}[name])


@pytest.mark.usefixtures("without_holds")
@pytest.mark.parametrize("pauses", [0, 3])
def test_without_holds_a_nested_query_makes_aiodataloaders_flushes(pauses: int) -> None:
    compare_exactly(nested_query(3, pauses))


def test_set_asyncio_hold_turns_refuses_what_is_not_a_count() -> None:
    with pytest.raises(TypeError, match=r"set_asyncio_hold_turns: .*not 1\.5"):
        set_asyncio_hold_turns(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"set_asyncio_hold_turns: .*not True"):
        set_asyncio_hold_turns(True)
    with pytest.raises(ValueError, match=r"set_asyncio_hold_turns: .*not -1"):
        set_asyncio_hold_turns(-1)
    previous = set_asyncio_hold_turns(7)
    assert set_asyncio_hold_turns(previous) == 7
