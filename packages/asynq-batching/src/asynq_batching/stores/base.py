"""The batched key-value client that every store of this package shares.

``BatchedStore`` turns ``get``/``set``/``delete`` calls made by many tasks into
few requests: each operation has its own batch per thread (a flush sends one
kind of command), and a flush sends one request per server for each chunk of
at most ``max_batch_size`` distinct keys. Backends implement three hooks that
each make one request (``_fetch``, ``_store``, ``_remove``) and, if keys live
on several servers, ``_partition``, which groups the keys by server.

Invariants:
- Missing keys are never confused with stored values: ``get`` returns its
  ``default`` (the ``MISSING`` sentinel unless given) for a key the store
  does not hold, and a stored None comes back as None.
- A failed request (connection refused, timeout, ...) fails exactly the items
  whose keys it carried, with the backend's own exception, copied with the
  request (operation, keys, server) added to its message and the original as
  its ``__cause__``; other requests of the same flush still run. A backend may
  fail single keys of a request instead (``_store`` returns their errors). A
  value that cannot be decoded fails only the items of its key. The items of
  ``get_many_settled`` get, for a failed request, a copy each naming their key.
- The pending batches of a store flush in a fixed order, whatever their
  sizes: sets, then deletes, then gets (``_RANK``). So tasks of one round
  read what the others wrote, and of a set and a delete of one key in one
  round the delete wins (a cache entry invalidated in a round stays so).
- The requests of a flush are sent one after another, or with
  ``max_concurrency=k`` up to k at once (in worker threads, each in a copy
  of the flush's context); at most k requests of the store are then in
  flight at any time, whatever the flushes and threads. Their results are
  applied in the flushing thread, in the order of the requests.
- Under a deadline (``asynq_core.deadline``) each request is given the time
  its flush has left (``lowlevel.remaining_time()``; backends lower their
  socket or statement timeout to it). A request that would start after it,
  or fails once it has passed, fails its items with DeadlineExceededError
  (a TimeoutError naming the deadline, its round and the request), the
  client's error as its ``__cause__``.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import qcore

from asynq_core import debug
from asynq_core.decorators import async_proxy, asynq
from asynq_core.futures import FutureBase
from asynq_core.lowlevel import NOT_FOUND, deadline_exceeded, json_refusal, remaining_time

from ..batching import _OPEN, BatchBase, BatchingError, BatchItemBase, _check_size, _run_together
from ..loaders import MissingKeyError, _settled

__all__ = [
    "MISSING",
    "StoreError",
    "Codec",
    "JsonCodec",
    "PickleCodec",
    "BytesCodec",
    "BatchedStore",
    "ttl_seconds",
    "check_timeout",
]

GET, SET, DELETE = "get", "set", "delete"
# The rank of each operation's batches: of those pending, the highest flushes first.
_RANK = {SET: 2, DELETE: 1, GET: 0}
# How many keys the message of a failed request names.
_SHOWN_KEYS = 3

_Store = TypeVar("_Store", bound="BatchedStore")


class _Missing:
    """The type of ``MISSING``: one instance, kept as itself through copy and pickle."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What ``get`` returns for a key the store does not hold (unless a default is given)."""


class StoreError(BatchingError):
    """The store refused a request without raising (e.g. memcached did not store a key)."""


