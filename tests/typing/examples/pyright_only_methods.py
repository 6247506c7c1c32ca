"""A staticmethod made asynq in the 1.x spelling, reached through an instance.

Checked by pyright only: mypy hands the decorator the function without its
staticmethod-ness, and its overload matching then binds the first argument
as if it were ``self`` (see the README's Typing section).
"""

from collections.abc import Generator
from typing import Any

from typing_extensions import assert_type

from asynq_core import AsyncTask, asynq


class Units:
    @asynq()
    @staticmethod
    def to_cents(amount: float) -> Generator[Any, Any, int]:
        yield None
        return round(amount * 100)


units = Units()
assert_type(units.to_cents(1.5), int)
assert_type(units.to_cents.asynq(2.5), AsyncTask[int])

assert units.to_cents(1.5) == 150
assert units.to_cents.asynq(2.5).value() == 250
