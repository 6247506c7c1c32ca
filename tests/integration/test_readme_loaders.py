"""The examples of packages/asynq-batching/README.md's sections on key
functions, cache mappings and partial failures (loaders and stores), run as
written: each block's own asserts hold, and what they leave is used again."""

from __future__ import annotations

import asyncio
import re
import sys
import types
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "packages" / "asynq-batching" / "README.md"


def run_block(marker: str) -> dict[str, Any]:
    """Runs the README's one python block containing ``marker`` as a module
    (dataclasses look their module up); returns its namespace."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    [block] = [block for block in blocks if marker in block]
    module = types.ModuleType("readme_example")
    sys.modules[module.__name__] = module
    try:
        exec(compile(block, str(README), "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module.__dict__


def test_the_key_function_example_sends_each_compound_key_once() -> None:
    example = run_block("@batched(key_fn=lambda text:")
    statements: list[str] = []
    example["db"].set_trace_callback(statements.append)
    page, text = example["page"], example["Text"]
    assert page([1, 1, 1], "fr") == ["Bonjour"] * 3
    assert asyncio.run(page.asyncio([2, 1], "en")) == ["Goodbye", "Hello"]
    selects = [sql for sql in statements if sql.startswith("SELECT")]
    assert len(selects) == 2 and selects[0].count("id = 1 AND lang = 'fr'") == 1
    assert example["bodies"].load_many([text(1, "en"), text(3, "en")])[0] == "Hello"


def test_the_cache_mapping_example_refetches_what_expired() -> None:
    example = run_block("TTLCache(maxsize=10_000, ttl=0.2)")
    assert len(example["price_cache"]) == 0  # cleared at its end
    prices, fetches = example["prices"], example["fetches"]
    assert prices("pear") == 5 and prices("pear") == 5
    assert fetches[-1] == ["pear"] and len(fetches) == 3


def test_the_load_many_example_gives_each_key_its_outcome() -> None:
    example = run_block("user_names.load_many.asynq(uids)")
    # max_size=2: 3 and 1 share the piece that fails, 2 is in the next one.
    first, second, third = example["user_names"].load_many([3, 1, 2])
    assert isinstance(first, ConnectionError) and second is first and third == "bob"


def test_the_get_many_settled_example_runs_on_sqlite() -> None:
    example = run_block("blobs.get_many_settled([1, 2, 3, 4])")
    outcomes = example["outcomes"]
    assert list(outcomes) == [1, 2, 3, 4]
    assert isinstance(outcomes[4], example["MissingKeyError"]) and outcomes[4].key == 4
