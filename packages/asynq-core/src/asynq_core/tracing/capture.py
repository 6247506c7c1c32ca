"""What ``record(capture=True)`` keeps of each flush and how ``replay`` gives
it back: the codecs of keys and values, each key's outcome encoded, recorded
errors rebuilt. The file that holds them is ``recording_file``'s.

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

import json
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..groups import NOT_FOUND
from ..json_values import json_refusal
from ..text import short_repr
from .events import KeyResult

__all__ = [
    "CapturedFlush",
    "EncodedOutcome",
    "RecordedError",
    "ReplayCodec",
    "capture_flush",
    "codec_of",
    "json_text",
    "key_id",
    "rebuild_error",
    "result_of",
]


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
            return json_text(value)
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


def json_text(value: Any) -> str:
    """``value`` as compact JSON text: the default codec's encoding."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- capturing --------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedOutcome:
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
    results: list[tuple[str | bytes, EncodedOutcome]] | None
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
    encoded: list[tuple[str | bytes, EncodedOutcome]] = []
    for key, value, error in results:
        what = "key"
        try:
            key_data = codec.encode(key)
            if error is not None:
                what = f"error {type(error).__name__} of the key"
                outcome = EncodedOutcome("error", _encode_error(error, codec))
            elif value is NOT_FOUND:
                outcome = EncodedOutcome("not_found")
            else:
                what = "value of the key"
                outcome = EncodedOutcome("value", codec.encode(value))
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


# -- replaying --------------------------------------------------------------------


def key_id(key: Any, codec: ReplayCodec) -> str | bytes | None:
    """How a requested key is found among the recorded ones; None if the codec
    cannot encode it (so it cannot have been recorded)."""
    try:
        return codec.encode(key)
    except Exception:
        return None


def result_of(outcome: EncodedOutcome, codec: ReplayCodec, describe: str) -> tuple[Any, Any]:
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
