"""Replaying a recording: ``replay(path)`` serves the batches of the program
run inside its block the results that ``record(capture=True)`` kept and
``Recording.save`` wrote, instead of flushing them, so that the program runs
without its stores.

Invariants:
- A replay is a tracer of this thread's scheduler (its rounds take the
  traced path, which hands it each round's groups before they flush: see
  ``rounds``), so it serves the synchronous scheduler, the asyncio domain of
  a loop run in this thread, and batch items flushed outside a task alike.
- A group serves itself (``FlushGroup.serve_recorded``): each key gets what
  the recording holds for the group's name and that key. A group whose
  futures have no keys (a ``DebugBatch``, a ``BatchBase`` subclass without
  ``_replay_key``, a group without the method) is flushed as usual.
- By default a key is found whatever the round that asks for it: the n-th
  request of a key gets the n-th result recorded for it (the last one
  again once they run out), so a key read, written and read again replays
  both reads. With ``check_rounds=True`` a key is served only the results
  recorded in the same round, and the block must take the recorded rounds
  and ask in each for every key recorded there (rounds are counted as a
  recording counts them).
- A key the recording lacks fails the futures of that key with a
  ``NotRecordedError`` naming the batch and the key; the block raises the
  first such error when it ends, if nothing else failed it (a program that
  caught the error still fails).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..groups import batch_name
from ..scheduler import get_scheduler
from ..text import short_repr
from . import capture as _capture
from .events import (  # the tracing package's helpers
    NotRecordedError,
    ReplayError,
    _check_path,  # pyright: ignore[reportPrivateUsage]
    _plural,  # pyright: ignore[reportPrivateUsage]
)
from .recording_file import read_recording

if TYPE_CHECKING:
    from ..protocols import FlushGroup

__all__ = ["Replay", "replay"]

# How many keys or differences a message lists before it cuts.
_LISTED = 5


class _Recorded:
    """A recording read from its file, indexed for serving (shared by the
    replays of one decorator)."""

    def __init__(self, owner: str, path: str | os.PathLike[str], codec: Any) -> None:
        self.path = os.fspath(path)
        self.codec = _capture.codec_of(owner, codec)
        flushes, self.rounds = read_recording(owner, path, self.codec)
        # (batch, encoded key) -> its outcomes in recorded order, with their rounds
        self.outcomes: dict[tuple[str, Any], list[tuple[int, Any]]] = {}
        # batch -> its keys in recorded order, for messages
        self.keys: dict[str, dict[Any, None]] = {}
        self.by_round: list[dict[tuple[str, Any], None]] = [{} for _ in range(self.rounds)]
        for flush in flushes:
            if flush.round >= self.rounds:
                raise ValueError(
                    f"{owner}: {self.path} has a flush of {flush.batch} in round {flush.round}, "
                    f"after its last round ({self.rounds - 1})"
                )
            keys = self.keys.setdefault(flush.batch, {})
            for key, outcome in flush.results:
                self.outcomes.setdefault((flush.batch, key), []).append((flush.round, outcome))
                keys[key] = None
                self.by_round[flush.round][(flush.batch, key)] = None


class Replay(contextlib.ContextDecorator):
    """Serves the batches of this thread from a recording inside its block; see
    the module docstring. Make one with ``replay()``. ``rounds`` counts the
    rounds served so far."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: Any = None,
        check_rounds: bool = False,
        _recorded: _Recorded | None = None,
    ) -> None:
        _check_path("replay()", path)
        # Checked although typed: untyped callers pass anything.
        if not isinstance(check_rounds, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"replay(): check_rounds must be True or False, got {check_rounds!r}")
        self.path = os.fspath(path) if _recorded is None else _recorded.path
        self.check_rounds = check_rounds
        self._recorded = _Recorded("replay()", path, codec) if _recorded is None else _recorded
        self.rounds = 0
        self._scheduler: Any = None
        self._entered = False
        self._stopped = False
        self._stepped = True  # a task ran since the last round: the next flush starts one
        # (batch, encoded key) -> how many requests of it were served
        self._served: dict[tuple[str, Any], int] = {}
        self._asked: list[dict[tuple[str, Any], None]] = []
        self._not_recorded: NotRecordedError | None = None

    def _recreate_cm(self) -> Replay:
        # Each decorated call replays on its own (calls may nest or run in threads).
        return Replay(self.path, check_rounds=self.check_rounds, _recorded=self._recorded)

    # -- the block -----------------------------------------------------------

    def __enter__(self) -> Replay:
        if self._entered:
            raise RuntimeError(
                f"{self!r} was already entered: a Replay serves one block; call replay() "
                "for another"
            )
        self._entered = True
        self._scheduler = get_scheduler()
        self._scheduler._tracers.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
        if exc_type is not None:
            return
        if self._not_recorded is not None:
            raise self._not_recorded
        if self.check_rounds:
            mismatch = self._round_mismatch()
            if mismatch is not None:
                raise ReplayError(mismatch)

    def _stop(self) -> None:
        if self._stopped or self._scheduler is None:
            return
        self._stopped = True
        tracers = self._scheduler._tracers
        for index in range(len(tracers) - 1, -1, -1):
            if tracers[index] is self:
                del tracers[index]
                break

    # -- the scheduler's events (see rounds.Round) -----------------------------

    def _step_started(self) -> None:
        self._stepped = True

    def _step_ended(self, task: Any, start: float, end: float) -> None:
        self._stepped = True

    def _round_started(self) -> None:
        self._stepped = True

    def _flush_started(self, group: Any) -> None:
        pass

    def _flush_ended(
        self, group: Any, start: float, end: float, error: BaseException | None
    ) -> None:
        pass

    def _serve_round(self, groups: list[FlushGroup], dispatched: bool) -> None:
        if self._stopped:
            return
        # Rounds counted as a recording counts them: flushes with no task step
        # between them are one round, and so is each round the domain dispatched.
        if dispatched or self._stepped:
            self.rounds += 1
            self._asked.append({})
            self._stepped = False
        round_index = self.rounds - 1
        for group in groups:
            serve_recorded = getattr(group, "serve_recorded", None)
            if serve_recorded is not None:
                serve_recorded(self._server(batch_name(group), round_index))

    def _server(self, batch: str, round_index: int) -> Callable[[Any], tuple[Any, Any]]:
        def result_of(key: Any) -> tuple[Any, Any]:
            return self._result_of(batch, key, round_index)

        return result_of

    def _result_of(self, batch: str, key: Any, round_index: int) -> tuple[Any, Any]:
        recorded = self._recorded
        key_id = _capture.key_id(key, recorded.codec)
        outcomes = recorded.outcomes.get((batch, key_id)) if key_id is not None else None
        if outcomes is not None and self.check_rounds:
            self._asked[round_index][(batch, key_id)] = None
            outcomes = [each for each in outcomes if each[0] == round_index] or None
            served_key: Any = (round_index, batch, key_id)
        else:
            served_key = (batch, key_id)
        if outcomes is None:
            error = NotRecordedError(self._not_recorded_message(batch, key, key_id, round_index))
            if self._not_recorded is None:
                self._not_recorded = error
            return None, error
        served = self._served.get(served_key, 0)
        self._served[served_key] = served + 1
        _, outcome = outcomes[min(served, len(outcomes) - 1)]
        describe = f"replay of {self.path}: {batch}, key {short_repr(key)}"
        return _capture.result_of(outcome, recorded.codec, describe)

    # -- messages --------------------------------------------------------------

    def _not_recorded_message(self, batch: str, key: Any, key_id: Any, round_index: int) -> str:
        recorded = self._recorded
        text = f"replay of {self.path}: {batch} asked for the key {short_repr(key)}"
        if key_id is None:
            return text + f", which {recorded.codec!r} cannot encode, so it was not recorded"
        rounds = [each[0] for each in recorded.outcomes.get((batch, key_id), ())]
        if rounds:
            return (
                text + f" in round {round_index}; with check_rounds=True it is served only in "
                f"the rounds it was recorded in: {', '.join(map(str, dict.fromkeys(rounds)))}"
            )
        keys = recorded.keys.get(batch)
        if keys is None:
            batches = ", ".join(list(recorded.keys)[:_LISTED]) or "none"
            return text + f", and the recording has no flush of {batch} (it has: {batches})"
        return text + (
            f", which the recording does not hold ({_plural(len(keys), 'key')} of {batch} "
            f"recorded: {self._describe_keys(list(keys))})"
        )

    def _describe_keys(self, key_ids: list[Any]) -> str:
        shown: list[str] = []
        for key_id in key_ids[:_LISTED]:
            try:
                shown.append(short_repr(self._recorded.codec.decode(key_id)))
            except Exception:
                shown.append(short_repr(key_id))
        more = f" and {len(key_ids) - _LISTED} more" if len(key_ids) > _LISTED else ""
        return ", ".join(shown) + more

    def _round_mismatch(self) -> str | None:
        recorded = self._recorded.by_round
        lines: list[str] = []
        if self.rounds != len(recorded):
            lines.append(
                f"the block took {_plural(self.rounds, 'round')}, the recording "
                f"{_plural(len(recorded), 'round')}"
            )
        for index, wanted in enumerate(recorded):
            asked = self._asked[index] if index < len(self._asked) else {}
            missing = [each for each in wanted if each not in asked]
            if missing:
                batches: dict[str, list[Any]] = {}
                for batch, key_id in missing:
                    batches.setdefault(batch, []).append(key_id)
                described = "; ".join(
                    f"{batch}: {self._describe_keys(key_ids)}" for batch, key_ids in batches.items()
                )
                lines.append(f"round {index} did not ask for {described}")
        if not lines:
            return None
        listed = lines[: _LISTED + 1]
        if len(lines) > len(listed):
            listed.append(f"... and {len(lines) - len(listed)} more rounds")
        return (
            f"replay of {self.path} with check_rounds=True: the block did not ask in the "
            "recorded rounds:\n  " + "\n  ".join(listed)
        )

    def __repr__(self) -> str:
        state = (
            "active"
            if self._entered and not self._stopped
            else "done"
            if self._stopped
            else "not started"
        )
        return f"<Replay of {self.path} ({state}): {_plural(self.rounds, 'round')} served>"


def replay(
    path: str | os.PathLike[str], *, codec: Any = None, check_rounds: bool = False
) -> Replay:
    """Serves this thread's batches inside a ``with`` block (or a decorated
    function) from the recording ``Recording.save(path)`` wrote: the same
    program gets the same values and errors, in the same rounds, without its
    stores.

    ``codec`` must be the one the recording was made with (None: JSON).
    A key the recording lacks fails its requests, and the block, with a
    ``NotRecordedError`` naming the batch and the key. Keys are found
    whatever the round that asks for them, unless ``check_rounds`` is true:
    then only in their recorded round, and a block that takes other rounds
    fails with a ``ReplayError`` (see the module docstring).
    Batches whose items have no keys are flushed as usual.
    """
    return Replay(path, codec=codec, check_rounds=check_rounds)
