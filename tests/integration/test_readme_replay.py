"""The record-and-replay example of the root README, run as written (in a
temporary folder, where it writes its ``request.jsonl``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def replay_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    [block] = [block for block in blocks if 'recording.save("request.jsonl")' in block]
    return str(block)


def test_the_readme_replay_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(replay_example(), str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith(
        "replay of request.jsonl: SqlStore(users).get asked for the key 4, which the "
        "recording does not hold (3 keys of SqlStore(users).get recorded: 1, 2, 3)"
    )
    header, flush = map(json.loads, (tmp_path / "request.jsonl").read_text().splitlines())
    assert header["rounds"] == 1
    assert flush["results"] == [
        {"key": 1, "value": "Ada"},
        {"key": 2, "value": "Bo"},
        {"key": 3, "not_found": True},
    ]
