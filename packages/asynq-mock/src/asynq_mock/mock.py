"""asynq-aware patching: a drop-in for ``unittest.mock.patch``.

``patch``, ``patch.object``, ``patch.multiple`` and ``patch.dict`` are
unittest.mock's patchers (thin subclasses of them), so every argument,
``start()``/``stop()``, the decorator and context-manager forms work as
there, and ``patch.stopall()`` and ``unittest.mock.patch.stopall()`` see each
other's patches (one registry). What this module adds is that the object a
patch installs can also be called the asynq way:

- A callable mock it installs (created by the patch, autospecced, or given as
  ``new``) answers ``.asynq(...)`` with an already computed future of what
  calling the mock returns, and ``.asyncio(...)`` with a coroutine of it. The
  mock is called right away, so the call is recorded on the mock itself and
  ``side_effect`` runs in call order; an exception it raises is stored in the
  future and so surfaces at the caller's ``yield``, as a real task's would.
- The mock's own class (unittest.mock gives every mock a class of its own) is
  marked ``_asynq_kind = "async"``, so ``has_async_fn``, ``get_async_fn`` and
  ``async_call`` treat it as an asynq function. Only the installed object is
  changed: its attributes and return value stay ordinary mocks, as in
  unittest.mock; patch a method itself to mock its ``.asynq``.
- ``.asynq`` has no state of its own: reading a public attribute of it or
  setting any raises TypeError pointing to the mock, where configuration
  (``return_value``, ``side_effect``, assertions) belongs.
- A plain function given as ``new`` is wrapped so that it has ``.asynq`` and
  ``.asyncio`` too and binds like the function; a generator function given as
  ``new`` for an asynq function becomes an asynq function itself.
- Decorating a generator function keeps the patch active for the generator's
  whole run, so ``@asynq()`` may be applied on top of ``@patch(...)``.
"""

from __future__ import annotations

import functools
import inspect
import pkgutil
import types
import unittest.mock as _mock
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar, overload
from unittest.mock import (
    ANY,
    DEFAULT,
    FILTER_DIR,
    AsyncMock,
    MagicMock,
    Mock,
    NonCallableMagicMock,
    NonCallableMock,
    PropertyMock,
    call,
    create_autospec,
    mock_open,
    seal,
    sentinel,
)

from asynq_core.decorators import asynq as _asynq_decorator
from asynq_core.decorators import is_async_fn, is_pure_async_fn
from asynq_core.futures import ConstFuture, ErrorFuture, FutureBase

__all__ = [
    "patch",
    "AsyncPatcher",
    "PatchScope",
    "AsynqCaller",
    "AsyncioCaller",
    # unittest.mock's own names, so that this module can stand in for it
    "ANY",
    "DEFAULT",
    "FILTER_DIR",
    "AsyncMock",
    "MagicMock",
    "Mock",
    "NonCallableMagicMock",
    "NonCallableMock",
    "PropertyMock",
    "call",
    "create_autospec",
    "mock_open",
    "seal",
    "sentinel",
]

_TT = TypeVar("_TT", bound=type[Any])
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., Any])

# Callables that a patch wraps when given as ``new`` (classes, mocks, asynq
# functions and other callable objects are installed as they are).
_PLAIN_CALLABLES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    functools.partial,
)


class AsynqCaller:
    """``.asynq`` of a patched object: calls the object now and returns a computed future.

    The future holds what the call returned, or the exception it raised (which
    the scheduler then raises at the ``yield`` that waits for it).
    """

    __slots__ = ("_target",)

    _attribute = "asynq"

    def __init__(self, target: Callable[..., Any]) -> None:
        object.__setattr__(self, "_target", target)

    def __call__(self, *args: Any, **kwargs: Any) -> FutureBase[Any]:
        try:
            value = self._target(*args, **kwargs)
        except BaseException as error:  # a real task stores any error, so does its mock
            return ErrorFuture(error)
        return ConstFuture(value)

    def __getattr__(self, name: str) -> Any:
        # Private and dunder names stay AttributeErrors, so that introspection
        # (getattr with a default, inspect, copy) keeps working.
        if name.startswith("_"):
            raise AttributeError(f"{self!r} has no attribute {name!r}")
        raise TypeError(
            f"{self!r} has no attribute {name!r}: .{self._attribute} only calls the mock, "
            f"read {name!r} on the mock itself (mock.{name}), not on mock.{self._attribute}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(
            f"cannot set {name!r} on {self!r}: configure the mock itself "
            f"(mock.{name} = ...); mock.{self._attribute}(...) returns what calling "
            "the mock returns"
        )

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"cannot delete {name!r} of {self!r}: it has no attributes of its own")

    def __repr__(self) -> str:
        return f"<.{self._attribute} of {self._target!r}>"


