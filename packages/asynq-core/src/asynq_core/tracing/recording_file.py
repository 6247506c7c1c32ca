"""The file of a recording: ``Recording.save`` writes what a recording
captured (see ``capture``) to it, and ``replay`` reads it back.

The file, JSON Lines in UTF-8:
- a header line: ``{"asynq_recording": 1, "codec": null, "values": "json",
  "rounds": 2}``: the name of the codec (null for the default, JSON), how its
  output is written (below) and the rounds of the recording;
- one line per flush, in the recording's order: ``{"round": 0, "batch":
  "SqlStore(users).get", "items": 3, "results": [...]}``, where each result is
  ``{"key": K, "value": V}``, ``{"key": K, "not_found": true}`` or ``{"key":
  K, "error": {"module": "builtins", "type": "ValueError", "message": "...",
  "args": A}}``; ``results`` is null for a batch whose items have no keys.
  K, V and A (the error's args, null if the codec cannot encode them) are
  JSON itself with the default codec; with another, its output as a string:
  as it is (``"values": "str"``, a codec that makes text), decoded from UTF-8
  (``"utf-8"``) or in base64 (``"base64"``).

Invariants:
- A file is written whole or not at all: a flush whose results could not be
  encoded fails ``save()`` before anything is written.
- One file writes all its values one way: a codec that returns str for some
  values and bytes for others cannot be saved.
- A file is read back only with the codec it was saved with; a file that is
  not a recording of this format version is a ValueError naming it (and the
  line at fault), never a partial replay.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..text import short_repr
from .capture import CapturedFlush, EncodedOutcome, ReplayCodec, json_text
from .events import _check_path  # pyright: ignore[reportPrivateUsage]  # the package's helper

__all__ = ["RecordedFlush", "read_recording", "write_recording"]

FORMAT_VERSION = 1


def write_recording(
    path: str | os.PathLike[str], flushes: list[CapturedFlush], codec: ReplayCodec, rounds: int
) -> None:
    """Writes the recording's file (see the module docstring); the first flush
    whose results could not be encoded raises its error, and nothing is written."""
    _check_path("Recording.save()", path)
    for flush in flushes:
        if flush.error is not None:
            raise flush.error
    values = "json" if codec.name is None else _text_form(flushes, codec)
    to_text = _TO_TEXT[values]
    lines = [
        json.dumps(
            {
                "asynq_recording": FORMAT_VERSION,
                "codec": codec.name,
                "values": values,
                "rounds": rounds,
            }
        )
    ]
    for flush in flushes:
        results = None
        if flush.results is not None:
            results = [_result_line(key, outcome, to_text) for key, outcome in flush.results]
        line = {
            "round": flush.round,
            "batch": flush.batch,
            "items": flush.items,
            "results": results,
        }
        lines.append(json.dumps(line, ensure_ascii=False))
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def _result_line(key: str | bytes, outcome: EncodedOutcome, to_text: Callable[[Any], Any]) -> Any:
    line: dict[str, Any] = {"key": to_text(key)}
    if outcome.kind == "value":
        line["value"] = to_text(outcome.data)
    elif outcome.kind == "not_found":
        line["not_found"] = True
    else:
        module, name, message, args = outcome.data
        line["error"] = {
            "module": module,
            "type": name,
            "message": message,
            "args": None if args is None else to_text(args),
        }
    return line


def _text_form(flushes: list[CapturedFlush], codec: ReplayCodec) -> str:
    """How a user codec's output is written: "str", "utf-8" or "base64"."""
    kinds: set[type] = set()
    utf8 = True
    for flush in flushes:
        for key, outcome in flush.results or ():
            data = [key]
            if outcome.kind == "value":
                data.append(outcome.data)
            elif outcome.kind == "error" and outcome.data[3] is not None:
                data.append(outcome.data[3])
            for each in data:
                kinds.add(type(each))
                if utf8 and isinstance(each, bytes):
                    try:
                        each.decode("utf-8")
                    except UnicodeDecodeError:
                        utf8 = False
    if len(kinds) > 1:
        raise TypeError(
            f"Recording.save(): {codec!r} encoded some values as str and others as bytes; "
            "a codec must return one of them"
        )
    if kinds == {str}:
        return "str"
    return "utf-8" if utf8 else "base64"


