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
  (``return_value``, ``side_effect``, assertions) belongs. A test may replace
  it altogether (``mock.asynq = ...``), as with asynq 1.x.
- A plain function given as ``new`` is wrapped so that it has ``.asynq`` and
  ``.asyncio`` too and binds like the function; a generator function given as
  ``new`` for an asynq function becomes an asynq function itself.
- Decorating a generator function keeps the patch active for the generator's
  whole run, so ``@asynq()`` may be applied on top of ``@patch(...)``.
- ``autospec`` of an asynq function records any call, as asynq 1.x's did;
  with ``patch.STRICT_AUTOSPEC`` it checks every call (plain, ``.asynq``,
  ``.asyncio``) against the signature of the function it decorates, which
  unittest.mock cannot see through the decorator: a call the original would
  refuse raises TypeError naming it, when it is made, and is not recorded.
  An autospecced asynq method checks calls through an instance with the
  instance bound, and records them without it, as asynq 1.x's patch did.
- Where asynq 1.x accepts an argument and fails later, so do we: a
  ``patch.object`` of a str (or of an attribute name that is not one) fails
  when the patch starts; ``mocksignature=`` is ignored.
"""

from __future__ import annotations

import contextvars
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

from asynq_core import debug
from asynq_core.decorators import (
    AsyncDecoratorBinder,
    AsyncProxyDecorator,
    PureAsyncDecorator,
    is_async_fn,
    is_pure_async_fn,
)
from asynq_core.decorators import asynq as _asynq_decorator
from asynq_core.futures import ConstFuture, ErrorFuture, FutureBase
from asynq_core.lowlevel import callable_name

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


class _CallCheck:
    """The signature check of an autospecced asynq function: unittest.mock sees
    only the decorator's ``(*args, **kwargs)``, so the function it decorates is
    checked here. ``bound`` holds what a call binds first (the class of a
    classmethod, the instance of a bound method)."""

    __slots__ = ("name", "signature", "bound")

    def __init__(self, name: str, signature: inspect.Signature, bound: tuple[Any, ...] = ()):
        self.name = name
        self.signature = signature
        self.bound = bound

    def bound_to(self, instance: Any) -> _CallCheck:
        return _CallCheck(self.name, self.signature, (instance,))

    @property
    def shown_signature(self) -> inspect.Signature:
        """The signature callers see: without the parameters ``bound`` fills."""
        parameters = list(self.signature.parameters.values())
        return self.signature.replace(parameters=parameters[len(self.bound) :])

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not patch.STRICT_AUTOSPEC:  # asynq 1.x records any call
            return
        try:
            self.signature.bind(*self.bound, *args, **kwargs)
        except TypeError as error:
            shown = [debug.repr(arg) for arg in args]
            shown += [f"{name}={debug.repr(value)}" for name, value in kwargs.items()]
            parameters = self.signature.replace(return_annotation=inspect.Signature.empty)
            raise TypeError(
                f"{self.name}({', '.join(shown)}): {error} (the signature is {parameters})"
            ) from None


# The mock a _BoundAutospec is calling, after checking the call itself with
# the instance bound: the mock's own check (without it) lets that call through.
_prechecked: contextvars.ContextVar[Any] = contextvars.ContextVar("asynq_mock_prechecked")


class AsynqCaller:
    """``.asynq`` of a patched object: calls the object now and returns a computed future.

    The future holds what the call returned, or the exception it raised (which
    the scheduler then raises at the ``yield`` that waits for it). With a
    ``check`` (autospec), a call it refuses raises at once, as a real asynq
    function's ``.asynq`` refuses wrong arguments when it is called.
    """

    __slots__ = ("_target", "_check")

    _attribute = "asynq"

    def __init__(self, target: Callable[..., Any], check: _CallCheck | None = None) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_check", check)

    def __call__(self, *args: Any, **kwargs: Any) -> FutureBase[Any]:
        if self._check is not None:
            self._check(args, kwargs)
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
    """Data descriptor put on a mock's own class: gives the mock's caller, or
    what replaced it (asynq 1.x lets a test assign ``mock.asynq = ...``)."""

    __slots__ = ("name", "caller", "replacement")

    def __init__(self, name: str, caller: AsynqCaller) -> None:
        self.name = name
        self.caller = caller
        self.replacement: Any = _NOT_REPLACED

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        replacement = self.replacement
        return self.caller if replacement is _NOT_REPLACED else replacement

    def __set__(self, instance: Any, value: Any) -> None:
        # The mock's class is its own: this replaces .asynq of this mock only.
        self.replacement = value


_NOT_REPLACED: Any = object()


def _is_mock(obj: Any) -> bool:
    # type(), not isinstance(): a mock with a spec claims to be of the spec's class.
    return issubclass(type(obj), NonCallableMock)


def _make_mock_async(
    mock_obj: NonCallableMock, check: _CallCheck | None = None, binds: bool = False
) -> None:
    """Gives a callable mock ``.asynq``/``.asyncio`` and marks its own class async;
    with a ``check``, every call is checked; if it ``binds`` (a method), calls
    through an instance are checked with the instance (``_BoundAutospec``)."""
    cls = type(mock_obj)
    if "_asynq_kind" in cls.__dict__ or not callable(mock_obj):
        return
    # unittest.mock creates a class per mock instance, so this changes this mock only.
    cls._asynq_kind = "async"
    cls.asynq = _CallerSlot("asynq", AsynqCaller(mock_obj, check))
    cls.asyncio = _CallerSlot("asyncio", AsyncioCaller(mock_obj, check))
    if check is None:
        return

    def checked(mock_self: Any, /, *args: Any, **kwargs: Any) -> None:
        if _prechecked.get(None) is mock_self:
            _prechecked.set(None)  # that call only, not those its side_effect makes
            return
        check(args, kwargs)

    # The hook unittest.mock's own autospec uses: called before a call is recorded.
    cls._mock_check_sig = checked
    cls.__signature__ = check.shown_signature
    if binds:

        def bind(mock_self: Any, instance: Any, owner: type | None = None) -> Any:
            return mock_self if instance is None else _BoundAutospec(mock_self, instance, check)

        cls.__get__ = bind


class _BoundAutospec:
    """An autospecced asynq method reached through an instance: a call is checked
    with the instance bound, and recorded on the mock without it (as asynq 1.x's
    patch recorded calls of a mocked method). Other attributes are the mock's."""

    __slots__ = ("_mock", "_instance", "_check", "asynq", "asyncio")

    _asynq_kind = "async"

    def __init__(self, mock_obj: Any, instance: Any, check: _CallCheck) -> None:
        bound_check = check.bound_to(instance)
        object.__setattr__(self, "_mock", mock_obj)
        object.__setattr__(self, "_instance", instance)
        object.__setattr__(self, "_check", bound_check)
        object.__setattr__(self, "asynq", AsynqCaller(self, bound_check))
        object.__setattr__(self, "asyncio", AsyncioCaller(self, bound_check))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._check(args, kwargs)
        token = _prechecked.set(self._mock)
        try:
            return self._mock(*args, **kwargs)
        finally:
            _prechecked.reset(token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mock, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._mock, name, value)

    def __repr__(self) -> str:
        return f"<bound {self._mock!r} of {debug.repr(self._instance)}>"