class AsyncioCaller(AsynqCaller):
    """``.asyncio`` of a patched object: calls it now, returns a coroutine of the result."""

    __slots__ = ()

    _attribute = "asyncio"

    def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:  # type: ignore[override]
        return _value_of(super().__call__(*args, **kwargs))


async def _value_of(future: FutureBase[Any]) -> Any:
    return future.value()


class _CallerSlot:
    """Data descriptor put on a mock's own class: gives the mock's caller, refuses replacement."""

    __slots__ = ("name", "caller")

    def __init__(self, name: str, caller: AsynqCaller) -> None:
        self.name = name
        self.caller = caller

    def __get__(self, instance: Any, owner: type | None = None) -> AsynqCaller:
        return self.caller

    def __set__(self, instance: Any, value: Any) -> None:
        raise TypeError(
            f"cannot replace .{self.name} of {instance!r}: configure the mock itself "
            f"(return_value, side_effect); .{self.name}(...) follows it"
        )


def _is_mock(obj: Any) -> bool:
    # type(), not isinstance(): a mock with a spec claims to be of the spec's class.
    return issubclass(type(obj), NonCallableMock)


def _make_mock_async(mock_obj: NonCallableMock) -> None:
    """Gives a callable mock ``.asynq``/``.asyncio`` and marks its own class async."""
    cls = type(mock_obj)
    if "_asynq_kind" in cls.__dict__ or not callable(mock_obj):
        return
    # unittest.mock creates a class per mock instance, so this changes this mock only.
    cls._asynq_kind = "async"
    cls.asynq = _CallerSlot("asynq", AsynqCaller(mock_obj))
    cls.asyncio = _CallerSlot("asyncio", AsyncioCaller(mock_obj))


def _make_created_async(created: Any) -> None:
    """Makes what a patch created (a mock, or the function autospec builds) answer ``.asynq``."""
    if _is_mock(created):
        _make_mock_async(created)
    elif isinstance(created, types.FunctionType) and "asynq" not in created.__dict__:
        # An autospecced function: its type cannot be marked, but it can carry
        # the callers (the call still goes through its signature check).
        created.asynq = AsynqCaller(created)  # type: ignore[attr-defined]
        created.asyncio = AsyncioCaller(created)  # type: ignore[attr-defined]


