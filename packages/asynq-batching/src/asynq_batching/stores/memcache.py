"""Batched memcached client on pymemcache (``pip install 'asynq-batching[memcache]'``).

A flush of reads is one ``get k1 k2 ...`` (``get_many``) per server, of writes
one ``set_many``, of deletes one ``delete_many`` (each sends all its commands
at once and then reads the replies: one round trip). With a ``HashClient``
pool the keys are first grouped by the server the pool's hasher assigns them
to, so each server gets one request per flush and the keys land where a plain
``HashClient.get`` would look for them.

Invariants:
- Values go through the codec (JSON by default), so a stored None is the
  bytes ``null``, never confused with a miss.
- Keys are str, bytes, int or float, sent as text: ``1`` as ``"1"``, ``1.5``
  as ``"1.5"`` (as redis-py sends them), bytes decoded as ASCII (UTF-8 if the
  client allows unicode keys), so ``1``, ``"1"`` and ``b"1"`` are one key,
  on the server of the pool ``HashClient.get("1")`` asks. They are checked
  when the call is made with pymemcache's own rules (length, whitespace,
  control characters), ``key_prefix`` included.
- A failing server fails only the items of its keys, with an error naming
  it; the pool's other servers are still asked. ``from_url`` clients have
  connect and read timeouts, so a dead server never hangs the waiting tasks.
- A value the server refuses (``SERVER_ERROR object too large for cache``)
  fails only its own key, with an error naming the key and the value's size:
  pymemcache fails a whole ``set_many`` at the first refusal, so the keys of
  that request are then sent again one by one to learn which of them failed.
- A ``HashClient`` with ``ignore_exc=True`` is honoured as pymemcache does:
  a failing server's keys read as missing and writes to it are dropped
  without an error. Its ``retry_attempts``/``dead_timeout`` are not used: a
  failing server is asked again at every flush and its keys never move to
  another server.
- A ttl over 30 days is sent as a Unix time (memcached reads any expiry
  over 30 days as one), so it cannot end after 2038-01-19 (memcached's
  32-bit clock).
- Under a deadline each request's connect and read timeouts are lowered to
  the time left (the client's own restored after; a pooled client lends
  one of its clients for it). ``max_concurrency`` above 1 needs clients that
  may be used from several threads: a ``PooledClient``, or a ``HashClient``
  with ``use_pooling=True``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

try:
    from pymemcache.client.base import Client, PooledClient, check_key_helper
    from pymemcache.client.hash import HashClient
    from pymemcache.exceptions import (
        MemcacheClientError,
        MemcacheError,
        MemcacheIllegalInputError,
        MemcacheServerError,
        MemcacheUnknownError,
    )
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asynq_batching.stores.memcache needs pymemcache: pip install 'asynq-batching[memcache]'"
    ) from error

from asynq_core.lowlevel import remaining_time

from .base import SET, Codec, _ServerStore, _with_context, check_timeout

__all__ = ["MemcacheStore", "parse_memcached_url"]

# What memcached answers to a command it refuses: it still carries out the
# other commands of the request.
_REFUSALS = (MemcacheClientError, MemcacheServerError, MemcacheUnknownError)
# memcached reads an expiry of more than 30 days as a Unix time, and keeps 32-bit times.
_MAX_RELATIVE_EXPIRE = 30 * 24 * 3600
_MAX_UNIX_TIME = 2**31 - 1


def parse_memcached_url(url: str) -> list[tuple[str, int]]:
    """The servers of ``memcached://host:port[,host:port...]`` (port 11211 by default)."""
    prefix = "memcached://"
    if not isinstance(url, str) or not url.startswith(prefix):
        raise ValueError(f"parse_memcached_url() takes a memcached:// URL, got {url!r}")
    servers = []
    for spec in url[len(prefix) :].rstrip("/").split(","):
        spec = spec.strip()
        host, colon, port = spec.rpartition(":")
        if not colon or host.endswith(":"):  # no port (or a bare IPv6 address)
            host, port = spec, ""
        host = host.strip("[]")
        if not host or (port and not port.isdigit()):
            raise ValueError(f"parse_memcached_url(): bad server {spec!r} in {url!r}")
        servers.append((host, int(port) if port else 11211))
    return servers


