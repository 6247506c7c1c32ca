"""Measures one implementation, inside that implementation's own environment.

run.py starts this script with each environment's interpreter (``-E -s``, so
no PYTHONPATH or user site can mix implementations) and reads the JSON it
prints. Subcommands:

- ``info``: what was imported (paths, versions, whether asynq 1.6 is the
  compiled build), after checking that the implementation is the right one:
  "ours" must import ``asynq`` from this repository's packages/asynq/src, and
  "asynq16" must be Quora's 1.6.0 from its own site-packages, never ours.
- ``time``: microseconds per operation of one workload at several sizes:
  samples of ``loops`` back-to-back runs each (GC on, as in real use),
  ``loops`` calibrated so one sample lasts at least ``--min-sample-ms``;
  optionally the tracemalloc peak of one run per size. Each size is checked
  (bench_common.check) before and after timing.
- ``memory``: peak bytes per task of a fanout of ``--n`` tasks, by tracemalloc
  or by the growth of the process's peak RSS (each in a fresh process).
- ``profile``: cProfile of one workload, top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.machinery
import importlib.metadata
import io
import json
import math
import platform
import pstats
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_common import OPS_PER_N, WORKLOAD_NAMES, check

REPO = Path(__file__).resolve().parent.parent
OUR_UMBRELLA_SRC = REPO / "packages" / "asynq" / "src"
OUR_PARTS = (
    "asynq_core",
    "asynq_batching",
    "asynq_contexts",
    "asynq_tools",
    "asynq_mock",
    "asynq_generator",
)

# Which module holds each implementation's workloads.
WORKLOAD_MODULES = {
    "ours": "workloads_asynq",
    "asynq16": "workloads_asynq",
    "asyncio": "workloads_asyncio",
    "floor": "workloads_floor",
}


class WrongImplementation(SystemExit):
    """The environment does not hold the implementation it claims to."""


def _is_extension_module(module: Any) -> bool:
    path = getattr(module, "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def identify(impl: str) -> dict[str, Any]:
    """Checks that ``impl`` is what this environment imports; returns what it is."""
    info: dict[str, Any] = {
        "impl": impl,
        "python": platform.python_version(),
        "executable": sys.executable,
    }
    if impl in ("ours", "asynq16"):
        import asynq

        umbrella = Path(asynq.__file__).resolve()
        from_repo = OUR_UMBRELLA_SRC in umbrella.parents
        info["asynq_file"] = str(umbrella)
        if impl == "ours":
            if not from_repo:
                raise WrongImplementation(
                    f"worker: impl 'ours' imported asynq from {umbrella}, "
                    f"not from {OUR_UMBRELLA_SRC}"
                )
            for part in OUR_PARTS:
                part_file = Path(importlib.import_module(part).__file__).resolve()
                if REPO / "packages" not in part_file.parents:
                    raise WrongImplementation(
                        f"worker: impl 'ours' imported {part} from {part_file}, "
                        f"not from {REPO / 'packages'}"
                    )
        else:
            version = importlib.metadata.version("asynq")
            scheduler = importlib.import_module("asynq.scheduler")
            compiled = _is_extension_module(scheduler)
            if from_repo or version != "1.6.0":
                raise WrongImplementation(
                    f"worker: impl 'asynq16' imported asynq {version} from {umbrella}; "
                    "expected Quora's asynq 1.6.0 from its own environment"
                )
            info["asynq_version"] = version
            info["compiled"] = compiled
    elif impl == "asyncio":
        info["aiodataloader_version"] = importlib.metadata.version("aiodataloader")
    elif impl != "floor":
        raise WrongImplementation(f"worker: unknown impl {impl!r}; known: {list(WORKLOAD_MODULES)}")
    return info


def load_workloads(impl: str) -> dict[str, Callable[[int], Callable[[], Any]]]:
    identify(impl)
    module = importlib.import_module(WORKLOAD_MODULES[impl])
    return module.WORKLOADS  # type: ignore[no-any-return]


def _get_factory(impl: str, workload: str) -> Callable[[int], Callable[[], Any]]:
    workloads = load_workloads(impl)
    if workload not in workloads:
        raise SystemExit(f"worker: impl {impl!r} has no workload {workload!r}")
    return workloads[workload]


def traced_peak(run: Callable[[], Any]) -> int:
    """Peak bytes traced by tracemalloc during one ``run()`` (its result included)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - base


