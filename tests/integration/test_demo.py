"""The README's demo: ``python examples/demo.py`` and the example module it runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LAST_LINE = re.compile(r"round trips: naive (\d+), batched (\d+)")


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def round_trips(result: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last_line)
    assert match, f"unexpected last line {last_line!r}"
    return int(match[1]), int(match[2])


@pytest.fixture(scope="module")
def authors() -> Iterator[ModuleType]:
    """examples/authors.py, loaded under a name of its own (examples/ is not a package)."""
    name = "asynq_demo_authors"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "authors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_the_readme_command_on_embedded_sqlite() -> None:
    result = run_demo()
    assert round_trips(result) == (400, 2)
    assert "SQLite" in result.stdout


def test_n_and_latency_options() -> None:
    assert round_trips(run_demo("--n", "37", "--latency-ms", "0")) == (74, 2)


@pytest.mark.parametrize("n", [1, 2, 10, 150])
def test_batched_and_naive_agree_and_batched_makes_two_round_trips(authors: Any, n: int) -> None:
    site = authors.open_site("sqlite://")
    aids = authors.fill(site, n, max(1, n // 3))
    before = site.round_trips()
    naive = authors.Naive(site).all_author_names(aids)
    naive_trips = site.round_trips() - before
    before = site.round_trips()
    batched = authors.Batched(site).all_author_names(aids)
    assert batched == naive == [f"User {i % max(1, n // 3)}" for i in range(n)]
    assert naive_trips == 2 * n
    assert site.round_trips() - before == 2


def test_a_round_with_more_keys_than_sql_takes_at_once_is_split(authors: Any) -> None:
    site = authors.open_site("sqlite://")
    aids = authors.fill(site, 1000, 250)
    before = site.round_trips()
    names = authors.Batched(site).all_author_names(aids)
    assert names == [f"User {i % 250}" for i in range(1000)]
    # Still two rounds: 1000 answers in requests of at most 400 keys (3), then 250 users (1).
    assert site.round_trips() - before == 4
    assert site.answers.max_batch_size == 400


def test_the_demo_on_redis(redis_server: Any) -> None:
    result = run_demo("--store", f"redis://127.0.0.1:{redis_server.port}", "--n", "60")
    assert round_trips(result) == (120, 2)


def test_the_demo_on_memcached(memcached_server: Any) -> None:
    result = run_demo("--store", f"memcached://127.0.0.1:{memcached_server.port}", "--n", "60")
    assert round_trips(result) == (120, 2)


def test_an_unreachable_store_is_a_clear_error(closed_port: int) -> None:
    result = run_demo("--store", f"redis://127.0.0.1:{closed_port}")
    assert result.returncode == 2
    assert "error: cannot use the store" in result.stderr
    unknown = run_demo("--store", "oracle://db")
    assert unknown.returncode == 2
    assert "unknown store 'oracle://db'" in unknown.stderr
