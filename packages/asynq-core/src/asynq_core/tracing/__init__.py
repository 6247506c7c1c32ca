"""Observability: what the scheduler of this thread did, and guards built on it.

- ``recording``: ``record()`` and the ``Recording`` it yields (every flush,
  every task step, the rounds); ``wait_sites``: the yields up the asynq stack
  that each flush's items were waited on through; ``n_plus_one``: the N+1
  detector run on them, ``NPlusOneWarning``;
- ``report``, ``chrome``, ``svg``: a recording as a text summary, a Chrome
  trace and an SVG timeline;
- ``guards``: ``assert_max_rounds``;
- ``otel``: OpenTelemetry spans per flush round (``enable_otel``), which are
  process-wide, through the ``OTEL_SPANS`` debug option that puts every
  thread on the traced loop;
- record and replay: ``record(capture=True)`` keeps what each key of each
  flush got (``capture``: its codecs and recorded errors),
  ``Recording.save(path)`` writes it (``recording_file``: the file),
  ``replaying``: ``replay(path)`` serves it back to the same program,
  without its stores (``NotRecordedError`` for a key it lacks).
"""

from __future__ import annotations

from ..groups import NOT_FOUND
from .capture import RecordedError
from .events import (
    BatchStats,
    CodeLocation,
    Flush,
    KeyResult,
    NotRecordedError,
    NPlusOne,
    NPlusOneWarning,
    ReplayError,
    TaskStep,
    TooManyRoundsError,
    YieldStack,
)
from .guards import assert_max_rounds
from .otel import disable_otel, enable_otel
from .recording import Recording, record
from .replaying import Replay, replay

__all__ = [
    "record",
    "Recording",
    "replay",
    "Replay",
    "KeyResult",
    "NOT_FOUND",
    "NotRecordedError",
    "ReplayError",
    "RecordedError",
    "Flush",
    "TaskStep",
    "BatchStats",
    "CodeLocation",
    "YieldStack",
    "NPlusOne",
    "NPlusOneWarning",
    "assert_max_rounds",
    "TooManyRoundsError",
    "enable_otel",
    "disable_otel",
]
