"""One-line loaders: a bulk function becomes a batched async function.

``@batched()`` turns ``f(keys: list[K]) -> dict[K, V] | list[V]`` into a
loader: ``yield f.asynq(key)`` inside a task, ``f(key)`` synchronously,
``await f.asyncio(key)`` under asyncio. The keys requested by the tasks of
one scheduling round reach ``f`` in one call; under asyncio, those requested
by every coroutine of the loop until the loop's asynq domain is still (see
``asynq_core.lowlevel``): ``.asyncio(key)`` in a running loop hands
back an asyncio future of the key's pending item, no task involved.

Invariants:
- A batch holds each key once: the requests of one key share one item (and
  the pieces of a batch split by ``max_size`` share that index, so a key is
  sent once per flush). Batches are BatchBase subclasses: splitting,
  concurrent fetches and asyncio flushes are BatchBase's.
- A result is checked before any request gets a value: a dict may lack keys
  (the request of a missing key gets ``default`` or a ``MissingKeyError``),
  a list must hold one value per key, in order; anything else fails every
  request of that batch with an error naming the loader. An exception raised
  by ``f`` fails only the requests of its batch.
- The active batch is per thread, and per instance for methods (freed with
  the instance).
- The cache (``cache=True``) belongs to one *run*: the open request
  (``asynq_core.request()``), else one outermost call (a synchronous call,
  or an ``.asyncio()`` call, with the tasks it runs). Outside both there is
  no run and nothing is cached (a round still asks for each key once). A
  run's cache is freed with its request or root task, so a new run never
  sees values an older one loaded. Failed loads are not cached.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from asyncio import get_running_loop as _get_running_loop
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, overload

from asynq_core.async_task import AsyncTask
from asynq_core.decorators import is_async_fn
from asynq_core.futures import ConstFuture, FutureBase
from asynq_core.lowlevel import (
    await_future,
    callable_name,
    check_sync_call,
    current_run,
    is_asyncio_mode,
    run_task,
)

from .batching import _OPEN, BatchBase, BatchingError, BatchItemBase, _check_size

__all__ = ["batched", "BatchedLoader", "BoundLoader", "MissingKeyError"]

K = TypeVar("K")
V = TypeVar("V")

_NO_DEFAULT: Any = object()
_ALL_KEYS: Any = object()

BulkResult = Mapping[K, V] | Sequence[V]


class MissingKeyError(KeyError):
    """The bulk function of a loader returned no value for ``key`` (``missing="error"``)."""

    def __init__(self, loader_name: str, key: Any) -> None:
        super().__init__(loader_name, key)
        self.loader_name = loader_name
        self.key = key

    def __str__(self) -> str:
        return f"{self.loader_name}: the bulk function returned no value for the key {self.key!r}"


class _LoaderItem(BatchItemBase[Any]):
    """The request of one key (``key``, set by the loader right after creating
    it: one call less per lookup than an __init__ of its own)."""

    key: Any


class _ActiveBatch(threading.local):
    batch: _LoaderBatch | None = None


class _Owner:
    """What a loader keeps for one instance (or for itself, as a plain function)."""

    __slots__ = ("active", "caches")

    def __init__(self) -> None:
        self.active = _ActiveBatch()
        self.caches: weakref.WeakKeyDictionary[Any, dict[Any, FutureBase[Any]]] = (
            weakref.WeakKeyDictionary()
        )


class _LoaderBatch(BatchBase):
    """The keys requested from one loader (for one instance) in one round."""

    def __init__(
        self, loader: BatchedLoader[Any, Any], owner: _Owner, instance: Any, by_key: dict[Any, Any]
    ) -> None:
        super().__init__()
        self.loader = loader
        self.owner = owner
        self.instance = instance
        # key -> its item, shared by the pieces of a split batch.
        self.by_key = by_key
        self.max_batch_size = loader.max_size
        self.max_concurrency = loader.max_concurrency
        self.concurrent = loader.concurrent
        self.fetch_in_thread = loader.fetch_in_thread

    def _try_switch_active_batch(self) -> None:
        active = self.owner.active
        if active.batch is not self:
            return
        if self._status == _OPEN:
            # It is full: the next batch, created now, is its next piece.
            active.batch = type(self)(self.loader, self.owner, self.instance, self.by_key)
        else:
            # Flushing: the next request starts a batch (none is kept meanwhile,
            # so that an idle loader holds no reference to its instance).
            active.batch = None

    def _flush(self) -> None:
        keys = [item.key for item in self.items]  # type: ignore[attr-defined]
        result = self.loader._call_bulk(self.instance, keys)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(
                f"{self.loader.name} returned an awaitable ({type(result).__name__}); a bulk "
                "function that awaits must be an `async def` function"
            )
        self._deliver(keys, result)

    def _deliver(self, keys: list[Any], result: Any) -> None:
        loader = self.loader
        items = self.items
        if isinstance(result, Mapping):
            use_default = loader.missing == "default"
            for item, key in zip(items, keys, strict=True):
                if key in result:
                    item.set_value(result[key])
                elif use_default:
                    item.set_value(loader.default)
                else:
                    item.set_error(MissingKeyError(loader.name, key))
        elif isinstance(result, Sequence) and not isinstance(result, (str, bytes, bytearray)):
            if len(result) != len(keys):
                raise ValueError(
                    f"{loader.name} returned {len(result)} values for {len(keys)} keys: a "
                    "list must hold one value per key, in the order of the keys"
                )
            for item, value in zip(items, result, strict=True):
                item.set_value(value)
        else:
            raise TypeError(
                f"{loader.name} returned {_short_repr(result)} of type {type(result).__name__}: "
                "a bulk function returns a dict {key: value} or a list with one value per key"
            )

    @property
    def trace_name(self) -> str:
        """How asynq_core.tracing names this batch: the loader's name."""
        return self.loader.name

    def _replay_key(self, item: Any) -> Any:
        """Record and replay by the loader's keys (see BatchBase)."""
        return item.key

    def __repr__(self) -> str:
        return f"<batch of {self.loader.name} ({len(self.items)} keys, {self._status})>"