def _autospec_check(spec: Any, target: Any) -> tuple[_CallCheck, bool] | None:
    """For an asynq function ``spec`` autospecced as an attribute of ``target``:
    its call check, and whether it binds instances (a method of a class)."""
    binds = False
    bound: tuple[Any, ...] = ()
    if isinstance(spec, AsyncDecoratorBinder):
        decorator, bound = spec.decorator, (spec.instance,)
    elif isinstance(spec, (PureAsyncDecorator, AsyncProxyDecorator)):
        decorator = spec
        if decorator.type is classmethod:
            bound = (target,)
        elif decorator.type is None and isinstance(target, type):
            binds = True
    else:
        return None
    fn = decorator.fn
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without one: nothing to check against
        return None
    try:  # annotations as objects, not the strings of `from __future__ import annotations`
        signature = inspect.signature(fn, eval_str=True)
    except Exception:  # a name only imported for type checking: the strings will do
        pass
    name = f"{getattr(fn, '__module__', None) or '?'}.{callable_name(fn)}"
    return _CallCheck(name, signature, bound), binds


def _make_created_async(
    created: Any, autospec: tuple[_CallCheck, bool] | None = None
) -> None:
    """Makes what a patch created (a mock, or the function autospec builds) answer ``.asynq``."""
    if _is_mock(created):
        if autospec is None:
            _make_mock_async(created)
        else:
            _make_mock_async(created, *autospec)
    elif isinstance(created, types.FunctionType) and "asynq" not in created.__dict__:
        # An autospecced function: its type cannot be marked, but it can carry
        # the callers (the call still goes through its signature check).
        created.asynq = AsynqCaller(created)  # type: ignore[attr-defined]
        created.asyncio = AsyncioCaller(created)  # type: ignore[attr-defined]


