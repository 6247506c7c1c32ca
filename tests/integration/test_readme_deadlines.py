"""The README's section "Deadlines and a bound on concurrent fetches", run as
written: the slow-service example (its output, and its deadlines honoured),
and the Redis example on a real server (only its address replaced)."""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def section_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Deadlines and a bound on concurrent fetches", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [str(block) for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)]


def test_the_slow_service_example_prints_what_it_says_at_its_deadlines() -> None:
    example, _ = section_blocks()
    printed = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, str(README), "exec"), {"__name__": "readme"})
    # Four calls bounded by 0.2 s; the service takes 1 s, and asyncio.run waits
    # for the fetch its call left in its executor.
    assert time.monotonic() - start < 3.0
    expected = [
        "('user1', [])",
        "('user2', [])",
        "@batched() recommendations 1",
        "('user4', [])",
    ]
    assert printed.getvalue().splitlines() == expected
    assert all(f"# {line}" in example for line in expected)  # what its comments say


def test_the_redis_example_sends_its_requests_four_at_a_time(redis_server: Any) -> None:
    _, example = section_blocks()
    url = "redis://127.0.0.1:6379/0"
    assert url in example
    example = example.replace(url, f"redis://127.0.0.1:{redis_server.port}/0")
    namespace: dict[str, Any] = {}
    exec(compile(example, str(README), "exec"), namespace)
    cache = namespace["cache"]
    try:
        assert namespace["values"] == {}  # nothing stored under those keys
        assert cache.request_count == 10
        assert cache.max_concurrency == 4
    finally:
        cache.close()