class Codec(Protocol):
    """How values are turned into the bytes a key-value server keeps, and back."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class JsonCodec:
    """JSON (UTF-8): safe to read from a shared cache.

    It stores what comes back as it went: None, bool, int, float, str, lists
    and dicts with str keys, of exactly those types. Anything else (a tuple,
    an int key, an enum, an OrderedDict, a set) is refused by ``encode`` with
    a TypeError saying where it is, rather than changed (a tuple read back as
    a list, ``{1: "a"}`` as ``{"1": "a"}``).
    """

    def encode(self, value: Any) -> bytes:
        refusal = json_refusal(value, "JsonCodec", "PickleCodec()")
        if refusal is not None:
            raise refusal
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def __repr__(self) -> str:
        return "JsonCodec()"


class PickleCodec:
    """pickle: any picklable value. Only for stores no one untrusted can write to."""

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=self.protocol)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)

    def __repr__(self) -> str:
        return f"PickleCodec(protocol={self.protocol})"


class BytesCodec:
    """No encoding: values are bytes and come back as the server returns them."""

    def encode(self, value: Any) -> bytes:
        if type(value) is not bytes:
            # A bytearray or memoryview would come back as bytes: refused, not changed.
            hint = (
                ": it would come back as bytes; store bytes(value)"
                if isinstance(value, (bytes, bytearray, memoryview))
                else ""
            )
            raise TypeError(
                f"BytesCodec stores bytes, got {type(value).__name__} {debug.repr(value)}{hint}"
            )
        return value

    def decode(self, data: bytes) -> Any:
        return data

    def __repr__(self) -> str:
        return "BytesCodec()"


def ttl_seconds(owner: str, ttl: float | None) -> float | None:
    """Checks a time to live given to ``owner``: None (never expires) or seconds > 0."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ValueError(f"{owner}: ttl must be None or a number of seconds > 0, got {ttl!r}")
    if math.isinf(ttl):
        return None
    return float(ttl)


