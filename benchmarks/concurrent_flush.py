"""Concurrent flushes: one round over three stores of 20 ms each, sequential vs concurrent.

    python benchmarks/concurrent_flush.py                   # or: hatch run python ...
    python benchmarks/concurrent_flush.py --latency-ms 50 --repeat 20

Three ``@batched()`` loaders each sleep ``--latency-ms`` per call (a store
round trip); one task yields a request to each, so the round flushes three
batches. Flushed one after the other the round costs the sum of the
latencies; with ``concurrent=True`` the three fetches run together and the
round costs the slowest one. Measured for the synchronous scheduler and under
asyncio (``asyncio.run(f.asyncio())``: blocking loaders in the loop's
executor, and ``async def`` loaders awaited on the loop). Each case checks
that the round made exactly one call per store. Prints the median and the
minimum wall time of a round.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import asynq_batching  # noqa: F401
except ImportError:  # run from a checkout without the packages installed
    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(path) for path in sorted((root / "packages").glob("*/src"))]

from asynq_batching import batched
from asynq_core import asynq

STORES = ("users", "posts", "likes")


def make_round(latency: float, *, concurrent: bool, asynchronous: bool) -> tuple[Any, list[str]]:
    """The root function of one round over three loaders, and the log of their calls."""
    calls: list[str] = []

    def loader(name: str) -> Any:
        if asynchronous:

            @batched(concurrent=concurrent)
            async def load_async(keys: list[int]) -> list[str]:
                calls.append(name)
                await asyncio.sleep(latency)
                return [f"{name}:{key}" for key in keys]

            return load_async

        @batched(concurrent=concurrent)
        def load(keys: list[int]) -> list[str]:
            calls.append(name)
            time.sleep(latency)
            return [f"{name}:{key}" for key in keys]

        return load

    loaders = [loader(name) for name in STORES]

    @asynq()
    def one_round() -> Any:
        return (yield [load.asynq(1) for load in loaders])

    return one_round, calls


def run_in_loop(one_round: Any) -> Any:
    """One round as a root ``.asyncio()`` call on a fresh event loop."""
    return asyncio.run(one_round.asyncio())


def measure(run_round: Callable[[], Any], calls: list[str], repeat: int) -> list[float]:
    expected = [f"{name}:1" for name in STORES]
    times = []
    for _ in range(repeat):
        calls.clear()
        start = time.perf_counter()
        result = run_round()
        times.append(time.perf_counter() - start)
        if result != expected or sorted(calls) != sorted(STORES):
            raise AssertionError(f"wrong round: {result!r}, calls {calls!r}")
    return times


def cases() -> list[tuple[str, bool, bool, bool]]:
    """(label, under asyncio, async def loaders, concurrent)."""
    return [
        ("synchronous scheduler, sequential", False, False, False),
        ("synchronous scheduler, concurrent=True", False, False, True),
        ("asyncio, blocking loaders, sequential", True, False, False),
        ("asyncio, blocking loaders, concurrent=True", True, False, True),
        ("asyncio, async def loaders, sequential", True, True, False),
        ("asyncio, async def loaders, concurrent=True", True, True, True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per store call")
    parser.add_argument("--repeat", type=int, default=15, help="rounds per case")
    args = parser.parse_args()
    if args.latency_ms < 0 or args.repeat < 1:
        parser.error("--latency-ms must be >= 0 and --repeat >= 1")
    latency = args.latency_ms / 1000

    print(f"one round over {len(STORES)} stores of {args.latency_ms:g} ms each")
    print(f"{'case':<46} {'median ms':>10} {'min ms':>8}")
    for label, under_asyncio, asynchronous, concurrent in cases():
        one_round, calls = make_round(latency, concurrent=concurrent, asynchronous=asynchronous)
        run_round = functools.partial(run_in_loop, one_round) if under_asyncio else one_round
        times = measure(run_round, calls, args.repeat)
        median, fastest = statistics.median(times) * 1000, min(times) * 1000
        print(f"{label:<46} {median:>10.1f} {fastest:>8.1f}")


if __name__ == "__main__":
    main()