class _AsyncReplacement:
    """A plain callable given as ``new``, made async.

    Calling it calls the callable; ``.asynq(...)`` returns a computed future of
    that call. It binds exactly as the callable would (a function becomes a
    method on a class, a staticmethod or classmethod object keeps its kind, a
    builtin does not bind), so the patch behaves as unittest.mock's would.
    """

    _asynq_kind = "async"

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        wrapped = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
        functools.update_wrapper(self, wrapped)
        self.asynq = AsynqCaller(self)
        self.asyncio = AsyncioCaller(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        bind = getattr(type(self.fn), "__get__", None)
        if bind is None:
            return self
        bound = bind(self.fn, instance, owner)
        if bound is self.fn:
            return self
        return _AsyncReplacement(bound)

    def __repr__(self) -> str:
        return f"<async replacement {self.fn!r}>"


def _async_replacement(new: Any, get_original: Callable[[], Any]) -> Any:
    """What a patch installs for a ``new`` given by the caller."""
    if _is_mock(new):
        _make_mock_async(new)
        return new
    if is_async_fn(new):
        return new
    if isinstance(new, types.FunctionType) and _is_mock(new.__dict__.get("mock")):
        # A function made by create_autospec: it holds its mock's state, so it
        # is installed itself (a wrapper would copy that state, not share it).
        _make_created_async(new)
        return new
    fn = new.__func__ if isinstance(new, (staticmethod, classmethod)) else new
    if not isinstance(fn, _PLAIN_CALLABLES):
        return new
    if inspect.isgeneratorfunction(fn):
        # The body of an asynq function replacing one; but a generator function
        # replacing a plain generator function (os.walk, ...) must stay one.
        original = get_original()
        if is_async_fn(original):
            return _asynq_decorator(pure=is_pure_async_fn(original))(new)
    return _AsyncReplacement(new)


class _AsyncPatch(_mock._patch):
    """unittest.mock's patcher, installing objects that answer ``.asynq``."""

    def __enter__(self) -> Any:
        given = self.new
        if given is DEFAULT:
            installed = super().__enter__()
            created = installed if self.attribute_name is None else installed[self.attribute_name]
            _make_created_async(created)
            return installed
        replacement = _async_replacement(given, lambda: self.get_original()[0])
        if replacement is given:
            return super().__enter__()
        # Swapped only for the installation, so that copies and decorators
        # still see what the caller gave.
        self.new = replacement
        try:
            return super().__enter__()
        finally:
            self.new = given

    # As unittest.mock's: a decorated function keeps its return type (the
    # mock a DEFAULT ``new`` adds as an argument is not in its signature).
    @overload
    def __call__(self, func: _TT) -> _TT: ...
    @overload
    def __call__(self, func: Callable[..., _R]) -> Callable[..., _R]: ...
    def __call__(self, func: Any) -> Any:
        if inspect.isgeneratorfunction(func):
            return self._decorate_generator(func)
        return super().__call__(func)

    def _decorate_generator(self, func: Any) -> Callable[..., Any]:
        if hasattr(func, "patchings"):
            func.patchings.append(self)
            return func

        @functools.wraps(func)
        def patched(*args: Any, **kwargs: Any) -> Any:
            # decoration_helper enters every patch in patched.patchings.
            with self.decoration_helper(patched_any, args, kwargs) as (new_args, new_kwargs):
                return (yield from func(*new_args, **new_kwargs))

        patched_any: Any = patched
        patched_any.patchings = [self]
        return patched

    def decorate_class(self, klass: Any) -> Any:
        return _decorate_test_methods(klass, self.copy)

    def copy(self) -> _AsyncPatch:
        clone = type(self)(
            self.getter,
            self.attribute,
            self.new,
            self.spec,
            self.create,
            self.spec_set,
            self.autospec,
            self.new_callable,
            self.kwargs,
            unsafe=True,  # the kwargs were checked when this patcher was made
        )
        clone.attribute_name = self.attribute_name
        clone.additional_patchers = [patcher.copy() for patcher in self.additional_patchers]
        return clone


class _AsyncPatchDict(_mock._patch_dict):
    """unittest.mock's ``patch.dict``, honouring this module's TEST_PREFIX and generators."""

    def __call__(self, func: _F) -> _F:
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def patched(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return (yield from func(*args, **kwargs))

            return patched  # type: ignore[return-value]
        return super().__call__(func)

    def decorate_class(self, klass: Any) -> Any:
        return _decorate_test_methods(
            klass, lambda: type(self)(self.in_dict, self.values, self.clear)
        )


def _decorate_test_methods(klass: Any, make_patcher: Callable[[], Callable[[Any], Any]]) -> Any:
    """What a patcher applied to a class does (as unittest.mock's, but reading
    this module's patch.TEST_PREFIX): each method named so gets a fresh patcher."""
    for name in dir(klass):
        if name.startswith(patch.TEST_PREFIX):
            value = getattr(klass, name)
            if callable(value):
                setattr(klass, name, make_patcher()(value))
    return klass


def _get_target(target: Any) -> tuple[Callable[[], Any], str]:
    if not isinstance(target, str) or "." not in target:
        raise TypeError(
            f"Need a valid target to patch. You supplied: {target!r} "
            "(patch() takes a string like 'package.module.attribute')"
        )
    owner, attribute = target.rsplit(".", 1)
    return functools.partial(pkgutil.resolve_name, owner), attribute


class AsyncPatcher:
    """The type of ``patch``: unittest.mock's ``patch`` API, installing async-aware mocks."""

    def __init__(self) -> None:
        #: Class decorators patch the methods whose names start with this.
        self.TEST_PREFIX = "test"

    def __call__(
        self,
        target: str,
        new: Any = DEFAULT,
        spec: Any = None,
        create: bool = False,
        spec_set: Any = None,
        autospec: Any = None,
        new_callable: Any = None,
        *,
        unsafe: bool = False,
        **kwargs: Any,
    ) -> _AsyncPatch:
        """Patches ``target`` ('package.module.attribute'), as ``unittest.mock.patch``.

        The installed mock (or plain function given as ``new``) also answers
        ``.asynq(...)`` and ``.asyncio(...)``.
        """
        getter, attribute = _get_target(target)
        return _AsyncPatch(
            getter,
            attribute,
            new,
            spec,
            create,
            spec_set,
            autospec,
            new_callable,
            kwargs,
            unsafe=unsafe,
        )

    def object(
        self,
        target: Any,
        attribute: str,
        new: Any = DEFAULT,
        spec: Any = None,
        create: bool = False,
        spec_set: Any = None,
        autospec: Any = None,
        new_callable: Any = None,
        *,
        unsafe: bool = False,
        **kwargs: Any,
    ) -> _AsyncPatch:
        """Patches the attribute ``attribute`` of the object ``target``, as
        ``unittest.mock.patch.object``."""
        if type(target) is str:
            raise TypeError(
                f"patch.object(): {target!r} must be the actual object to be patched, "
                f"not a str (to patch by name use patch({target + '.' + str(attribute)!r}))"
            )
        if not isinstance(attribute, str):
            raise TypeError(f"patch.object(): the attribute name must be a str, got {attribute!r}")
        return _AsyncPatch(
            lambda: target,
            attribute,
            new,
            spec,
            create,
            spec_set,
            autospec,
            new_callable,
            kwargs,
            unsafe=unsafe,
        )

    def multiple(
        self,
        target: Any,
        spec: Any = None,
        create: bool = False,
        spec_set: Any = None,
        autospec: Any = None,
        new_callable: Any = None,
        **kwargs: Any,
    ) -> _AsyncPatch:
        """Patches several attributes of ``target`` (an object, or its dotted
        name) at once, as ``unittest.mock.patch.multiple``; attributes given
        ``DEFAULT`` get async-aware mocks, passed by name to decorated functions."""
        if not kwargs:
            raise ValueError(
                "patch.multiple(): must supply at least one keyword argument "
                "(attribute=new value, or attribute=DEFAULT for a mock)"
            )
        if type(target) is str:
            getter: Callable[[], Any] = functools.partial(pkgutil.resolve_name, target)
        else:

            def getter() -> Any:
                return target

        patchers = []
        for attribute, new in kwargs.items():
            patcher = _AsyncPatch(
                getter, attribute, new, spec, create, spec_set, autospec, new_callable, {}
            )
            patcher.attribute_name = attribute
            patchers.append(patcher)
        first = patchers[0]
        first.additional_patchers = patchers[1:]
        return first

    def dict(
        self,
        in_dict: Any,
        values: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (),
        clear: bool = False,
        **kwargs: Any,
    ) -> _AsyncPatchDict:
        """Sets ``values`` (and ``kwargs``) in a dict (or its dotted name) and
        restores it afterwards, as ``unittest.mock.patch.dict``."""
        return _AsyncPatchDict(in_dict, values, clear, **kwargs)

    def stopall(self) -> None:
        """Stops every patch started with ``start()`` (unittest.mock's too), latest first."""
        _mock.patch.stopall()

    def __repr__(self) -> str:
        return "<asynq_mock.patch>"


patch = AsyncPatcher()


class PatchScope:
    """Starts patches at once and stops them all together, latest first.

    What the ``asynq_patch`` pytest fixture hands out; usable on its own as a
    context manager. Each method takes the arguments of the ``patch`` function
    of the same name and returns what ``start()`` returns (the mock, the dict
    of mocks of ``multiple``, the patched dict of ``dict``).
    """

    def __init__(self) -> None:
        self._started: list[Any] = []

    def __call__(self, target: str, new: Any = DEFAULT, **kwargs: Any) -> Any:
        return self._start(patch(target, new, **kwargs))

    def object(self, target: Any, attribute: str, new: Any = DEFAULT, **kwargs: Any) -> Any:
        return self._start(patch.object(target, attribute, new, **kwargs))

    def multiple(self, target: Any, **kwargs: Any) -> Any:
        return self._start(patch.multiple(target, **kwargs))

    def dict(
        self,
        in_dict: Any,
        values: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (),
        clear: bool = False,
        **kwargs: Any,
    ) -> Any:
        return self._start(patch.dict(in_dict, values, clear, **kwargs))

    def _start(self, patcher: Any) -> Any:
        result = patcher.start()
        self._started.append(patcher)
        return result

    def stopall(self) -> None:
        """Stops every patch this scope started, latest first; if stopping one
        fails, the others are still stopped and then the first error is raised."""
        first_error: BaseException | None = None
        while self._started:
            patcher = self._started.pop()
            try:
                patcher.stop()
            except BaseException as error:
                if first_error is None:
                    first_error = error
        if first_error is not None:
            raise first_error

    def __enter__(self) -> PatchScope:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stopall()
