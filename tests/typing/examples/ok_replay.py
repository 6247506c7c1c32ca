"""Record and replay keep their types: the recording, its flushes' results,
the replay (a context manager and a decorator that keeps the function's type)."""

import tempfile
from pathlib import Path

from typing_extensions import assert_type

import asynq
from asynq_batching import batched
from asynq_core.tracing import KeyResult, Recording, Replay, record, replay


@batched()
def lengths(words: list[str]) -> dict[str, int]:
    return {word: len(word) for word in words}


folder = Path(tempfile.mkdtemp())
path = folder / "lengths.jsonl"

with record(capture=True) as recording:
    assert lengths("fig") == 3
assert_type(recording, Recording)
results = recording.flushes[0].results
assert_type(results, tuple[KeyResult, ...] | None)
assert results is not None
assert_type(results[0].error, BaseException | None)
recording.save(path)
assert path.exists()

with replay(path, check_rounds=True) as replaying:
    assert_type(replaying, Replay)
    assert lengths("fig") == 3
assert asynq.replay is replay


@replay(str(path))
def replayed(word: str) -> int:
    return lengths(word)


assert_type(replayed("fig"), int)
assert replayed("fig") == 3
path.unlink()
folder.rmdir()