def check_timeout(owner: str, timeout: Any) -> float:
    """Checks a timeout given to ``owner``: a finite number of seconds > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"{owner}: timeout must be a number of seconds, got {timeout!r}")
    if not 0 < timeout < math.inf:
        raise ValueError(f"{owner}: timeout must be finite and > 0, got {timeout!r}")
    return timeout


def _with_context(error: Exception, context: str) -> Exception:
    """A copy of ``error``, of its type, whose message ends with `` (context)``
    and whose ``__cause__`` is ``error``; ``error`` itself if it cannot be copied.

    The copy leaves ``error`` as it was, so one raised many times (by a test
    double, say) does not grow a context per request.
    """
    try:
        named = copy.copy(error)
    except Exception:
        return error
    if type(named) is not type(error):
        return error
    suffix = f" ({context})"
    if isinstance(named, OSError) and named.strerror:
        named.strerror += suffix  # what str() shows of an OSError with an errno
    elif isinstance(named, (UnicodeDecodeError, UnicodeEncodeError)):
        named.reason += suffix  # str() shows its fields, not its args
    elif named.args and isinstance(named.args[0], (str, bytes)):
        first = named.args[0]
        text = first.decode(errors="replace") if isinstance(first, bytes) else first
        named.args = (text + suffix, *named.args[1:])
    else:
        named.args = (*named.args, context)
    named.__cause__ = error
    return named


class _StoreBatch(BatchBase):
    """The open batch of one operation of one store, in one thread."""

    def __init__(self, store: BatchedStore, operation: str) -> None:
        super().__init__()
        self.store = store
        self.operation = operation
        self.fetch_in_thread = store.fetch_in_thread

    @property
    def trace_name(self) -> str:
        """How asynq_core.tracing names this batch, e.g. ``SqlStore(users).get``."""
        return f"{self.store._trace_label()}.{self.operation}"

    # Record and replay (see BatchBase) by the keys as sent, a get of a key the
    # store lacks recorded as NOT_FOUND: each request gets its own default back.
    def _replay_key(self, item: Any) -> Any:
        return self.store._replay_key_of(item.key)

    def _replay_result(self, item: Any) -> tuple[Any, BaseException | None]:
        if item._error is None and self.operation == GET and not item.found:
            return NOT_FOUND, None
        return item._value, item._error

    def _replay_apply(self, item: Any, value: Any, error: Any) -> None:
        if value is NOT_FOUND and error is None and self.operation == GET:
            item.set_value(item.default)
        else:
            super()._replay_apply(item, value, error)

    def get_priority(self) -> Any:
        return (_RANK[self.operation], len(self.items))

    def _try_switch_active_batch(self) -> None:
        self.store._replace_active_batch(self)

    def _flush(self) -> None:
        self.store._flush_batch(self)

    def __repr__(self) -> str:
        return (
            f"<{type(self.store).__name__} {self.operation} batch "
            f"({len(self.items)} items, {self._status})>"
        )


class _StoreItem(BatchItemBase[Any]):
    """The request of one wire key ``key`` (set by each subclass's __init__)."""

    key: Any
    # True if a failed request gives this item an error naming its own key.
    names_key = False


class _GetItem(_StoreItem):
    found = True  # False once its flush found no value for its key (a recording tells)

    def __init__(self, batch: _StoreBatch, key: Any, default: Any) -> None:
        super().__init__(batch)
        self.key = key
        self.default = default


class _SettledGetItem(_GetItem):
    """A key read by ``get_many_settled``."""

    names_key = True


class _SetItem(_StoreItem):
    def __init__(self, batch: _StoreBatch, key: Any, data: Any) -> None:
        super().__init__(batch)
        self.key = key
        self.data = data


class _DeleteItem(_StoreItem):
    def __init__(self, batch: _StoreBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class _ActiveBatches(threading.local):
    def __init__(self) -> None:
        self.by_operation: dict[str, _StoreBatch] = {}


class BatchedStore:
    """A key-value client whose calls from many tasks are sent together.

    In an asynq function::

        value = yield store.get.asynq(key)          # MISSING if absent
        values = yield store.get_many.asynq(keys)   # {key: value} of the keys present
        yield store.set.asynq(key, value)
        yield store.delete.asynq(key)

    and synchronously ``store.get(key)`` etc. (one request each). ``close()``
    (or ``with store:``) closes the underlying client's connections.

    ``request_count`` counts the requests sent (each is one round trip to one
    server); ``on_request`` is an event hook called before each request with
    ``(operation, server, keys)`` (``server`` is None for a single server),
    in the thread that sends it.

    ``max_concurrency`` (None, or an int >= 1) is how many requests of a
    flush may be in flight at once: None sends them one after another; k
    sends up to k at once and keeps at most k of this store's requests in
    flight at any time (see the module docstring).

    Subclasses call ``super().__init__(max_batch_size=..., codec=...,
    max_concurrency=...)`` (at most ``max_batch_size`` keys per request, 100
    by default; ``codec`` None stores values as given), implement ``_fetch``, ``_store`` and
    ``_remove`` (one request each, with at most ``max_batch_size`` keys, all
    of one server), and ``_partition`` if keys live on several servers;
    ``_check_key`` says which keys are valid, ``_wire_key`` what the hooks
    get for a key (the key itself by default).
    """

    # False for clients that must be used from the thread of the scheduler (see
    # BatchBase.fetch_in_thread): their flushes then never run in a worker thread.
    fetch_in_thread = True

    def __init__(
        self,
        *,
        max_batch_size: int = 100,
        codec: Codec | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        owner = type(self).__name__
        _check_size(f"{owner}: max_batch_size", max_batch_size)
        _check_size(f"{owner}: max_concurrency", max_concurrency, optional=True)
        if codec is not None and not (
            callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))
        ):
            raise TypeError(f"{owner}: codec must have encode() and decode(), got {codec!r}")
        self.max_batch_size = max_batch_size
        self.codec = codec
        self.max_concurrency = max_concurrency
        # The requests in flight, at most max_concurrency of them.
        self._slots = (
            None if max_concurrency is None else threading.BoundedSemaphore(max_concurrency)
        )
        self.request_count = 0
        self._count_lock = threading.Lock()
        self.on_request = qcore.EventHook()
        self._active = _ActiveBatches()

    # -- the public calls --------------------------------------------------

    @async_proxy()
    def get(self, key: Any, default: Any = MISSING) -> FutureBase[Any]:
        """The value stored under ``key``, or ``default`` if there is none."""
        wire = self._wire_key("get", key)
        return _GetItem(self._active_batch(GET), wire, default)

    @async_proxy()
    def get_many(self, keys: Iterable[Any]) -> FutureBase[dict[Any, Any]]:
        """A dict of the values of those of ``keys`` that the store holds."""
        key_list, wire_keys = self._key_list("get_many", keys)
        items = [_GetItem(self._active_batch(GET), wire, MISSING) for wire in wire_keys]
        return _found_values.asynq(key_list, items)

    @async_proxy()
    def get_many_settled(self, keys: Iterable[Any]) -> FutureBase[dict[Any, Any]]:
        """A dict of each of ``keys`` to its value, or to the exception its read
        ended with: a ``MissingKeyError`` for a key the store does not hold, the
        request's error (its message naming the key) for a key whose request
        failed, the codec's error (naming the key) for a value it cannot decode.
        One failed key fails no other; keys are checked at the call, as by ``get``."""
        key_list, wire_keys = self._key_list("get_many_settled", keys)
        items = [_SettledGetItem(self._active_batch(GET), wire, MISSING) for wire in wire_keys]
        owner = f"{self._trace_label()}.get_many_settled()"
        return _settled_values.asynq(owner, key_list, items)

    @async_proxy()
    def set(self, key: Any, value: Any) -> FutureBase[None]:
        """Stores ``value`` under ``key``."""
        wire = self._wire_key("set", key)
        return _SetItem(self._active_batch(SET), wire, self._encode("set", key, value))

    @async_proxy()
    def set_many(self, values: Mapping[Any, Any]) -> FutureBase[None]:
        """Stores every value of the mapping ``values`` under its key."""
        owner = f"{type(self).__name__}.set_many()"
        if not isinstance(values, Mapping):
            raise TypeError(f"{owner} takes a mapping of keys to values, got {values!r}")
        encoded = []
        for key, value in values.items():
            wire = self._wire_key("set_many", key)
            encoded.append((wire, self._encode("set_many", key, value)))
        # Every value is encoded before any joins the batch: nothing is half-sent.
        items = [_SetItem(self._active_batch(SET), wire, data) for wire, data in encoded]
        return _all_done.asynq(items)

    @async_proxy()
    def delete(self, key: Any) -> FutureBase[None]:
        """Removes ``key`` (nothing happens if the store does not hold it)."""
        wire = self._wire_key("delete", key)
        return _DeleteItem(self._active_batch(DELETE), wire)

    @async_proxy()
    def delete_many(self, keys: Iterable[Any]) -> FutureBase[None]:
        """Removes every key of ``keys``."""
        _, wire_keys = self._key_list("delete_many", keys)
        items = [_DeleteItem(self._active_batch(DELETE), wire) for wire in wire_keys]
        return _all_done.asynq(items)

    # -- the client's lifetime ----------------------------------------------

    def close(self) -> None:
        """Closes the connections of the underlying client (nothing by default)."""

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- hooks for backends --------------------------------------------------

    def _trace_label(self) -> str:
        """This store in tracing's names of its batches; subclasses may say more."""
        return type(self).__name__

    def _server_name(self, server: str | None) -> str | None:
        """How errors name ``server`` (None for the only one: not named)."""
        return server

    def _check_key(self, method: str, key: Any) -> None:
        """Raises TypeError/ValueError naming ``method`` if ``key`` is not a valid key."""
        try:
            hash(key)
        except TypeError:
            raise TypeError(
                f"{type(self).__name__}.{method}(): keys must be hashable, got {key!r}"
            ) from None

    def _wire_key(self, method: str, key: Any) -> Any:
        """``key`` checked (``_check_key``), in the form the hooks get it: a
        flush sends each form once, so keys of one form share a request."""
        self._check_key(method, key)
        return key

    def _replay_key_of(self, wire_key: Any) -> Any:
        """How a recording (``asynq_core.tracing``) writes a key in its wire form
        (``_wire_key``): as it is by default; it must tell apart the keys
        the wire form tells apart."""
        return wire_key

    def _partition(self, keys: list[Any]) -> Iterable[tuple[str | None, list[Any]]]:
        """Splits ``keys`` by the server holding them: ``(server, keys)`` pairs."""
        return [(None, keys)]

    def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
        """One read request: the stored (encoded) values of the keys present."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _fetch()")

    def _store(
        self, server: str | None, values: dict[Any, Any]
    ) -> Collection[Any] | Mapping[Any, BaseException | None]:
        """One write request; returns the keys the server refused to store, or a
        dict of them to the error each one fails with (None: ``StoreError``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _store()")

    def _remove(self, server: str | None, keys: list[Any]) -> None:
        """One delete request."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _remove()")

    # -- batching ----------------------------------------------------------

    def _active_batch(self, operation: str) -> _StoreBatch:
        batches = self._active.by_operation
        batch = batches.get(operation)
        # A batch another thread flushed stays here: that thread could not replace it.
        if batch is None or batch._status != _OPEN:
            batch = batches[operation] = _StoreBatch(self, operation)
        return batch

    def _replace_active_batch(self, batch: _StoreBatch) -> None:
        batches = self._active.by_operation
        if batches.get(batch.operation) is batch:
            batches[batch.operation] = _StoreBatch(self, batch.operation)

    def _flush_batch(self, batch: _StoreBatch) -> None:
        waiting: dict[Any, list[Any]] = {}
        for item in batch.items:
            if not item.is_computed():
                waiting.setdefault(item.key, []).append(item)  # type: ignore[attr-defined]
        if not waiting:
            return
        if batch.operation == GET:
            self._flush_gets(waiting)
        elif batch.operation == SET:
            self._flush_sets(waiting)
        else:
            self._flush_deletes(waiting)

    def _plan(
        self, operation: str, waiting: dict[Any, list[Any]]
    ) -> list[tuple[str | None, list[Any]]]:
        """The requests of a flush: per server, chunks of ``max_batch_size`` keys."""
        keys = list(waiting)
        try:
            partitions = list(self._partition(keys))
        except Exception as error:
            self._fail_request(waiting, keys, error, operation, None)
            return []
        size = self.max_batch_size
        return [
            (server, keys[start : start + size])
            for server, keys in partitions
            for start in range(0, len(keys), size)
        ]

    def _announce(self, operation: str, server: str | None, keys: list[Any]) -> None:
        with self._count_lock:  # requests may be sent from several threads
            self.request_count += 1
        self.on_request(operation, server, keys)

    def _describe_request(
        self, operation: str, server: str | None, keys: list[Any], detail: str = ""
    ) -> str:
        """E.g. ``MemcacheStore set of 'k1', 'k2' and 8 more keys on server h:11211``."""
        shown = ", ".join(debug.repr(key) for key in keys[:_SHOWN_KEYS])
        if len(keys) > _SHOWN_KEYS:
            shown += f" and {len(keys) - _SHOWN_KEYS} more keys"
        name = self._server_name(server)
        where = f" on server {name}" if name is not None else ""
        return f"{self._trace_label()} {operation} of {shown}{detail}{where}"

    def _request_error(
        self, error: Exception, operation: str, server: str | None, keys: list[Any]
    ) -> Exception:
        described = self._describe_request(operation, server, keys)
        cut_short = deadline_exceeded(described, f"{self._trace_label()}.{operation}")
        if cut_short is not None:
            cut_short.__cause__ = error
            return cut_short
        return _with_context(error, described)

    def _send(
        self,
        operation: str,
        requests: list[tuple[str | None, list[Any]]],
        request: Callable[[str | None, list[Any]], Any],
    ) -> list[tuple[Any, Exception | None]]:
        """Sends the requests of a flush (see the module docstring): for each,
        ``request(server, keys)``'s result, or the error it raised (which
        ``_fail_request`` describes)."""

        def job(server: str | None, keys: list[Any]) -> Callable[[], tuple[Any, Exception | None]]:
            def send() -> tuple[Any, Exception | None]:
                try:
                    return self._one_request(operation, server, keys, request), None
                except Exception as error:
                    return None, error

            return send

        jobs = [job(server, keys) for server, keys in requests]
        if self.max_concurrency is None or len(jobs) < 2:
            return [send() for send in jobs]
        outcomes = _run_together(jobs, self.max_concurrency)
        return [outcome for outcome in outcomes if outcome is not None]

    def _one_request(
        self,
        operation: str,
        server: str | None,
        keys: list[Any],
        request: Callable[[str | None, list[Any]], Any],
    ) -> Any:
        left = remaining_time()
        if left is not None and left <= 0:
            raise TimeoutError("the deadline passed before the request was sent")
        slots = self._slots
        if slots is not None:
            if not slots.acquire(timeout=-1 if left is None else left):
                raise TimeoutError(
                    f"the deadline passed while {self.max_concurrency} other requests were "
                    "in flight (max_concurrency)"
                )
        try:
            self._announce(operation, server, keys)
            return request(server, keys)
        finally:
            if slots is not None:
                slots.release()

    def _fail_request(
        self,
        waiting: dict[Any, list[Any]],
        keys: list[Any],
        error: Exception,
        operation: str,
        server: str | None,
    ) -> None:
        """Fails the items of ``keys``, whose request raised ``error``, with the
        request's error; an item that ``names_key`` gets a copy naming its key."""
        shared = self._request_error(error, operation, server, keys)
        # A request a deadline cut short fails alike for every key.
        per_key = len(keys) > 1 and type(shared) is type(error)
        for key in keys:
            own = None
            for item in waiting[key]:
                if item.is_computed():
                    continue
                if item.names_key and per_key:
                    if own is None:
                        context = self._describe_request(operation, server, [key])
                        own = _with_context(error, f"{context}, in a request of {len(keys)} keys")
                    item.set_error(own)
                else:
                    item.set_error(shared)

    def _flush_gets(self, waiting: dict[Any, list[Any]]) -> None:
        codec = self.codec
        requests = self._plan(GET, waiting)
        for (server, keys), (found, failure) in zip(
            requests, self._send(GET, requests, self._fetch), strict=True
        ):
            if failure is not None:
                self._fail_request(waiting, keys, failure, GET, server)
                continue
            for key in keys:
                data = found.get(key, MISSING)
                if data is MISSING:
                    for item in waiting[key]:
                        item.found = False
                        item.set_value(item.default)
                    continue
                if codec is not None:
                    try:
                        data = codec.decode(data)
                    except Exception as error:
                        what = f"{len(data)} bytes" if isinstance(data, bytes) else "value"
                        context = self._describe_request(GET, server, [key])
                        context += f", decoding its {what} with {codec!r}"
                        _fail(waiting, [key], _with_context(error, context))
                        continue
                for item in waiting[key]:
                    item.set_value(data)

    def _flush_sets(self, waiting: dict[Any, list[Any]]) -> None:
        def store(server: str | None, keys: list[Any]) -> Any:
            # Of several writes of one key in a round, the last one made wins.
            return self._store(server, {key: waiting[key][-1].data for key in keys})

        requests = self._plan(SET, waiting)
        for (server, keys), (refused, error) in zip(
            requests, self._send(SET, requests, store), strict=True
        ):
            if error is not None:
                self._fail_request(waiting, keys, error, SET, server)
                continue
            errors = refused if isinstance(refused, Mapping) else dict.fromkeys(refused)
            for key in keys:
                if key not in errors:
                    _succeed(waiting[key])
                    continue
                refusal = errors[key]
                if refusal is None:
                    refusal = StoreError(f"{self!r} did not store {debug.repr(key)}")
                _fail(waiting, [key], refusal)

    def _flush_deletes(self, waiting: dict[Any, list[Any]]) -> None:
        requests = self._plan(DELETE, waiting)
        for (server, keys), (_, error) in zip(
            requests, self._send(DELETE, requests, self._remove), strict=True
        ):
            if error is not None:
                self._fail_request(waiting, keys, error, DELETE, server)
                continue
            for key in keys:
                _succeed(waiting[key])

    # -- helpers -----------------------------------------------------------

    def _encode(self, method: str, key: Any, value: Any) -> Any:
        if value is MISSING:
            raise TypeError(
                f"{type(self).__name__}.{method}(): cannot store MISSING (what get returns "
                f"for a key the store does not hold) under {key!r}"
            )
        if self.codec is None:
            return value
        try:
            return self.codec.encode(value)
        except Exception as error:
            raise TypeError(
                f"{type(self).__name__}.{method}(): cannot encode the value of "
                f"{debug.repr(key)} ({type(value).__name__}) with {self.codec!r}: {error}"
            ) from error

    def _key_list(self, method: str, keys: Iterable[Any]) -> tuple[list[Any], list[Any]]:
        """The keys of ``keys``, and their wire forms (``_wire_key``)."""
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
            raise TypeError(
                f"{type(self).__name__}.{method}() takes an iterable of keys, got {keys!r}"
            )
        key_list = list(keys)
        return key_list, [self._wire_key(method, key) for key in key_list]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class _ServerStore(BatchedStore):
    """What the stores on a key-value server's client (Redis, memcached) share:
    keys that are str, bytes, int or float (sent as redis-py sends them:
    ``1`` and ``"1"`` name one key, ``1.0`` another), ``key_prefix`` prepended
    to them on the wire, values encoded with ``codec`` (``JsonCodec()`` by
    default), ``ttl`` (seconds, None for never) for every set, and ``close()``
    closing the client. Backends say how a key goes on the wire in
    ``_encode_key``; their hooks get keys in that form, prefix included."""

    client: Any

    def __init__(
        self,
        client: Any,
        *,
        key_prefix: str,
        codec: Codec | None,
        ttl: float | None,
        max_batch_size: int,
        max_concurrency: int | None,
    ) -> None:
        super().__init__(
            max_batch_size=max_batch_size,
            codec=JsonCodec() if codec is None else codec,
            max_concurrency=max_concurrency,
        )
        owner = f"{type(self).__name__}()"
        if not isinstance(key_prefix, str):
            raise TypeError(f"{owner}: key_prefix must be a str, got {key_prefix!r}")
        self.client = client
        self.key_prefix = key_prefix
        self.ttl = ttl_seconds(owner, ttl)

    def _check_key(self, method: str, key: Any) -> None:
        # Exactly int or float: a bool, or an IntEnum, is an int that redis-py
        # refuses or sends as its repr ("<Color.RED: 1>"), not as the number.
        if isinstance(key, (str, bytes)) or type(key) in (int, float):
            return
        raise TypeError(
            f"{type(self).__name__}.{method}(): keys are str, bytes, int or float, "
            f"got {key!r} ({type(key).__name__})"
        )

    def _wire_key(self, method: str, key: Any) -> Any:
        self._check_key(method, key)
        return self._encode_key(method, key)

    def _encode_key(self, method: str, key: str | bytes | int | float) -> Any:
        """The key as sent to the server, ``key_prefix`` included; raises
        ValueError naming ``method`` if the server cannot take it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _encode_key()")

    def close(self) -> None:
        """Closes the client's connections (it reconnects if used again)."""
        self.client.close()


@asynq()
def _found_values(keys: list[Any], items: list[_GetItem]) -> Any:
    values = yield items
    return {key: value for key, value in zip(keys, values, strict=True) if value is not MISSING}


@asynq()
def _settled_values(owner: str, keys: list[Any], items: Sequence[_GetItem]) -> Any:
    outcomes = yield _settled.asynq(items)
    return {
        key: MissingKeyError(owner, key, "the store holds no value under the key")
        if outcome is MISSING
        else outcome
        for key, outcome in zip(keys, outcomes, strict=True)
    }


@asynq()
def _all_done(items: list[Any]) -> Any:
    yield items


def _fail(waiting: dict[Any, list[Any]], keys: Iterable[Any], error: BaseException) -> None:
    for key in keys:
        for item in waiting[key]:
            if not item.is_computed():
                item.set_error(error)


def _succeed(items: list[Any]) -> None:
    for item in items:
        if not item.is_computed():
            item.set_value(None)