class _AutospecMethod:
    """What an autospecced plain method is installed as. The function autospec
    makes binds, but its ``.asynq`` is an attribute of the function, which a
    bound method hands out unbound; through an instance this gives the bound
    method with callers that bind too. Through the class, the function."""

    __slots__ = ("function",)

    def __init__(self, function: types.FunctionType) -> None:
        self.function = function

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.function
        return _BoundFunction(self.function.__get__(instance, owner))


class _BoundFunction:
    """An autospecced plain method bound to an instance: calls and attributes are
    the bound method's; ``.asynq``/``.asyncio`` call it too."""

    __slots__ = ("_method", "asynq", "asyncio")

    def __init__(self, method: types.MethodType) -> None:
        self._method = method
        self.asynq = AsynqCaller(method)
        self.asyncio = AsyncioCaller(method)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._method(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._method, name)

    def __repr__(self) -> str:
        return repr(self._method)


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
            autospec = self._autospec_check()
            plain_method = self._is_plain_method()
            installed = super().__enter__()
            created = installed if self.attribute_name is None else installed[self.attribute_name]
            _make_created_async(created, autospec)
            if plain_method and isinstance(created, types.FunctionType):
                setattr(self.getter(), self.attribute, _AutospecMethod(created))
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

    def _is_plain_method(self) -> bool:
        """True if an autospec replaces a plain function of a class (a method)."""
        if self.autospec is not True:
            return False
        try:
            original, local = self.get_original()
            target = self.getter()
        except (AttributeError, ImportError):  # unittest.mock reports it when entering
            return False
        return local and isinstance(target, type) and isinstance(original, types.FunctionType)

    def _autospec_check(self) -> tuple[_CallCheck, bool] | None:
        """The call check of an autospecced asynq function (read before the patch
        replaces it), or None."""
        if self.autospec is None or self.autospec is False:
            return None
        try:
            original, _ = self.get_original()
            target = self.getter()
        except (AttributeError, ImportError):  # unittest.mock reports it when entering
            return None
        return _autospec_check(original if self.autospec is True else self.autospec, target)

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


def _refusing_getter(message: str) -> Callable[[], Any]:
    """The getter of a patch that cannot be applied: it raises when the patch starts."""

    def refuse() -> Any:
        raise TypeError(message)

    return refuse


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
        #: When true, a call of an autospecced asynq function that the function
        #: under the decorator would refuse raises TypeError, and is not
        #: recorded. Off by default: asynq 1.x's autospec of an asynq function
        #: sees only the decorator's ``(*args, **kwargs)`` and records any call.
        self.STRICT_AUTOSPEC = False

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
        ``.asynq(...)`` and ``.asyncio(...)``. ``mocksignature=`` (asynq 1.x's
        Python 2 argument) is accepted and ignored, as 1.x does on Python 3.
        """
        kwargs.pop("mocksignature", None)
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
        ``unittest.mock.patch.object`` (``mocksignature=`` is ignored, as in
        asynq 1.x). A ``target`` that is a str, or an ``attribute`` that is
        not, fails when the patch starts, where asynq 1.x fails (so a test
        decorated with it, and skipped, is still collected)."""
        kwargs.pop("mocksignature", None)
        if type(target) is str:
            getter = _refusing_getter(
                f"patch.object(): {target!r} must be the actual object to be patched, "
                f"not a str (to patch by name use patch({target + '.' + str(attribute)!r}))"
            )
        elif not isinstance(attribute, str):
            getter = _refusing_getter(
                f"patch.object(): the attribute name must be a str, got {attribute!r}"
            )
        else:

            def getter() -> Any:
                return target

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
