"""The ``asynq_replay`` fixture of the plugin: asynq_core.tracing.replay with
recordings found beside the test file.

The fixture is imported from the plugin module (as conftest.py does for
``asynq_patch``), so these tests also run when asynq-mock is not installed;
a real pytest run in a subprocess checks it as users get it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from asynq_core.tracing import NotRecordedError, Replay, record
from asynq_mock.pytest_plugin import asynq_replay as asynq_replay

HERE = Path(__file__).resolve().parent

# A flush group that asks a store for keys, and that record and replay know
# (FlushGroup's captured_results/serve_recorded); its store doubles each key
# until ``PriceBatch.reachable`` is False.
KEYED_GROUP = """
from asynq_core import asynq
from asynq_core.futures import DeferredFuture


class PriceBatch:
    reachable = True
    current = None
    trace_name = "prices.get"

    def __init__(self):
        self.items = []
        self.done = False

    def get_priority(self):
        return 0

    def flush(self):
        if self.done:
            return
        self.done = True
        assert PriceBatch.reachable, "the store was reached during a replay"
        for item in self.items:
            item.set_value(item.key * 2)

    def captured_results(self):
        return [(item.key, item._value, item._error) for item in self.items]

    def serve_recorded(self, result_of):
        if not self.done:
            self.done = True
            for item in self.items:
                value, error = result_of(item.key)
                if error is None:
                    item.set_value(value)
                else:
                    item.set_error(error)
        return True


class Price(DeferredFuture):
    def __init__(self, key):
        super().__init__()
        if PriceBatch.current is None or PriceBatch.current.done:
            PriceBatch.current = PriceBatch()
        self.batch = PriceBatch.current
        self.batch.items.append(self)
        self.key = key

    def flush_group(self):
        return self.batch


@asynq()
def total(keys):
    prices = yield [Price(key) for key in keys]
    return sum(prices)
"""

namespace: dict[str, Any] = {}
exec(compile(KEYED_GROUP, "keyed_group", "exec"), namespace)
PriceBatch, total = namespace["PriceBatch"], namespace["total"]


@pytest.fixture
def unreachable_store() -> Any:
    PriceBatch.reachable = True
    yield PriceBatch
    PriceBatch.reachable = True


def test_the_fixture_replays_a_recording_found_beside_the_test_file(
    asynq_replay: Any, unreachable_store: Any, tmp_path: Path
) -> None:
    with record(capture=True) as recording:
        assert total([1, 2, 3]) == 12
    path = tmp_path / "prices.jsonl"
    recording.save(path)
    unreachable_store.reachable = False
    # Relative to this file's folder, whatever the working directory.
    replaying = asynq_replay(os.path.relpath(path, HERE), check_rounds=True)
    assert isinstance(replaying, Replay)
    assert Path(replaying.path).resolve() == path.resolve()
    with replaying:
        assert total([1, 2, 3]) == 12
    with pytest.raises(NotRecordedError, match=r"prices\.get asked for the key 4"):
        with asynq_replay(path):  # an absolute path is taken as it is
            total([4])


PLUGIN_USER_TESTS = f"""
{KEYED_GROUP}

def test_served_from_the_recording(asynq_replay):
    PriceBatch.reachable = False
    with asynq_replay("recordings/prices.jsonl"):
        assert total([1, 2]) == 6


def test_asks_for_a_key_not_recorded(asynq_replay):
    PriceBatch.reachable = False
    with asynq_replay("recordings/prices.jsonl"):
        total([1, 5])
"""


def test_the_fixture_in_a_real_pytest_run(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "recordings").mkdir(parents=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tests / "test_user.py").write_text(textwrap.dedent(PLUGIN_USER_TESTS))
    # Written by hand, as the format is documented (tracing.recording_file).
    lines = [
        {"asynq_recording": 1, "codec": None, "values": "json", "rounds": 1},
        {
            "round": 0,
            "batch": "prices.get",
            "items": 2,
            "results": [{"key": 1, "value": 2}, {"key": 2, "value": 4}],
        },
    ]
    (tests / "recordings" / "prices.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "asynq_mock.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "tests/test_user.py",
        ],
        cwd=tmp_path,  # not the tests' folder: the recording is found beside the test file
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert "1 failed, 1 passed" in output, output
    assert "NotRecordedError" in output
    assert "prices.get asked for the key 5, which the recording does not hold" in output