class _AsyncLoaderBatch(_LoaderBatch):
    """A batch of a loader whose bulk function is ``async def``: asyncio only."""

    def _flush(self) -> None:
        raise RuntimeError(
            f"{self.loader.name} has an async bulk function, which only an event loop can "
            "run: use it under asyncio (await loader.asyncio(key), or yield "
            "loader.asynq(key) in a task started with .asyncio()), not in a synchronous call"
        )

    async def _flush_async(self) -> None:
        keys = [item.key for item in self.items]  # type: ignore[attr-defined]
        result = await self.loader._call_bulk(self.instance, keys)
        self._deliver(keys, result)


class BatchedLoader(Generic[K, V]):
    """A bulk function turned into a batched async function by ``@batched()``.

    ``loader.asynq(key)`` returns a future of the key's value (yield it in a
    task), ``loader(key)`` is that value (a synchronous call),
    ``loader.asyncio(key)`` an awaitable of it (in a running loop an asyncio
    future, which ``await``, ``asyncio.gather`` and ``asyncio.ensure_future``
    take; outside one, a coroutine). On a method, the same calls
    work on the instance (``obj.loader.asynq(key)``), one batch per instance.
    With ``cache=True``, ``prime(key, value)`` and ``clear(key)`` act on the
    current run's cache (see the module docstring); outside a run both raise
    BatchingError.
    """

    _asynq_kind = "async"
    # Copied from the bulk function (functools.update_wrapper).
    __name__: str
    __qualname__: str

    def __init__(
        self,
        fn: Any,
        *,
        max_size: int | None,
        missing: Literal["error", "default"],
        default: Any,
        cache: bool,
        concurrent: bool,
        fetch_in_thread: bool,
        max_concurrency: int | None = None,
    ) -> None:
        self.type: type | None = None
        if isinstance(fn, (classmethod, staticmethod)):
            self.type = type(fn)
            fn = fn.__func__
        if not callable(fn):
            raise TypeError(f"@batched() needs a function, got {fn!r}")
        if is_async_fn(fn) or isinstance(fn, (BatchedLoader, BoundLoader)):
            raise TypeError(
                f"@batched() applied to {callable_name(fn)}, which is already an asynq function: "
                "decorate the plain bulk function"
            )
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = f"@batched() {callable_name(fn)}"
        self.is_method = _is_method(fn, self.name)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.max_size = max_size
        self.missing = missing
        self.default = default
        self.cache = cache
        self.concurrent = concurrent
        self.fetch_in_thread = fetch_in_thread
        self.max_concurrency = max_concurrency
        self._batch_cls = _AsyncLoaderBatch if self.is_async else _LoaderBatch
        self._function_owner = _Owner()
        self._owners: dict[int, _Owner] = {}
        self._owners_lock = threading.Lock()

    # -- the calls -----------------------------------------------------------

    def asynq(self, key: K) -> FutureBase[V]:
        """A future of the value of ``key``; it joins the batch of this round."""
        self._check_not_method("asynq")
        return self._load(None, key)

    def __call__(self, key: K) -> V:
        """The value of ``key`` (a synchronous call: flushes the batch now)."""
        self._check_not_method("call")
        return self._call(None, key)

    def asyncio(self, key: K) -> Awaitable[V]:
        """An awaitable of the value of ``key``, batched with every load of the loop."""
        if self.is_method:
            self._check_not_method("asyncio")
        # _asyncio(None, key), inlined: this runs once per load of a resolver.
        try:
            loop = _get_running_loop()
        except RuntimeError:
            return self._asyncio(None, key)
        return await_future(self._load(None, key), loop)

    def prime(self, key: K, value: V) -> None:
        """Puts ``value`` in the current run's cache: loading ``key`` returns it
        without a fetch. Needs ``cache=True`` and a run (inside a task)."""
        self._check_not_method("prime")
        self._prime(None, key, value)

    def clear(self, key: Any = _ALL_KEYS) -> None:
        """Forgets ``key`` (every key if none is given) in the current run's cache.
        Needs ``cache=True`` and a run (inside a task)."""
        self._check_not_method("clear")
        self._clear(None, key)

    # -- binding, naming, pickling --------------------------------------------

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> BatchedLoader[K, V]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> BoundLoader[K, V]: ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if not self.is_method:
            return self
        if self.type is classmethod:
            return BoundLoader(self, owner if owner is not None else type(instance))
        if instance is None:
            return self
        return BoundLoader(self, instance)

    def __reduce__(self) -> str:
        return self.__qualname__

    def __repr__(self) -> str:
        return f"<{self.name}>"

    # -- the work, for an instance (None for a plain function) ----------------

    def _check_not_method(self, call: str) -> None:
        if self.is_method:
            raise TypeError(
                f"{self.name} is a method loader: call {call} on an instance or a class "
                f"(obj.{self.__name__}...), not on the function"
            )

    def _load(self, instance: Any, key: Any) -> FutureBase[Any]:
        owner = self._function_owner if instance is None else self._owner(instance)
        cache = self._run_cache(owner, create=True) if self.cache else None
        if cache is not None:
            _check_key(self.name, key)
            cached = cache.get(key)
            if cached is not None and (not cached._computed or cached._error is None):
                return cached
        active = owner.active
        batch = active.batch
        if batch is None or batch._status != _OPEN:
            batch = active.batch = self._batch_cls(self, owner, instance, {})
        try:
            item = batch.by_key.get(key)
        except TypeError:
            _check_key(self.name, key)  # names the unhashable key
            raise
        if item is None:
            # The new item may fill the batch: the next key then goes to its next piece.
            item = batch.by_key[key] = _LoaderItem(batch)
            item.key = key
        if cache is not None:
            cache[key] = item
        return item

    def _call(self, instance: Any, key: Any) -> Any:
        if is_asyncio_mode():
            check_sync_call(self, allow_sync_call=False)
        return self._load(instance, key).value()

    def _asyncio(self, instance: Any, key: Any) -> Awaitable[Any]:
        try:
            loop = _get_running_loop()
        except RuntimeError:
            # No loop yet (``asyncio.run(loader.asyncio(key))``): a coroutine,
            # which requests the key once it runs on the loop.
            task = AsyncTask(_load_in_task(self, instance, key), self.fn, (key,), {})
            return run_task(task)
        return await_future(self._load(instance, key), loop)

    def _prime(self, instance: Any, key: Any, value: Any) -> None:
        _check_key(self.name, key)
        self._cache_of_run("prime", instance)[key] = ConstFuture(value)

    def _clear(self, instance: Any, key: Any) -> None:
        cache = self._cache_of_run("clear", instance)
        if key is _ALL_KEYS:
            cache.clear()
        else:
            _check_key(self.name, key)
            cache.pop(key, None)

    def _call_bulk(self, instance: Any, keys: list[Any]) -> Any:
        if instance is None:
            return self.fn(keys)
        return self.fn(instance, keys)

    def _cache_of_run(self, method: str, instance: Any) -> dict[Any, FutureBase[Any]]:
        """The current run's cache, for ``prime``/``clear``; BatchingError if there is none."""
        if not self.cache:
            raise BatchingError(
                f"{self.name}.{method}(): the loader has no cache; decorate with "
                "@batched(cache=True)"
            )
        cache = self._run_cache(self._owner(instance), create=True)
        if cache is None:
            raise BatchingError(
                f"{self.name}.{method}() outside a scheduler run: the cache lives for one "
                "run, so call it inside an asynq task or a coroutine started with .asyncio()"
            )
        return cache

    def _owner(self, instance: Any) -> _Owner:
        if instance is None:
            return self._function_owner
        owner = self._owners.get(id(instance))
        if owner is not None:
            return owner
        with self._owners_lock:
            owner = self._owners.get(id(instance))
            if owner is None:
                try:
                    weakref.finalize(instance, self._owners.pop, id(instance), None)
                except TypeError:
                    raise TypeError(
                        f"{self.name}: keeps a batch per instance and needs weak references "
                        f"to it, which {type(instance).__name__} objects do not support (add "
                        "'__weakref__' to its __slots__)"
                    ) from None
                owner = self._owners[id(instance)] = _Owner()
        return owner

    @staticmethod
    def _run_cache(owner: _Owner, create: bool) -> dict[Any, FutureBase[Any]] | None:
        run = current_run()
        if run is None:
            return None
        cache = owner.caches.get(run)
        if cache is None and create:
            cache = owner.caches[run] = {}
        return cache


