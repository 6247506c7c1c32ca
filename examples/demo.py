"""The README's demo: the same lookups, naive and batched, on one store.

    python examples/demo.py [--n 200] [--latency-ms 1] [--store URL]
                            [--trace out.json] [--svg out.svg]

Builds ``n`` answers in the store (SQLite in memory by default; ``--store
redis://host:port`` or ``memcached://host:port``), then asks for the names
of all their authors twice: with plain functions (one request per lookup)
and with asynq (one round of requests per round of lookups: one request,
unless it has more keys than the store takes at once). Each request first waits
``--latency-ms`` to stand for the network. The batched run is recorded
(``asynq.tracing``): its summary is printed, ``--trace`` writes it as a
Chrome trace (open it in Perfetto) and ``--svg`` as a timeline. The last
line reads ``round trips: naive N, batched M``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from authors import Batched, Naive, fill, open_site

from asynq_core import tracing


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=positive_int, default=200, help="answers to look up")
    parser.add_argument(
        "--users", type=positive_int, default=None, help="distinct authors (default n/4)"
    )
    parser.add_argument(
        "--latency-ms",
        type=non_negative_float,
        default=1.0,
        help="simulated network latency per request, in ms",
    )
    parser.add_argument(
        "--store",
        default="sqlite://",
        help="sqlite:// (default), sqlite:///path.db, redis://host:port, memcached://host:port",
    )
    parser.add_argument("--trace", metavar="PATH", help="write the batched run's Chrome trace")
    parser.add_argument("--svg", metavar="PATH", help="write the batched run's SVG timeline")
    return parser.parse_args(argv)


def timed(site: Any, run: Any) -> tuple[Any, int, float]:
    """Runs ``run()``; returns its result, the round trips it made and the seconds it took."""
    trips_before = site.round_trips()
    start = time.perf_counter()
    result = run()
    return result, site.round_trips() - trips_before, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_users = args.users or max(1, args.n // 4)
    try:
        site = open_site(args.store)
        aids = fill(site, args.n, n_users)
    except Exception as error:  # any failure to reach or fill the store ends the demo
        print(f"error: cannot use the store {args.store!r}: {error}", file=sys.stderr)
        return 2

    latency = args.latency_ms / 1000
    if latency:
        for store in (site.answers, site.users):
            store.on_request.subscribe(lambda operation, server, keys: time.sleep(latency))

    print(
        f"store: {site.description}; {args.n} answers by {n_users} users; "
        f"{args.latency_ms:g} ms simulated latency per request"
    )
    naive_names, naive_trips, naive_time = timed(site, lambda: Naive(site).all_author_names(aids))
    print(f"naive:   {naive_trips:6d} round trips, {naive_time * 1000:9.1f} ms")
    with tracing.record() as recording:
        batched_names, batched_trips, batched_time = timed(
            site, lambda: Batched(site).all_author_names(aids)
        )
    speedup = naive_time / batched_time if batched_time else float("inf")
    print(
        f"batched: {batched_trips:6d} round trips, {batched_time * 1000:9.1f} ms "
        f"({speedup:.0f}x faster)"
    )
    print(recording.summary())
    try:
        if args.trace:
            recording.write_chrome_trace(args.trace)
            print(f"wrote the Chrome trace of the batched run to {args.trace}")
        if args.svg:
            recording.write_svg(args.svg)
            print(f"wrote the timeline of the batched run to {args.svg}")
    except OSError as error:
        print(f"error: cannot write the recording: {error}", file=sys.stderr)
        return 2
    if batched_names != naive_names:
        print("error: the two versions returned different names", file=sys.stderr)
        return 1
    print(f"round trips: naive {naive_trips}, batched {batched_trips}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