def time_workload(
    impl: str,
    workload: str,
    sizes: list[int],
    samples: int,
    min_sample_s: float,
    trace_memory: bool,
) -> dict[str, Any]:
    make = _get_factory(impl, workload)
    ops_per_n = OPS_PER_N.get(workload, 1)
    points = []
    for n in sizes:
        run = make(n)
        check(workload, n, run())  # also the warm-up
        started = time.perf_counter()
        run()
        one_run_s = time.perf_counter() - started
        loops = max(1, math.ceil(min_sample_s / max(one_run_s, 1e-9)))
        us_per_op = []
        for _ in range(samples):
            started_ns = time.perf_counter_ns()
            for _ in range(loops):
                run()
            elapsed_ns = time.perf_counter_ns() - started_ns
            us_per_op.append(elapsed_ns / 1000 / loops / (n * ops_per_n))
        check(workload, n, run())  # state left by the repeats did not change the result
        point: dict[str, Any] = {"n": n, "loops": loops, "us_per_op": us_per_op}
        if trace_memory:
            point["peak_bytes"] = traced_peak(run)
        points.append(point)
    return {"impl": impl, "workload": workload, "points": points}


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * resource.getpagesize()


def _peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_per_task(impl: str, mode: str, n: int) -> dict[str, Any]:
    """Peak bytes per task of a fanout of ``n`` tasks, by ``mode`` (tracemalloc or rss)."""
    make = _get_factory(impl, "fanout")
    warm_up = make(100)
    check("fanout", 100, warm_up())
    run = make(n)
    measured: dict[str, Any] = {"impl": impl, "mode": mode, "n": n}
    if mode == "tracemalloc":
        peak = traced_peak(run)
        measured["bytes_per_task"] = peak / n
    elif mode == "rss":
        if not Path("/proc/self/statm").exists():
            measured["bytes_per_task"] = None
            measured["note"] = "RSS is read from /proc, which this system does not have"
            return measured
        gc.collect()
        rss_before = _current_rss_bytes()
        peak_before = _peak_rss_bytes()
        result = run()
        peak_after = _peak_rss_bytes()
        check("fanout", n, result)
        if peak_after <= peak_before:
            # The run never exceeded the peak reached while importing: no reading.
            measured["bytes_per_task"] = None
            measured["note"] = "the run did not raise the process's peak RSS"
        else:
            measured["bytes_per_task"] = (peak_after - rss_before) / n
    else:
        raise SystemExit(f"worker: unknown memory mode {mode!r}; use tracemalloc or rss")
    return measured


def profile_workload(impl: str, workload: str, n: int, min_seconds: float, top: int) -> str:
    make = _get_factory(impl, workload)
    run = make(n)
    check(workload, n, run())
    profiler = cProfile.Profile()
    runs = 0
    started = time.perf_counter()
    profiler.enable()
    while runs == 0 or time.perf_counter() - started < min_seconds:
        run()
        runs += 1
    profiler.disable()
    out = io.StringIO()
    out.write(f"cProfile of {impl} on {workload} (n={n}, {runs} runs), by own time\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    return out.getvalue()


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes integers like 10,100; got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes must be positive integers; got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True, choices=sorted(WORKLOAD_MODULES))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info")
    timing = commands.add_parser("time")
    timing.add_argument("--workload", required=True, choices=WORKLOAD_NAMES)
    timing.add_argument("--sizes", required=True, type=_sizes)
    timing.add_argument("--samples", type=int, default=7)
    timing.add_argument("--min-sample-ms", type=float, default=20.0)
    timing.add_argument("--trace-memory", action="store_true")
    memory = commands.add_parser("memory")
    memory.add_argument("--mode", required=True, choices=("tracemalloc", "rss"))
    memory.add_argument("--n", type=int, default=100_000)
    profiling = commands.add_parser("profile")
    profiling.add_argument("--workload", required=True, choices=WORKLOAD_NAMES)
    profiling.add_argument("--n", type=int, required=True)
    profiling.add_argument("--min-seconds", type=float, default=2.0)
    profiling.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    gc.enable()
    if args.command == "profile":
        sys.stdout.write(
            profile_workload(args.impl, args.workload, args.n, args.min_seconds, args.top)
        )
        return
    if args.command == "info":
        report = identify(args.impl)
        report["workloads"] = list(load_workloads(args.impl))
    elif args.command == "time":
        report = time_workload(
            args.impl,
            args.workload,
            args.sizes,
            args.samples,
            args.min_sample_ms / 1000,
            args.trace_memory,
        )
    else:
        report = memory_per_task(args.impl, args.mode, args.n)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
