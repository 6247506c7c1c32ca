"""The binders: what a decorated method becomes when reached through an
instance or a class (``AsyncDecoratorBinder``, ``PureAsyncDecoratorBinder``).

Invariants:
- A binder is a ``qcore.decorators.DecoratorBinder`` as in asynq 1.x: its
  ``decorator`` and ``instance`` (None for a method reached through its class:
  unbound), and nothing else (``__slots__``); every other attribute is the
  decorator's.
- Bound methods of equal instances are equal and hash alike; a binder pickles
  as the attribute lookup that made it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, NoReturn, ParamSpec, TypeVar

import qcore.decorators

from .async_task import AsyncTask
from .futures import FutureBase

__all__ = ["AsyncDecoratorBinder", "PureAsyncDecoratorBinder"]

# Static typing: ``P`` is the decorated function's parameters and ``R_co``
# what a synchronous call returns (shared with decorator_classes).
P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)


class _DocOfDecorated:
    """``__doc__`` of binders: the decorated function's on an instance, the
    class's own on the class."""

    def __init__(self, class_doc: str | None) -> None:
        self.class_doc = class_doc

    def __get__(self, instance: Any, owner: type | None = None) -> str | None:
        if instance is None:
            return self.class_doc
        return getattr(instance.decorator, "__doc__", None)


class AsyncDecoratorBinder(qcore.decorators.DecoratorBinder, Generic[P, R_co]):  # pyright: ignore[reportMissingTypeArgument]
    """A decorator object bound to an instance (for classmethods, a class; for
    a method reached through its class, None: unbound).

    A ``qcore.decorators.DecoratorBinder`` as in asynq 1.x; bound methods of
    equal instances are equal. Statically ``P`` is the parameters left once
    the instance is bound.
    """

    __slots__ = ()

    _asynq_kind = "async"
    decorator: Any
    instance: Any
    # A bound method shows its function's docstring (the class keeps its own).
    __doc__ = _DocOfDecorated(__doc__)  # pyright: ignore[reportAssignmentType]

    if TYPE_CHECKING:
        # qcore's (compiled): the decorator, called with the instance first
        # unless it is None.
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def asynq(self, *args: P.args, **kwargs: P.kwargs) -> AsyncTask[R_co]:
        instance = self.instance
        if instance is None:
            return self.decorator.asynq(*args, **kwargs)
        return self.decorator.asynq(instance, *args, **kwargs)

    def asyncio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        instance = self.instance
        if instance is None:
            return self.decorator.asyncio(*args, **kwargs)
        return self.decorator.asyncio(instance, *args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.decorator, attr)

    @property
    def __signature__(self) -> inspect.Signature:
        """The decorated function's signature, without the parameter bound."""
        signature = inspect.signature(self.decorator)
        if self.instance is None:
            return signature
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.decorator is self.decorator
            and (other.instance is self.instance or other.instance == self.instance)
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        try:
            instance_hash = hash(self.instance)
        except TypeError:  # an unhashable instance: its identity (1.x raised here)
            instance_hash = id(self.instance)
        return hash((id(self.decorator), instance_hash))

    def __reduce__(self) -> tuple[Any, ...]:
        if self.instance is None:
            return (_unbound_method, (self.decorator.__module__, self.decorator.__qualname__))
        return (getattr, (self.instance, self.decorator.__name__))

    def __repr__(self) -> str:
        if self.instance is None:
            return f"<unbound {self.decorator!r}>"
        return f"<bound {self.decorator!r} of {self.instance!r}>"

    def __str__(self) -> str:
        return repr(self)


def _unbound_method(module: str, qualname: str) -> Any:
    """What an unbound method pickles to: ``Class.method`` looked up again."""
    value: Any = importlib.import_module(module)
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


class PureAsyncDecoratorBinder(AsyncDecoratorBinder[P, R_co]):
    """A bound ``@asynq(pure=True)`` function: calling it returns a task; no ``.asynq``."""

    __slots__ = ()

    _asynq_kind = "pure"

    if TYPE_CHECKING:
        # Inherited at run time: the pure decorator's own call returns the task.
        def __call__(  # type: ignore[override]
            self, *args: P.args, **kwargs: P.kwargs
        ) -> AsyncTask[R_co]: ...

    @property
    def asynq(self) -> NoReturn:  # pyright: ignore[reportIncompatibleMethodOverride]
        # A property, so that hasattr(bound, "asynq") is False, as in 1.x (its
        # AttributeError sends the lookup to __getattr__, which says why).
        raise AttributeError("asynq")

    def __getattr__(self, attr: str) -> Any:
        if attr == "asynq":
            raise AttributeError(f"{self!r} is pure: call it to get its task (it has no .asynq)")
        return getattr(self.decorator, attr)


if TYPE_CHECKING:
    # Imported by decorator_classes and decorator_types, under TYPE_CHECKING.
    class _BoundAsyncProxy(AsyncDecoratorBinder[P, R_co]):  # pyright: ignore[reportUnusedClass]
        """How checkers see a bound ``@async_proxy()`` method (at run time an
        AsyncDecoratorBinder): its ``.asynq`` returns the function's future."""

        def asynq(  # type: ignore[override]
            self, *args: P.args, **kwargs: P.kwargs
        ) -> FutureBase[R_co]: ...
