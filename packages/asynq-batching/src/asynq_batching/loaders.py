"""One-line loaders: a bulk function becomes a batched async function.

``@batched()`` turns ``f(keys: list[K]) -> dict[K, V] | list[V]`` into a
loader: ``yield f.asynq(key)`` inside a task, ``f(key)`` synchronously,
``await f.asyncio(key)`` under asyncio. The keys requested by the tasks of
one scheduling round reach ``f`` in one call; under asyncio, those requested
by every coroutine of the loop until the loop's asynq domain takes the batch
(when DataLoader would, or later while coroutines still run; see
``asynq_core.batch_clock``): ``.asyncio(key)`` in a running loop hands
back an asyncio future of the key's pending item, no task involved.
``f.load_many`` asks for many keys at once and gives each key its value or
its exception, in the order of the keys (DataLoader's ``loadMany``).

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
  the instance). ``.asyncio(key)`` keeps, besides, the batch its last load
  joined on a loop, and joins it again while it is open and that loop runs:
  the active batch of the loop's thread (a loop runs in one thread at a
  time; one that moved to another thread meanwhile may still fill it).
- Under asyncio, a batch lets go of its items once the round that flushed it
  is over (``release``): its keys and values live no longer than the
  callers that hold them.
- The cache (``cache=True``) belongs to one *run*: the open request
  (``asynq_core.request()``), else one outermost call (a synchronous call,
  or an ``.asyncio()`` call, with the tasks it runs). Outside both there is
  no run and nothing is cached (a round still asks for each key once). A
  run's cache is freed with its request or root task, so a new run never
  sees values an older one loaded. Failed loads are not cached.
- A cache *mapping* (``cache=`` any MutableMapping, e.g. a cachetools
  LRUCache or TTLCache) is the user's: shared by every run, request and
  thread, it holds values (never futures), read when a key is requested and
  written when its fetch delivers, under a lock of the loader. A value the
  mapping no longer holds (evicted, expired) is fetched again. A ``prime`` or
  ``clear`` made while a fetch is in flight is not undone by that fetch: its
  values are then not written for the keys concerned.
- With ``key_fn``, requests are deduplicated and cached by ``key_fn(key)``
  (the *cache key*), and the bulk function gets the first key requested for
  each cache key. Loaders with a key function or a cache mapping are
  ``_CustomLoader``s (``BatchedLoader.__new__`` makes them so): plain loaders
  keep a lookup path that knows of neither.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from asyncio import get_running_loop as _get_running_loop
from collections.abc import (
    Awaitable,
    Callable,
    Generator,
    Hashable,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from typing import Any, Generic, Literal, TypeVar, cast, overload

from asynq_core.async_task import AsyncTask
from asynq_core.decorators import asynq, is_async_fn
from asynq_core.futures import ConstFuture, FutureBase, FutureIsAlreadyComputed
from asynq_core.lowlevel import (
    await_deferred,
    await_future,
    callable_name,
    check_sync_call,
    current_run,
    is_asyncio_mode,
    run_task,
    short_repr,
)

from .batching import _OPEN, BatchBase, BatchingError, BatchItemBase, _check_size

__all__ = ["batched", "BatchedLoader", "BoundLoader", "LoadMany", "MissingKeyError"]

K = TypeVar("K")
V = TypeVar("V")

_new_object = object.__new__
_NO_DEFAULT: Any = object()
_ALL_KEYS: Any = object()
_ABSENT: Any = object()

BulkResult = Mapping[K, V] | Sequence[V]


class MissingKeyError(KeyError):
    """No value for ``key``: the bulk function of a loader returned none for it
    (``missing="error"``), or a store does not hold it (``get_many_settled``).

    ``loader_name`` names the loader or the store call, ``reason`` says why.
    """

    def __init__(
        self,
        loader_name: str,
        key: Any,
        reason: str = "the bulk function returned no value for the key",
    ) -> None:
        super().__init__(loader_name, key)
        self.loader_name = loader_name
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.loader_name}: {self.reason} {short_repr(self.key)}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.loader_name, self.key, self.reason))


class _LoaderItem(BatchItemBase[Any]):
    """The request of one key (``key``, set by the loader right after creating
    it: one call less per lookup than an __init__ of its own; a custom
    loader's also gets ``cache_key``)."""

    __slots__ = ("key", "cache_key")

    key: Any
    cache_key: Any


class _ActiveBatch(threading.local):
    batch: _LoaderBatch | None = None


class _Owner:
    """What a loader keeps for one instance (or for itself, as a plain function)."""

    __slots__ = ("active", "caches", "loop", "loop_batch")

    def __init__(self) -> None:
        self.active = _ActiveBatch()
        # The batch the last .asyncio() load joined, and its loop: found
        # again without reading the thread-local (see the module docstring);
        # forgotten when the batch stops being the active one (its flush starts).
        self.loop: Any = None
        self.loop_batch: _LoaderBatch | None = None
        self.caches: weakref.WeakKeyDictionary[Any, dict[Any, FutureBase[Any]]] = (
            weakref.WeakKeyDictionary()
        )


class _LoaderBatch(BatchBase):
    """The keys requested from one loader (for one instance) in one round."""

    _all_set = False  # _deliver set every item (see _settle_unset_items)

    def __init__(
        self, loader: BatchedLoader[Any, Any], owner: _Owner, instance: Any, by_key: dict[Any, Any]
    ) -> None:
        super().__init__()
        self.loader = loader
        self.owner = owner
        self.instance = instance
        # key -> its item, shared by the pieces of a split batch.
        self.by_key = by_key
        # The successive batches of one loader (for one instance): DataLoader's queue.
        self.queue = owner
        self.max_batch_size = loader.max_size
        self.max_concurrency = loader.max_concurrency
        self.concurrent = loader.concurrent
        self.fetch_in_thread = loader.fetch_in_thread

    def _try_switch_active_batch(self) -> None:
        owner = self.owner
        if owner.loop_batch is self:
            owner.loop = owner.loop_batch = None
        active = owner.active
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
        is_list = type(result) is list  # the common case: no ABC checks
        if not is_list and isinstance(result, Mapping):
            use_default = loader.missing == "default"
            for item, key in zip(items, keys, strict=True):
                if key in result:
                    item.set_value(result[key])
                elif use_default:
                    item.set_value(loader.default)
                else:
                    item.set_error(MissingKeyError(loader.name, key))
        elif is_list or (
            isinstance(result, Sequence) and not isinstance(result, (str, bytes, bytearray))
        ):
            if len(result) != len(keys):
                raise _wrong_length(loader, result, keys)
            if self._captured is not None:  # fetching off-thread: recorded
                for item, value in zip(items, result, strict=True):
                    item.set_value(value)
                return
            for item, value in zip(items, result, strict=True):
                # BatchItemBase.set_value, inlined (not capturing): once per key.
                if item._computed:
                    raise FutureIsAlreadyComputed(item)
                item._value = value
                item._computed = True
                if item._waiters is not None or item._on_computed is not None:
                    item._notify()
            self._all_set = True
        else:
            raise _not_a_result(loader, result)

    def _settle_unset_items(self, error: BaseException | None) -> BaseException | None:
        # Nothing to look for once _deliver set every item itself.
        if self._all_set:
            return None
        return super()._settle_unset_items(error)

    def release(self) -> None:
        """The round that flushed this batch is over (core's FlushGroup; the
        asyncio domain calls it): the batch lets go of its items, so that they
        are freed with the values and keys they hold as soon as their callers
        drop them, not later by the garbage collector (each item refers to
        its batch)."""
        self.items = []
        for piece in self._pieces or ():
            piece.items = []
        self.by_key.clear()  # the pieces' (a batch's next one starts its own)

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


class _CustomLoaderBatch(_LoaderBatch):
    """A batch of a loader with a key function or a cache mapping: results are
    found by cache key, and written to the mapping as they arrive."""

    # The cache keys primed or cleared while this batch fetches (_ALL_KEYS: all
    # of them): its values for them are not written to the cache mapping.
    stale: set[Any] | None = None

    def _replay_key(self, item: Any) -> Any:
        """Record and replay by cache key: the key as the batch knows it (see BatchBase)."""
        return item.cache_key

    def _flush(self) -> None:
        loader = cast("_CustomLoader[Any, Any]", self.loader)
        loader._fetch_started(self)
        try:
            super()._flush()
        finally:
            loader._fetch_ended(self)

    def _deliver(self, keys: list[Any], result: Any) -> None:
        loader = cast("_CustomLoader[Any, Any]", self.loader)
        items = self.items
        if isinstance(result, Mapping):
            values = [_found(result, item) for item in items]
            if loader.missing == "default":
                values = [loader.default if value is _ABSENT else value for value in values]
        elif isinstance(result, Sequence) and not isinstance(result, (str, bytes, bytearray)):
            if len(result) != len(keys):
                raise _wrong_length(loader, result, keys)
            values = list(result)
        else:
            raise _not_a_result(loader, result)
        if loader.cache_map is not None:
            loader._write_fetched(self, items, values)
        for item, value in zip(items, values, strict=True):
            if value is _ABSENT:
                item.set_error(MissingKeyError(loader.name, item.key))  # type: ignore[attr-defined]
            else:
                item.set_value(value)


class _AsyncCustomLoaderBatch(_AsyncLoaderBatch, _CustomLoaderBatch):
    """A batch of a custom loader whose bulk function is ``async def``."""

    async def _flush_async(self) -> None:
        loader = cast("_CustomLoader[Any, Any]", self.loader)
        loader._fetch_started(self)
        try:
            await super()._flush_async()
        finally:
            loader._fetch_ended(self)


def _wrong_length(loader: BatchedLoader[Any, Any], result: Any, keys: list[Any]) -> ValueError:
    return ValueError(
        f"{loader.name} returned {len(result)} values for {len(keys)} keys: a list must "
        "hold one value per key, in the order of the keys"
    )


def _not_a_result(loader: BatchedLoader[Any, Any], result: Any) -> TypeError:
    return TypeError(
        f"{loader.name} returned {_short_repr(result)} of type {type(result).__name__}: a "
        "bulk function returns a dict {key: value} or a list with one value per key"
    )


def _found(result: Mapping[Any, Any], item: Any) -> Any:
    """The value of ``item`` in a bulk function's dict: under its cache key, else
    under its key (if hashable); ``_ABSENT`` if under neither."""
    value = result.get(item.cache_key, _ABSENT)
    if value is _ABSENT:
        try:
            value = result.get(item.key, _ABSENT)
        except TypeError:  # an unhashable key cannot be a dict key: only its cache key can
            pass
    return value


class BatchedLoader(Generic[K, V]):
    """A bulk function turned into a batched async function by ``@batched()``.

    ``loader.asynq(key)`` returns a future of the key's value (yield it in a
    task), ``loader(key)`` is that value (a synchronous call),
    ``loader.asyncio(key)`` an awaitable of it (in a running loop an asyncio
    future, which ``await``, ``asyncio.gather`` and ``asyncio.ensure_future``
    take; outside one, a coroutine). ``loader.load_many`` takes many keys at
    once and gives each its value or its exception (see ``LoadMany``). On a
    method, the same calls work on the instance (``obj.loader.asynq(key)``),
    one batch per instance. With ``cache=True``, ``prime(key, value)``,
    ``prime_many(values)``, ``clear(key)`` and ``clear_all()`` act on the
    current run's cache (see the module docstring); outside a run they raise
    BatchingError. With a cache mapping they act on the mapping, anywhere.
    """

    _asynq_kind = "async"
    # Copied from the bulk function (functools.update_wrapper).
    __name__: str
    __qualname__: str

    def __new__(cls, fn: Any, **options: Any) -> BatchedLoader[K, V]:
        # A key function or a cache mapping needs the general lookup path.
        if cls is BatchedLoader and (
            options.get("key_fn") is not None or not isinstance(options.get("cache", False), bool)
        ):
            return object.__new__(_CustomLoader)
        return object.__new__(cls)

    def __init__(
        self,
        fn: Any,
        *,
        max_size: int | None,
        missing: Literal["error", "default"],
        default: Any,
        cache: bool | MutableMapping[Any, Any],
        concurrent: bool,
        fetch_in_thread: bool,
        max_concurrency: int | None = None,
        key_fn: Callable[[Any], Hashable] | None = None,
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
        _wrap(self, fn)
        self.fn = fn
        self.name = f"@batched() {callable_name(fn)}"
        self.is_method = _is_method(fn, self.name)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.max_size = max_size
        self.missing = missing
        self.default = default
        # True: a cache per run; a mapping: the user's cache (``cache_map``).
        self.cache = cache
        self.cache_map = None if isinstance(cache, bool) else cache
        self.key_fn = key_fn
        if self.cache_map is not None and self.is_method:
            raise TypeError(
                f"{self.name}: a cache mapping is shared by every caller, but a method loader "
                "keeps each instance's keys apart: give the method cache=True (a cache per "
                "instance and run), or make the loader a plain function"
            )
        self.concurrent = concurrent
        self.fetch_in_thread = fetch_in_thread
        self.max_concurrency = max_concurrency
        self._batch_cls = _AsyncLoaderBatch if self.is_async else _LoaderBatch
        # A plain function without cache or size limit: .asyncio() loads its
        # keys on a short path.
        self._lean = (
            type(self) is BatchedLoader and not self.is_method and not cache and max_size is None
        )
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
        # _asyncio(None, key), inlined: this runs once per load of a resolver.
        try:
            loop = _get_running_loop()
        except RuntimeError:
            if self.is_method:
                self._check_not_method("asyncio")
            return self._asyncio(None, key)
        if not self._lean:
            if self.is_method:
                self._check_not_method("asyncio")
            return await_future(self._load(None, key), loop)
        # _load(None, key), inlined for a loader without cache or size limit:
        # its batch is the item's group (never split).
        owner = self._function_owner
        batch = owner.loop_batch  # open: forgotten when its flush starts
        if batch is None or owner.loop is not loop:
            active = owner.active
            batch = active.batch
            if batch is None or batch._status != _OPEN:
                batch = active.batch = self._batch_cls(self, owner, None, {})
            owner.loop, owner.loop_batch = loop, batch
        by_key = batch.by_key
        try:
            item = by_key.get(key)
        except TypeError:
            _check_key(self.name, key)  # names the unhashable key
            raise
        if item is None:
            # BatchItemBase.__init__ of an item of an open batch without size
            # limit (nothing to check), inlined.
            item = by_key[key] = _new_object(_LoaderItem)
            item._computed = False
            item._value = None
            item._error = None
            item._waiters = None
            item._on_computed = None
            item.batch = batch
            items = batch.items
            item.index = len(items)
            items.append(item)
            item.key = key
        return await_deferred(item, batch, loop)

    @property
    def load_many(self) -> LoadMany[K, V]:
        """Many keys at once, each with its value or its exception (see ``LoadMany``)."""
        self._check_not_method("load_many")
        return LoadMany(self, None)

    def prime(self, key: K, value: V) -> None:
        """Puts ``value`` in the cache: loading ``key`` returns it without a
        fetch. Needs a cache: ``cache=True`` and a run (inside a task), or a
        cache mapping."""
        self._check_not_method("prime")
        self._prime_many(None, [(key, value)], "prime")

    def prime_many(self, values: Mapping[K, V] | Iterable[tuple[K, V]]) -> None:
        """``prime`` for each key and value of ``values`` (a mapping, or pairs when
        keys are unhashable); every key is checked before any is primed."""
        self._check_not_method("prime_many")
        self._prime_many(None, values, "prime_many")

    def clear(self, key: Any = _ALL_KEYS) -> None:
        """Forgets ``key`` (every key if none is given) in the cache. Needs a
        cache: ``cache=True`` and a run (inside a task), or a cache mapping."""
        self._check_not_method("clear")
        self._clear(None, key, "clear")

    def clear_all(self) -> None:
        """Forgets every key in the cache (``clear()``)."""
        self._check_not_method("clear_all")
        self._clear(None, _ALL_KEYS, "clear_all")

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

    def _load_each(self, instance: Any, keys: Iterable[Any], method: str) -> list[Any]:
        """The futures of ``keys``: every key is checked (``_cache_key``) before
        any joins a batch, so a bad key fails the call with nothing half-asked."""
        key_list = list(_checked_iterable(self, keys, method))
        cache_keys = [self._cache_key(key) for key in key_list]
        return [
            self._load_known(instance, key, cache_key)
            for key, cache_key in zip(key_list, cache_keys, strict=True)
        ]

    def _load_known(self, instance: Any, key: Any, cache_key: Any) -> FutureBase[Any]:
        """``_load`` of a key whose cache key is known (a plain loader's is the key)."""
        return self._load(instance, key)

    def _cache_key(self, key: Any) -> Any:
        """What the cache and the batch know ``key`` by: ``key_fn(key)``, or the
        key itself; TypeError naming the loader and the key if it is unhashable
        or ``key_fn`` fails on it."""
        key_fn = self.key_fn
        if key_fn is None:
            _check_key(self.name, key)
            return key
        try:
            cache_key = key_fn(key)
        except Exception as error:
            raise TypeError(
                f"{self.name}: key_fn {callable_name(key_fn)} failed on the key "
                f"{_short_repr(key)}: {type(error).__name__}: {error}"
            ) from error
        try:
            hash(cache_key)
        except TypeError:
            raise TypeError(
                f"{self.name}: key_fn {callable_name(key_fn)} returned {_short_repr(cache_key)} "
                f"({type(cache_key).__name__}) for the key {_short_repr(key)}: it must return "
                "a hashable value (a tuple, a str, a frozen dataclass...)"
            ) from None
        return cache_key

    def _prime_many(self, instance: Any, values: Any, method: str) -> None:
        if isinstance(values, Mapping):
            pairs = list(values.items())
        elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(
                f"{self.name}.{method}() takes a mapping of keys to values, or (key, value) "
                f"pairs, got {_short_repr(values)}"
            )
        else:
            pairs = []
            for pair in values:
                if not isinstance(pair, tuple) or len(pair) != 2:
                    raise TypeError(
                        f"{self.name}.{method}() takes (key, value) pairs, got "
                        f"{_short_repr(pair)} among them"
                    )
                pairs.append(pair)
        self._prime_entries(
            instance, [(self._cache_key(key), value) for key, value in pairs], method
        )

    def _prime_entries(self, instance: Any, entries: list[tuple[Any, Any]], method: str) -> None:
        """Primes the run's cache with ``(cache key, value)`` pairs."""
        cache = self._cache_of_run(method, instance)
        for cache_key, value in entries:
            cache[cache_key] = ConstFuture(value)

    def _clear(self, instance: Any, key: Any, method: str) -> None:
        cache = self._cache_of_run(method, instance)
        if key is _ALL_KEYS:
            cache.clear()
        else:
            cache.pop(self._cache_key(key), None)

    def _call_bulk(self, instance: Any, keys: list[Any]) -> Any:
        if instance is None:
            return self.fn(keys)
        return self.fn(instance, keys)

    def _cache_of_run(self, method: str, instance: Any) -> dict[Any, FutureBase[Any]]:
        """The current run's cache, for ``prime``/``clear``; BatchingError if there is none."""
        if self.cache is not True:
            raise BatchingError(
                f"{self.name}.{method}(): the loader has no cache; decorate with "
                "@batched(cache=True), or give it a cache mapping (cache=LRUCache(...))"
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

    @property
    def load_many(self) -> LoadMany[K, V]:
        """Many keys at once, each with its value or its exception (see ``LoadMany``)."""
        return LoadMany(self.loader, self.instance)

    def prime(self, key: K, value: V) -> None:
        """Puts ``value`` in the current run's cache of this instance."""
        self.loader._prime_many(self.instance, [(key, value)], "prime")

    def prime_many(self, values: Mapping[K, V] | Iterable[tuple[K, V]]) -> None:
        """``prime`` for each key and value of ``values`` (a mapping, or pairs)."""
        self.loader._prime_many(self.instance, values, "prime_many")

    def clear(self, key: Any = _ALL_KEYS) -> None:
        """Forgets ``key`` (every key if none is given) in this instance's run cache."""
        self.loader._clear(self.instance, key, "clear")

    def clear_all(self) -> None:
        """Forgets every key in this instance's run cache."""
        self.loader._clear(self.instance, _ALL_KEYS, "clear_all")

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


class LoadMany(Generic[K, V]):
    """``loader.load_many``: asks for many keys at once and gives back, in the
    order of the keys, each key's value or the exception its load ended with
    (DataLoader's ``loadMany``; ``asyncio.gather(..., return_exceptions=True)``),
    so that one failed key fails no other.

    ``yield loader.load_many.asynq(keys)`` in a task, ``loader.load_many(keys)``
    synchronously, ``await loader.load_many.asyncio(keys)`` under asyncio. The
    keys join the batches of the round as ``loader.asynq(key)`` would. A key
    that cannot be asked for at all (unhashable, refused by ``key_fn``) raises
    TypeError at the call, before any key is asked. Only ``Exception``s are
    given back: an error such as KeyboardInterrupt still propagates.
    """

    __slots__ = ("loader", "instance")

    _asynq_kind = "async"

    def __init__(self, loader: BatchedLoader[K, V], instance: Any) -> None:
        self.loader = loader
        self.instance = instance

    def asynq(self, keys: Iterable[K]) -> FutureBase[list[V | Exception]]:
        """A future of the outcome of each of ``keys`` (value or exception), in order."""
        futures = self.loader._load_each(self.instance, keys, "load_many")
        return _settled.asynq(futures)

    def __call__(self, keys: Iterable[K]) -> list[V | Exception]:
        """The outcome of each of ``keys`` (a synchronous call: flushes the batches now)."""
        if is_asyncio_mode():
            check_sync_call(self, allow_sync_call=False)
        return self.asynq(keys).value()

    def asyncio(self, keys: Iterable[K]) -> Awaitable[list[V | Exception]]:
        """An awaitable of the outcome of each of ``keys``, batched with every load of the loop."""
        try:
            _get_running_loop()
        except RuntimeError:
            # No loop yet: the keys are checked now, and asked for once the
            # coroutine runs on the loop (in its run, as ``loader.asyncio`` does).
            loader = self.loader
            key_list = list(_checked_iterable(loader, keys, "load_many"))
            for key in key_list:
                loader._cache_key(key)
            task = AsyncTask(
                _load_many_in_task(loader, self.instance, key_list), loader.fn, (key_list,), {}
            )
            return run_task(task)
        return run_task(self.asynq(keys))

    def __repr__(self) -> str:
        return f"<{self.loader.name}.load_many>"


@asynq()
def _settled(futures: Sequence[FutureBase[Any]]) -> Generator[Any, Any, list[Any]]:
    """Waits for every future, then gives each one's value or Exception."""
    try:
        yield futures
    except Exception:
        pass  # each future's own outcome is read below
    outcomes = []
    for future in futures:
        error = future.error()
        if error is None:
            outcomes.append(future.value())
        elif isinstance(error, Exception):
            outcomes.append(error)
        else:
            raise error
    return outcomes


def _load_many_in_task(
    loader: BatchedLoader[Any, Any], instance: Any, keys: list[Any]
) -> Generator[Any, Any, Any]:
    return (yield _settled.asynq(loader._load_each(instance, keys, "load_many")))


class _CustomLoader(BatchedLoader[K, V]):
    """A loader with a key function or a cache mapping (see the module docstring)."""

    def __init__(self, fn: Any, **options: Any) -> None:
        super().__init__(fn, **options)
        self._batch_cls = _AsyncCustomLoaderBatch if self.is_async else _CustomLoaderBatch
        # Guards cache_map and _fetching: a fetch may deliver in a worker thread,
        # and the loader may be used from several threads.
        self._cache_lock = threading.RLock()
        self._fetching: list[_CustomLoaderBatch] = []

    def _load(self, instance: Any, key: Any) -> FutureBase[Any]:
        return self._load_known(instance, key, self._cache_key(key))

    def _load_known(self, instance: Any, key: Any, cache_key: Any) -> FutureBase[Any]:
        # BatchedLoader._load, by cache key, and with a cache mapping.
        owner = self._function_owner if instance is None else self._owner(instance)
        mapping = self.cache_map
        run_cache = None
        if mapping is not None:
            with self._cache_lock:
                value = mapping.get(cache_key, _ABSENT)
            if value is not _ABSENT:
                return ConstFuture(value)
        elif self.cache:
            run_cache = self._run_cache(owner, create=True)
            if run_cache is not None:
                cached = run_cache.get(cache_key)
                if cached is not None and (not cached._computed or cached._error is None):
                    return cached
        active = owner.active
        batch = active.batch
        if batch is None or batch._status != _OPEN:
            batch = active.batch = self._batch_cls(self, owner, instance, {})
        item = batch.by_key.get(cache_key)
        if item is None:
            item = batch.by_key[cache_key] = _LoaderItem(batch)
            item.key = key
            item.cache_key = cache_key
        if run_cache is not None:
            run_cache[cache_key] = item
        return item

    def _prime_entries(self, instance: Any, entries: list[tuple[Any, Any]], method: str) -> None:
        mapping = self.cache_map
        if mapping is None:
            super()._prime_entries(instance, entries, method)
            return
        with self._cache_lock:
            for cache_key, value in entries:
                self._invalidate(cache_key)
                mapping[cache_key] = value

    def _clear(self, instance: Any, key: Any, method: str) -> None:
        mapping = self.cache_map
        if mapping is None:
            super()._clear(instance, key, method)
            return
        cache_key = key if key is _ALL_KEYS else self._cache_key(key)
        with self._cache_lock:
            self._invalidate(cache_key)
            if cache_key is _ALL_KEYS:
                mapping.clear()
            else:
                mapping.pop(cache_key, None)

    # -- fetches in flight: what they may write to the cache mapping ----------

    def _fetch_started(self, batch: _CustomLoaderBatch) -> None:
        if self.cache_map is not None:
            with self._cache_lock:
                batch.stale = set()
                self._fetching.append(batch)

    def _fetch_ended(self, batch: _CustomLoaderBatch) -> None:
        if self.cache_map is not None:
            with self._cache_lock:
                self._fetching = [other for other in self._fetching if other is not batch]

    def _invalidate(self, cache_key: Any) -> None:
        """Keeps the fetches in flight from writing ``cache_key`` (or any key, for
        ``_ALL_KEYS``): it was primed or cleared after they started. Holds the lock."""
        for batch in self._fetching:
            stale = batch.stale
            if cache_key is _ALL_KEYS:
                batch.stale = _ALL_KEYS
            elif stale is not _ALL_KEYS and stale is not None:
                stale.add(cache_key)

    def _write_fetched(
        self, batch: _CustomLoaderBatch, items: list[Any], values: list[Any]
    ) -> None:
        """Writes the values a fetch found to the cache mapping, but for the keys
        primed or cleared since it started. A value the mapping refuses with
        ValueError (cachetools: larger than ``maxsize``) is not cached."""
        mapping = self.cache_map
        assert mapping is not None
        with self._cache_lock:
            stale = batch.stale
            if stale is _ALL_KEYS:
                return
            for item, value in zip(items, values, strict=True):
                cache_key = item.cache_key
                if value is _ABSENT or (stale is not None and cache_key in stale):
                    continue
                try:
                    mapping[cache_key] = value
                except ValueError:
                    pass


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
    cache: bool | MutableMapping[Any, Any] = False,
    concurrent: bool = False,
    fetch_in_thread: bool = True,
    max_concurrency: int | None = None,
    key_fn: Callable[[Any], Hashable] | None = None,
) -> _Batched:
    """Makes a bulk function ``f(keys) -> dict | list`` a batched async function.

    - ``max_size``: at most that many keys per call of ``f`` (None: no limit);
      a bigger round is split, and all its calls are made in the same flush.
    - ``missing``: what a key absent from a returned dict gives: ``"error"``
      (a ``MissingKeyError``, a KeyError naming the loader and the key) or
      ``"default"`` (``default``). Giving ``default`` alone means ``"default"``.
    - ``cache``: True keeps the values loaded in a scheduler run (see the
      module docstring); a mutable mapping (a cachetools ``LRUCache`` or
      ``TTLCache``, a dict) is a cache the caller owns, shared by every run,
      request and thread, which holds the values (a key it no longer holds is
      fetched again). Either way with ``prime``, ``prime_many``, ``clear``
      and ``clear_all``. A mapping is for plain function loaders.
    - ``key_fn``: requests are deduplicated and cached by ``key_fn(key)``, a
      hashable value, so keys may be unhashable (dicts, lists, dataclasses);
      ``f`` gets one of the requested keys per ``key_fn`` value, and may
      return a dict keyed by ``key_fn(key)`` (or by the key, if hashable).
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
    if not isinstance(cache, (bool, MutableMapping)):
        raise TypeError(
            f"batched(cache={_short_repr(cache)}): cache must be True, False or a mutable "
            "mapping (a dict, a cachetools LRUCache or TTLCache, ...)"
        )
    if key_fn is not None and not callable(key_fn):
        raise TypeError(
            f"batched(key_fn={_short_repr(key_fn)}): key_fn must be None or a function of a "
            "key that returns a hashable value"
        )
    flags = {"concurrent": concurrent, "fetch_in_thread": fetch_in_thread}
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
            "cache": cache,
            "key_fn": key_fn,
            **flags,
        }
    )


def _load_in_task(
    loader: BatchedLoader[Any, Any], instance: Any, key: Any
) -> Generator[Any, Any, Any]:
    return (yield loader._load(instance, key))


def _checked_iterable(loader: BatchedLoader[Any, Any], keys: Any, method: str) -> Iterable[Any]:
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
        raise TypeError(
            f"{loader.name}.{method}() takes an iterable of keys, got {_short_repr(keys)}"
        )
    return keys


def _check_key(name: str, key: Any) -> None:
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"{name}: keys must be hashable, got {_short_repr(key)}") from None


def _wrap(wrapper: Any, wrapped: Any) -> None:
    """``functools.update_wrapper(wrapper, wrapped)`` without reading
    ``wrapper.__dict__``: on CPython 3.11 an object whose ``__dict__`` was read
    once pays several times more for each attribute lookup after, and a
    loader's attributes are read on every load."""
    for name in functools.WRAPPER_ASSIGNMENTS:
        try:
            value = getattr(wrapped, name)
        except AttributeError:
            continue
        setattr(wrapper, name, value)
    for name, value in getattr(wrapped, "__dict__", {}).items():
        try:
            setattr(wrapper, name, value)
        except AttributeError:  # a read-only attribute of loaders (a property)
            pass
    wrapper.__wrapped__ = wrapped


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