def _expect_str(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError(f"expected the codec's output as a string, got {short_repr(text)}")
    return text


_TO_TEXT: dict[str, Callable[[Any], Any]] = {
    "json": json.loads,  # the JSON text of the default codec, written as JSON itself
    "str": lambda data: data,
    "utf-8": lambda data: data.decode("utf-8"),
    "base64": lambda data: base64.b64encode(data).decode("ascii"),
}

_FROM_TEXT: dict[str, Callable[[Any], Any]] = {
    "json": json_text,
    "str": _expect_str,
    "utf-8": lambda text: _expect_str(text).encode("utf-8"),
    "base64": lambda text: base64.b64decode(_expect_str(text), validate=True),
}


@dataclass(frozen=True)
class RecordedFlush:
    """A flush read back from a file: its keys (as encoded) and their outcomes."""

    round: int
    batch: str
    results: list[tuple[str | bytes, EncodedOutcome]]


def read_recording(
    owner: str, path: str | os.PathLike[str], codec: ReplayCodec
) -> tuple[list[RecordedFlush], int]:
    """The keyed flushes of the file at ``path`` and its number of rounds.

    ValueError naming the file and the line for anything that is not a
    recording, or a recording saved with another codec than ``codec``.
    """
    _check_path(owner, path)
    where = f"{owner}: {os.fspath(path)}"
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError as missing:
        raise FileNotFoundError(
            missing.errno,
            f"{owner}: no recording at this path (Recording.save() writes one)",
            missing.filename,
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not UTF-8 text, not a recording") from None
    if not lines:
        raise ValueError(f"{where} is empty, not a recording (Recording.save() writes one)")
    header = _parse(where, 1, lines[0])
    if not isinstance(header, dict) or header.get("asynq_recording") != FORMAT_VERSION:
        raise ValueError(
            f"{where}, line 1: not a recording of asynq (Recording.save() writes one), or of "
            f"another format version than {FORMAT_VERSION}"
        )
    if header.get("codec") != codec.name:
        saved = (
            "the default codec (JSON)"
            if header.get("codec") is None
            else (f"the codec {header.get('codec')}")
        )
        raise ValueError(
            f"{where} was saved with {saved}, and {owner} was given {codec!r}: pass the codec "
            "the recording was saved with"
        )
    values, rounds = header.get("values"), header.get("rounds")
    if values not in _FROM_TEXT or (values == "json") != (codec.name is None):
        raise ValueError(f"{where}, line 1: unknown way of writing values {values!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"{where}, line 1: rounds must be an int >= 0, got {rounds!r}")
    from_text = _FROM_TEXT[values]
    flushes: list[RecordedFlush] = []
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        line = _parse(where, number, text)
        try:
            flush = _read_flush(line, from_text)
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise ValueError(f"{where}, line {number}: not a recorded flush ({error})") from None
        if flush is not None:
            flushes.append(flush)
    return flushes, rounds


def _parse(
    where: str, number: int, text: str
) -> dict[str, Any] | list[Any] | str | int | float | bool | None:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"{where}, line {number}: not JSON ({error})") from None


def _read_flush(line: Any, from_text: Callable[[Any], Any]) -> RecordedFlush | None:
    round_index, batch, results = line["round"], line["batch"], line["results"]
    if isinstance(round_index, bool) or not isinstance(round_index, int) or round_index < 0:
        raise ValueError(f"round must be an int >= 0, got {round_index!r}")
    if not isinstance(batch, str):
        raise ValueError(f"batch must be a str, got {batch!r}")
    if results is None:
        return None
    read: list[tuple[str | bytes, EncodedOutcome]] = []
    for result in results:
        key = from_text(result["key"])
        if "error" in result:
            error = result["error"]
            args = error["args"]
            data = (
                str(error["module"]),
                str(error["type"]),
                str(error["message"]),
                None if args is None else from_text(args),
            )
            outcome = EncodedOutcome("error", data)
        elif result.get("not_found") is True:
            outcome = EncodedOutcome("not_found")
        else:
            outcome = EncodedOutcome("value", from_text(result["value"]))
        read.append((key, outcome))
    return RecordedFlush(round_index, batch, read)
