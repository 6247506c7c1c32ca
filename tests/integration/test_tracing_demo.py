"""The demo's recording of its batched run: the printed summary, ``--trace`` and ``--svg``."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "--n", "40", "--latency-ms", "0", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_prints_the_summary_of_the_batched_run() -> None:
    result = run_demo()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "asynq recording: 2 rounds, 2 flushes (80 items), 81 tasks finished" in lines
    table = lines[
        lines.index("asynq recording: 2 rounds, 2 flushes (80 items), 81 tasks finished") :
    ]
    assert table[2].split()[:2] == ["batch", "rounds"]
    # One round per store, each batch named after its table.
    assert table[3].split()[:5] == ["SqlStore(answers).get", "1", "1", "40", "40.0"]
    assert table[4].split()[:5] == ["SqlStore(users).get", "1", "1", "40", "40.0"]
    assert lines[-1] == "round trips: naive 80, batched 2"


def test_trace_and_svg_write_the_batched_run(tmp_path: Path) -> None:
    trace_path, svg_path = tmp_path / "out.json", tmp_path / "out.svg"
    result = run_demo("--trace", str(trace_path), "--svg", str(svg_path))
    assert result.returncode == 0, result.stderr
    assert f"wrote the Chrome trace of the batched run to {trace_path}" in result.stdout
    assert f"wrote the timeline of the batched run to {svg_path}" in result.stdout
    assert result.stdout.splitlines()[-1] == "round trips: naive 80, batched 2"

    events = json.loads(trace_path.read_text())["traceEvents"]
    flushes = [event for event in events if event.get("cat") == "flush"]
    assert [(event["args"]["round"], event["args"]["items"]) for event in flushes] == [
        (0, 40),
        (1, 40),
    ]
    # Each flush's items were yielded by one line of examples/authors.py.
    for event in flushes:
        [(location, count)] = event["args"]["locations"].items()
        assert "authors.py:" in location and count == 40
    task_names = {event["name"] for event in events if event.get("cat") == "task"}
    assert any(name.endswith("all_author_names") for name in task_names)
    assert any(name.endswith("author_of_answer") for name in task_names)

    svg = ElementTree.parse(svg_path).getroot()
    texts = [element.text for element in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == "asynq: 2 rounds, 2 flushes (80 items), 81 tasks finished"


def test_an_unwritable_trace_path_is_a_clear_error(tmp_path: Path) -> None:
    result = run_demo("--trace", str(tmp_path / "missing" / "out.json"))
    assert result.returncode == 2
    assert "error: cannot write the recording" in result.stderr


def test_the_umbrella_serves_the_tracing_module() -> None:
    import asynq
    import asynq.tracing
    import asynq_core.tracing

    assert asynq.tracing is asynq_core.tracing is sys.modules["asynq.tracing"]
    assert "tracing" in asynq.__all__

    @asynq.asynq()
    def pair() -> object:
        values = yield [asynq.batching.sync("readme"), asynq.batching.sync("readme")]
        return values

    with asynq.tracing.record() as recording:
        pair()
    assert recording.rounds == 1
    assert [(flush.batch, flush.items) for flush in recording.flushes] == [("DebugBatch", 2)]