class MemcacheStore(_ServerStore):
    """Batched ``get``/``set``/``delete`` on a pymemcache ``Client``,
    ``PooledClient`` or ``HashClient`` (a pool of servers).

    ``key_prefix`` is prepended to every key on the wire; values are encoded
    with ``codec`` (``JsonCodec()`` by default); ``ttl`` (seconds, None for
    never; memcached counts whole seconds; it must end before 2038-01-19)
    applies to every ``set``. ``max_concurrency``: see ``BatchedStore``;
    above 1 only with a pooled client (see the module docstring).
    """

    # A pymemcache Client owns one socket: two flushes must not use it at once.
    fetch_in_thread = False

    client: Client | PooledClient | HashClient

    def __init__(
        self,
        client: Client | PooledClient | HashClient,
        *,
        key_prefix: str = "",
        codec: Codec | None = None,
        ttl: float | None = None,
        max_batch_size: int = 500,
        max_concurrency: int | None = None,
    ) -> None:
        if not isinstance(client, (Client, PooledClient, HashClient)):
            raise TypeError(
                "MemcacheStore() needs a pymemcache Client, PooledClient or HashClient, "
                f"got {client!r}"
            )
        super().__init__(
            client,
            key_prefix=key_prefix,
            codec=codec,
            ttl=ttl,
            max_batch_size=max_batch_size,
            max_concurrency=max_concurrency,
        )
        pooled = isinstance(client, PooledClient) or (
            isinstance(client, HashClient) and bool(getattr(client, "use_pooling", False))
        )
        if max_concurrency is not None and max_concurrency > 1 and not pooled:
            raise ValueError(
                f"MemcacheStore(max_concurrency={max_concurrency!r}): {type(client).__name__} "
                "owns one socket per server, which two requests cannot share; use a "
                "PooledClient, or HashClient(use_pooling=True)"
            )
        self.expire = 0 if self.ttl is None else math.ceil(self.ttl)
        if self.expire > _MAX_RELATIVE_EXPIRE and time.time() + self.expire > _MAX_UNIX_TIME:
            raise ValueError(
                f"MemcacheStore(): ttl={ttl!r} would end after 2038-01-19, the last time "
                "memcached can keep; use ttl=None for values that never expire"
            )
        self.is_pool = isinstance(client, HashClient)
        # A pool that ignores errors: a failed request reads as misses, writes are dropped.
        self.ignore_exc = self.is_pool and bool(getattr(client, "ignore_exc", False))

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 5.0,
        key_prefix: str = "",
        codec: Codec | None = None,
        ttl: float | None = None,
        max_batch_size: int = 500,
        max_concurrency: int | None = None,
        **client_options: Any,
    ) -> MemcacheStore:
        """A store on a new client for ``memcached://host:port`` (a ``HashClient``
        for ``memcached://host1:port1,host2:port2``). ``timeout`` (seconds)
        bounds each wait on a server, to connect and for each reply; nothing is
        retried, so a hung server fails a request after ``timeout``. With
        ``max_concurrency`` above 1 the client is pooled (a ``PooledClient``,
        or a ``HashClient`` with ``use_pooling=True``). ``client_options`` go
        to pymemcache."""
        servers = parse_memcached_url(url)
        check_timeout("MemcacheStore.from_url()", timeout)
        options = {"connect_timeout": timeout, "timeout": timeout, **client_options}
        client: Client | PooledClient | HashClient
        if len(servers) > 1:
            if max_concurrency is not None and max_concurrency > 1:
                options.setdefault("use_pooling", True)
            client = HashClient(servers, **options)
        elif max_concurrency is not None and max_concurrency > 1:
            client = PooledClient(servers[0], **options)
        else:
            client = Client(servers[0], **options)
        return cls(
            client,
            key_prefix=key_prefix,
            codec=codec,
            ttl=ttl,
            max_batch_size=max_batch_size,
            max_concurrency=max_concurrency,
        )

    def _encode_key(self, method: str, key: str | bytes | int | float) -> str:
        client = self.client
        unicode_keys = bool(getattr(client, "allow_unicode_keys", False))
        if isinstance(key, bytes):
            try:
                text = key.decode("utf-8" if unicode_keys else "ascii")
            except UnicodeDecodeError:
                charset = "UTF-8" if unicode_keys else "ASCII"
                raise ValueError(
                    f"MemcacheStore.{method}(): invalid key {key!r}: bytes keys must be "
                    f"{charset} text"
                ) from None
        else:
            text = key if isinstance(key, str) else repr(key)
        wire = self.key_prefix + text
        try:
            check_key_helper(wire, unicode_keys, getattr(client, "key_prefix", b""))
        except MemcacheIllegalInputError as error:
            raise ValueError(f"MemcacheStore.{method}(): invalid key {key!r}: {error}") from None
        return wire

    def _partition(self, keys: list[Any]) -> Iterable[tuple[str | None, list[Any]]]:
        client = self.client
        if not isinstance(client, HashClient):  # what is_pool says, for checkers
            return [(None, keys)]
        hasher = client.hasher
        by_server: dict[str, list[Any]] = {}
        for key in keys:
            server = hasher.get_node(key)
            if server is None:
                raise MemcacheError(f"{self!r}: the server pool has no servers")
            by_server.setdefault(server, []).append(key)
        return list(by_server.items())

    def _run(self, server: str | None, method: str, failed: Any, *args: Any, **kwargs: Any) -> Any:
        """Calls ``method`` of the client of ``server`` (a server of the pool, or
        the client itself); in a pool with ``ignore_exc`` its errors give ``failed``."""
        client: Any = self.client
        if server is not None and isinstance(client, HashClient):
            client = client.clients[server]
        left = remaining_time()
        try:
            if left is None:
                return getattr(client, method)(*args, **kwargs)
            with _within(client, left) as bounded:
                return getattr(bounded, method)(*args, **kwargs)
        except Exception:
            if not self.ignore_exc:
                raise
            return failed

    def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
        found: Mapping[Any, Any] = self._run(server, "get_many", {}, keys)
        return found

    def _store(
        self, server: str | None, values: dict[Any, Any]
    ) -> Collection[Any] | Mapping[Any, BaseException | None]:
        expire = self.expire
        if expire > _MAX_RELATIVE_EXPIRE:
            expire += int(time.time())
        try:
            refused: Collection[Any] = self._run(
                server, "set_many", (), values, expire=expire, noreply=False
            )
        except _REFUSALS as error:
            if len(values) > 1:
                return self._store_each(server, values, expire)
            [(key, data)] = values.items()
            return {key: self._refusal(error, server, key, data)}
        return refused

    def _store_each(
        self, server: str | None, values: dict[Any, Any], expire: int
    ) -> dict[Any, BaseException | None]:
        """Sets each key on its own (one more request each): the keys it refuses,
        to their errors (None for a value memcached did not store)."""
        refused: dict[Any, BaseException | None] = {}
        for key, data in values.items():
            self._announce(SET, server, [key])
            try:
                if not self._run(server, "set", False, key, data, expire=expire, noreply=False):
                    refused[key] = None
            except _REFUSALS as error:
                refused[key] = self._refusal(error, server, key, data)
        return refused

    def _refusal(self, error: Exception, server: str | None, key: Any, data: Any) -> Exception:
        size = f" ({len(data)} bytes)" if isinstance(data, bytes) else ""
        return _with_context(error, self._describe_request(SET, server, [key], size))

    def _server_name(self, server: str | None) -> str | None:
        if server is not None:
            return server
        address = getattr(self.client, "server", None)
        if isinstance(address, tuple):
            return ":".join(map(str, address))
        return None if address is None else str(address)

    def _remove(self, server: str | None, keys: list[Any]) -> None:
        self._run(server, "delete_many", None, keys, noreply=False)

    def __repr__(self) -> str:
        kind = "pool" if self.is_pool else "server"
        return f"<MemcacheStore {kind} prefix={self.key_prefix!r}>"


@contextlib.contextmanager
def _within(client: Client | PooledClient, left: float) -> Iterator[Client]:
    """``client`` (for a pooled one, one of its clients) with its connect and
    read timeouts at most ``left`` seconds while the block runs."""
    if isinstance(client, PooledClient):
        with client.client_pool.get_and_release(destroy_on_fail=True) as lent:
            with _within(lent, left) as bounded:
                yield bounded
        return
    timeout, connect_timeout = client.timeout, client.connect_timeout
    # pymemcache applies them when it connects; a connected socket is set here.
    client.timeout = _lower(timeout, left)
    client.connect_timeout = _lower(connect_timeout, left)
    if client.sock is not None:
        client.sock.settimeout(client.timeout)
    try:
        yield client
    finally:
        client.timeout, client.connect_timeout = timeout, connect_timeout
        if client.sock is not None:
            client.sock.settimeout(timeout)


def _lower(timeout: float | None, left: float) -> float:
    left = max(left, 0.001)  # a timeout of 0 would make the socket non-blocking
    return left if timeout is None else min(timeout, left)
