"""Which values JSON keeps as they are: the check that the stores' ``JsonCodec``
and the recordings of ``tracing`` share, so that neither ever reads back a
value other than the one it wrote (a tuple as a list, ``{1: "a"}`` as
``{"1": "a"}``). A leaf module.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_refusal"]

_JSON_SCALARS = frozenset({type(None), bool, int, float, str})


def json_refusal(value: Any, owner: str, alternative: str) -> Exception | None:
    """None if JSON gives back ``value`` exactly (None, bool, int, float, str,
    lists and dicts with str keys, of exactly those types), else the error to
    raise: a TypeError (a ValueError for a container holding itself) that
    starts ``"{owner} cannot store"``, says where in ``value`` the offending
    part is, and for a type JSON lacks suggests ``alternative``."""
    try:
        _check(value, set(), alternative)
    except _NotJson as refusal:
        where = f" at {''.join(reversed(refusal.path))}" if refusal.path else ""
        return refusal.error_type(f"{owner} cannot store {refusal.what}{where}{refusal.why}")
    return None


class _NotJson(Exception):
    """What ``_check`` raises; each container it leaves adds its step to ``path``."""

    def __init__(self, what: str, why: str, error_type: type[Exception] = TypeError) -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.error_type = error_type
        self.path: list[str] = []


def _check(value: Any, active: set[int], alternative: str) -> None:
    """Raises ``_NotJson`` if ``value`` would not come back from JSON as it is;
    ``active`` holds the containers being checked around it (a cycle)."""
    # type() of an Any is unknown to pyright; the value may be anything.
    kind = type(value)  # pyright: ignore[reportUnknownVariableType]
    if kind in _JSON_SCALARS:
        return
    if kind is not list and kind is not dict:
        name = kind.__name__
        if kind is tuple:
            raise _NotJson("a tuple", ": it would come back as a list")
        article = "an" if name[:1].lower() in "aeiou" else "a"
        raise _NotJson(
            f"{article} {name}",
            f": it would not come back as it went; convert it, or use {alternative}",
        )
    if id(value) in active:
        raise _NotJson(f"a {kind.__name__} that contains itself", "", ValueError)
    active.add(id(value))
    if kind is list:
        for index, item in enumerate(value):
            try:
                _check(item, active, alternative)
            except _NotJson as refusal:
                refusal.path.append(f"[{index}]")
                raise
    else:
        for key, item in value.items():
            if type(key) is not str:
                raise _NotJson(
                    f"the {type(key).__name__} key {key!r}",
                    f": JSON object keys are text, it would come back as {json.dumps(key)!r}"
                    if type(key) in _JSON_SCALARS
                    else ": JSON object keys are text",
                )
            try:
                _check(item, active, alternative)
            except _NotJson as refusal:
                refusal.path.append(f"[{key!r}]")
                raise
    active.discard(id(value))