class BoundLoader(Generic[K, V]):
    """A method loader bound to an instance (or, for a classmethod, a class)."""

    __slots__ = ("loader", "instance")

    _asynq_kind = "async"

    def __init__(self, loader: BatchedLoader[K, V], instance: Any) -> None:
        self.loader = loader
        self.instance = instance

    def asynq(self, key: K) -> FutureBase[V]:
        """A future of the value of ``key``; it joins this instance's batch."""
        return self.loader._load(self.instance, key)

    def __call__(self, key: K) -> V:
        """The value of ``key`` (a synchronous call: flushes the batch now)."""
        return self.loader._call(self.instance, key)

    def asyncio(self, key: K) -> Awaitable[V]:
        """An awaitable of the value of ``key`` (see ``BatchedLoader``)."""
        return self.loader._asyncio(self.instance, key)

    def prime(self, key: K, value: V) -> None:
        """Puts ``value`` in the current run's cache of this instance."""
        self.loader._prime(self.instance, key, value)

    def clear(self, key: Any = _ALL_KEYS) -> None:
        """Forgets ``key`` (every key if none is given) in this instance's run cache."""
        self.loader._clear(self.instance, key)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is BoundLoader
            and other.loader is self.loader
            and other.instance is self.instance
        )

    def __hash__(self) -> int:
        return hash((id(self.loader), id(self.instance)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (getattr, (self.instance, self.loader.__name__))

    def __repr__(self) -> str:
        return f"<bound {self.loader.name} of {self.instance!r}>"


class _Batched:
    """What ``batched(...)`` returns: applied to the bulk function, makes the loader."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    @overload
    def __call__(
        self, fn: Callable[[list[K]], Awaitable[BulkResult[K, V]]]
    ) -> BatchedLoader[K, V]: ...

    @overload
    def __call__(self, fn: Callable[[list[K]], BulkResult[K, V]]) -> BatchedLoader[K, V]: ...

    @overload
    def __call__(
        self, fn: Callable[[Any, list[K]], Awaitable[BulkResult[K, V]]]
    ) -> BatchedLoader[K, V]: ...

    @overload
    def __call__(self, fn: Callable[[Any, list[K]], BulkResult[K, V]]) -> BatchedLoader[K, V]: ...

    @overload
    def __call__(
        self, fn: classmethod[Any, Any, Any] | staticmethod[Any, Any]
    ) -> BatchedLoader[Any, Any]: ...

    def __call__(self, fn: Any) -> BatchedLoader[Any, Any]:
        return BatchedLoader(fn, **self.options)


def batched(
    max_size: int | None = None,
    *,
    missing: Literal["error", "default"] | None = None,
    default: Any = _NO_DEFAULT,
    cache: bool = False,
    concurrent: bool = False,
    fetch_in_thread: bool = True,
    max_concurrency: int | None = None,
) -> _Batched:
    """Makes a bulk function ``f(keys) -> dict | list`` a batched async function.

    - ``max_size``: at most that many keys per call of ``f`` (None: no limit);
      a bigger round is split, and all its calls are made in the same flush.
    - ``missing``: what a key absent from a returned dict gives: ``"error"``
      (a ``MissingKeyError``, a KeyError naming the loader and the key) or
      ``"default"`` (``default``). Giving ``default`` alone means ``"default"``.
    - ``cache``: keep the values loaded in a scheduler run (see the module
      docstring), with ``prime(key, value)`` and ``clear(key)``.
    - ``concurrent``: the flush may run in a worker thread at the same time as
      other concurrent batches' (one round costs the slowest, not the sum),
      and the calls of a round split by ``max_size`` run at the same time:
      at most ``max_concurrency`` of them at once, if given (an int >= 1).
    - ``fetch_in_thread=False``: ``f`` must run on the scheduler's thread (its
      client is tied to it, e.g. sqlite3); under asyncio it then blocks the loop.
      It excludes ``concurrent=True``. The three options are bools.

    ``f`` may be a method ``f(self, keys)`` (one batch per instance, decorator
    outside ``@classmethod``/``@staticmethod``), and ``async def`` for asyncio
    clients: such a loader is used under asyncio only (a synchronous flush of
    it fails its requests with a RuntimeError saying so).
    """
    if callable(max_size) and not isinstance(max_size, int):
        raise TypeError(
            f"batched() got the function {callable_name(max_size)} as its first argument: write "
            "@batched() with parentheses"
        )
    _check_size(f"batched(max_size={max_size!r}): max_size", max_size, optional=True)
    _check_size(
        f"batched(max_concurrency={max_concurrency!r}): max_concurrency",
        max_concurrency,
        optional=True,
    )
    if missing is None:
        missing = "error" if default is _NO_DEFAULT else "default"
    if missing not in ("error", "default"):
        raise ValueError(f"batched(missing={missing!r}): missing must be 'error' or 'default'")
    if missing == "error" and default is not _NO_DEFAULT:
        raise ValueError(
            f"batched(missing='error', default={default!r}): a default is used only with "
            "missing='default'"
        )
    flags = {"cache": cache, "concurrent": concurrent, "fetch_in_thread": fetch_in_thread}
    for option, flag in flags.items():
        if not isinstance(flag, bool):
            raise TypeError(f"batched({option}={flag!r}): {option} must be True or False")
    if max_concurrency is not None and not concurrent:
        raise ValueError(
            f"batched(max_concurrency={max_concurrency!r}) needs concurrent=True: the calls "
            "of a round fetch together only then"
        )
    if concurrent and not fetch_in_thread:
        raise ValueError(
            "batched(concurrent=True, fetch_in_thread=False): a concurrent flush fetches in a "
            "worker thread, which fetch_in_thread=False forbids; choose one"
        )
    return _Batched(
        {
            "max_size": max_size,
            "missing": missing,
            "default": None if default is _NO_DEFAULT else default,
            "max_concurrency": max_concurrency,
            **flags,
        }
    )


def _load_in_task(
    loader: BatchedLoader[Any, Any], instance: Any, key: Any
) -> Generator[Any, Any, Any]:
    return (yield loader._load(instance, key))


def _check_key(name: str, key: Any) -> None:
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"{name}: keys must be hashable, got {_short_repr(key)}") from None


def _is_method(fn: Any, name: str) -> bool:
    """True for ``f(self, keys)``, False for ``f(keys)``; anything else is refused."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): assume f(keys)
        return False
    required = [
        parameter
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        and parameter.default is parameter.empty
    ]
    if len(required) not in (1, 2):
        raise TypeError(
            f"{name}: a bulk function takes the list of keys (f(keys), or f(self, keys) "
            f"for a method), got the signature {inspect.signature(fn)}"
        )
    return len(required) == 2


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
