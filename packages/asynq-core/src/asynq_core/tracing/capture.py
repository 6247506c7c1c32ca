"""What ``record(capture=True)`` keeps of each flush, the file ``Recording.save``
writes, and how ``replay`` reads it back: codecs, the JSON Lines format,
recorded errors.

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
- Results are encoded when their flush ends: a value the program changes
  afterwards is recorded as it was fetched, and each replayed request gets a
  value decoded afresh, as from a store.
- A key is told by its encoded form (JSON text, or the codec's bytes or
  str): a replay finds a key by encoding it the same way.
- The default codec stores only values JSON gives back exactly
  (``json_refusal``): a tuple, a set, an object fail ``save()`` with an error
  naming the batch and the key, never read back as something else.
- An error is replayed as an instance of its recorded type, rebuilt from its
  args or its message, when that type is found among the imported modules and
  the rebuilt error says the same message; else as a ``RecordedError`` naming
  the type. Tracebacks and causes are not recorded.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..groups import NOT_FOUND
from ..json_values import json_refusal
from ..text import short_repr
from .events import KeyResult, _check_path  # pyright: ignore[reportPrivateUsage]  # the package's helper

__all__ = [
    "CapturedFlush",
    "RecordedError",
    "RecordedFlush",
    "ReplayCodec",
    "capture_flush",
    "codec_of",
    "key_id",
    "read_recording",
    "rebuild_error",
    "result_of",
    "write_recording",
]

FORMAT_VERSION = 1


class RecordedError(Exception):
    """A recorded error whose type could not be rebuilt (not among the imported
    modules, or not made again with the same message): it names the type."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message} (a recorded error)"


# -- codecs -----------------------------------------------------------------------


class ReplayCodec:
    """How keys and values are written: the default JSON (``name`` None), or a
    user's codec, with ``encode``/``decode`` (the stores' codecs) or
    ``dumps``/``loads`` (the ``json`` and ``pickle`` modules)."""

    def __init__(self, codec: Any, name: str | None, dump: Any, load: Any) -> None:
        self.codec = codec
        self.name = name
        self._dump = dump
        self._load = load

    def encode(self, value: Any) -> str | bytes:
        """``value`` encoded; the default codec's output is JSON text."""
        if self._dump is None:
            refusal = json_refusal(value, "JSON", "codec=pickle")
            if refusal is not None:
                raise refusal
            return _json_text(value)
        data = self._dump(value)
        if not isinstance(data, (str, bytes)):
            raise TypeError(
                f"the codec {self.name} encoded a value as {type(data).__name__}, not str or bytes"
            )
        return data

    def decode(self, data: str | bytes) -> Any:
        if self._load is None:
            return json.loads(data)
        return self._load(data)

    def __repr__(self) -> str:
        return "the default codec (JSON)" if self.name is None else f"the codec {self.name}"


def codec_of(owner: str, codec: Any) -> ReplayCodec:
    """The codec given to ``owner``: None (JSON) or an object with callable
    ``encode``/``decode`` or ``dumps``/``loads``; TypeError otherwise."""
    if codec is None:
        return ReplayCodec(None, None, None, None)
    for dump, load in (("encode", "decode"), ("dumps", "loads")):
        dump_fn, load_fn = getattr(codec, dump, None), getattr(codec, load, None)
        if callable(dump_fn) and callable(load_fn):
            name = getattr(codec, "__name__", None)
            if not isinstance(name, str) or not isinstance(codec, ModuleType):
                name = type(codec).__qualname__
            return ReplayCodec(codec, name, dump_fn, load_fn)
    raise TypeError(
        f"{owner}: codec must have encode() and decode() (as the stores' codecs) or dumps() "
        f"and loads() (as the json and pickle modules), got {short_repr(codec)}"
    )


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- capturing --------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """One key's recorded result: ``kind`` is "value", "not_found" or "error";
    ``data`` the encoded value, or for an error (module, type, message, args)."""

    kind: str
    data: Any = None


@dataclass(frozen=True)
class CapturedFlush:
    """A flush as ``save()`` writes it: its results encoded (None for a batch
    without keys), or the error that encoding them raised."""

    round: int
    batch: str
    items: int
    results: list[tuple[str | bytes, _Outcome]] | None
    error: Exception | None = None


def capture_flush(
    batch: str,
    round_index: int,
    items: int,
    results: tuple[KeyResult, ...] | None,
    codec: ReplayCodec,
) -> CapturedFlush:
    """Encodes what each key of a flush got (see the module docstring)."""
    if results is None:
        return CapturedFlush(round_index, batch, items, None)
    encoded: list[tuple[str | bytes, _Outcome]] = []
    for key, value, error in results:
        what = "key"
        try:
            key_data = codec.encode(key)
            if error is not None:
                what = f"error {type(error).__name__} of the key"
                outcome = _Outcome("error", _encode_error(error, codec))
            elif value is NOT_FOUND:
                outcome = _Outcome("not_found")
            else:
                what = "value of the key"
                outcome = _Outcome("value", codec.encode(value))
        except Exception as refusal:
            problem = TypeError(
                f"Recording.save(): cannot encode the {what} {short_repr(key)} of {batch} "
                f"(round {round_index}) with {codec!r}: {refusal}"
            )
            return CapturedFlush(round_index, batch, items, None, problem)
        encoded.append((key_data, outcome))
    return CapturedFlush(round_index, batch, items, encoded)


def _encode_error(error: BaseException, codec: ReplayCodec) -> tuple[Any, ...]:
    kind = type(error)
    try:
        args: str | bytes | None = codec.encode(list(error.args))
    except Exception:  # rebuilt from its message instead
        args = None
    return (kind.__module__, kind.__qualname__, str(error), args)


# -- the file ---------------------------------------------------------------------


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


def _result_line(key: str | bytes, outcome: _Outcome, to_text: Callable[[Any], Any]) -> Any:
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
    "json": _json_text,
    "str": _expect_str,
    "utf-8": lambda text: _expect_str(text).encode("utf-8"),
    "base64": lambda text: base64.b64decode(_expect_str(text), validate=True),
}


@dataclass(frozen=True)
class RecordedFlush:
    """A flush read back from a file: its keys (as encoded) and their outcomes."""

    round: int
    batch: str
    results: list[tuple[str | bytes, _Outcome]]


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
    read: list[tuple[str | bytes, _Outcome]] = []
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
            outcome = _Outcome("error", data)
        elif result.get("not_found") is True:
            outcome = _Outcome("not_found")
        else:
            outcome = _Outcome("value", from_text(result["value"]))
        read.append((key, outcome))
    return RecordedFlush(round_index, batch, read)


# -- replaying --------------------------------------------------------------------


def key_id(key: Any, codec: ReplayCodec) -> str | bytes | None:
    """How a requested key is found among the recorded ones; None if the codec
    cannot encode it (so it cannot have been recorded)."""
    try:
        return codec.encode(key)
    except Exception:
        return None


def result_of(outcome: _Outcome, codec: ReplayCodec, describe: str) -> tuple[Any, Any]:
    """The ``(value, error)`` a recorded outcome gives a request: the value
    decoded afresh, ``NOT_FOUND``, or the error rebuilt. ``describe`` names the
    batch and the key in the error of a value that cannot be decoded."""
    if outcome.kind == "not_found":
        return NOT_FOUND, None
    if outcome.kind == "error":
        module, name, message, args_data = outcome.data
        args = None
        if args_data is not None:
            try:
                args = codec.decode(args_data)
            except Exception:  # rebuilt from its message instead
                args = None
        return None, rebuild_error(module, name, message, args)
    try:
        return codec.decode(outcome.data), None
    except Exception as error:
        return None, ValueError(
            f"{describe}: cannot decode its recorded value with {codec!r}: {error}"
        )


def rebuild_error(module: str, name: str, message: str, args: Any) -> BaseException:
    """The recorded error as an instance of its type, if that type is in an
    imported module and, made from ``args`` (else from the message), it says
    ``message``; else a ``RecordedError``."""
    kind: Any = sys.modules.get(module)
    for part in name.split("."):
        kind = getattr(kind, part, None)
    if isinstance(kind, type) and issubclass(kind, BaseException):
        # args is what the codec decoded (a list, unless the codec is odd).
        attempts: list[tuple[Any, ...]] = [tuple(args)] if isinstance(args, list) else []  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        attempts.append((message,))
        for attempt in attempts:
            try:
                error = kind(*attempt)
            except Exception:
                continue
            if isinstance(error, kind) and _says(error, message):
                return error
    type_name = name if module == "builtins" else f"{module}.{name}"
    return RecordedError(type_name, message)


def _says(error: BaseException, message: str) -> bool:
    try:
        return str(error) == message
    except Exception:
        return False
