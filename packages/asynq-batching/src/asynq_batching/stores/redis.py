"""Batched Redis client on redis-py (``pip install 'asynq-batching[redis]'``).

A flush of reads is one ``MGET``, of writes one pipeline of ``SET`` (one
round trip), of deletes one ``DEL``. With a ``RedisCluster`` the keys of a
flush are first grouped by the node that owns their slot: each node gets one
request, in which redis-py sends one ``MGET`` per slot (Redis refuses
multi-key commands across slots) pipelined in a single round trip.

Invariants:
- Values go through the codec (JSON by default), so a stored None is the
  bytes ``null`` and never looks like a missing key (MGET's nil).
- Keys are str, bytes, int or float, encoded by the client's own encoder
  (``1`` as ``b"1"``, ``1.5`` as ``b"1.5"``, str in the client's encoding),
  so ``get(1)`` and ``get("1")`` read the same Redis key, as with redis-py;
  ``key_prefix`` is prepended on the wire, never seen by callers.
- ``from_url`` clients have socket timeouts (a dead server fails the waiting
  tasks with redis' TimeoutError/ConnectionError instead of hanging them),
  and retry only requests whose connection broke, never one that timed out:
  a hung server fails a request after ``timeout``, not after
  ``(retries + 1) * timeout``. Clients built by the caller keep the caller's
  settings.
- Under a deadline, a request runs on a connection of the client's pool
  whose socket timeout is lowered to the time left (restored after), so a
  hung server fails it when the deadline passes. It is sent as redis-py
  sends it (one MGET, pipelined SETs or DELs; with a cluster, one round
  trip per node holding one command per slot), retried as the client's
  retries say (not redirected when a cluster's slots move meanwhile).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.cluster import RedisCluster
    from redis.retry import Retry
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asynq_batching.stores.redis needs redis-py: pip install 'asynq-batching[redis]'"
    ) from error

from asynq_core.lowlevel import remaining_time

from .base import Codec, _ServerStore, check_timeout

__all__ = ["RedisStore"]


class RedisStore(_ServerStore):
    """Batched ``get``/``set``/``delete`` on a ``redis.Redis`` or ``redis.RedisCluster``.

    ``key_prefix`` is prepended to every key on the wire; values are encoded
    with ``codec`` (``JsonCodec()`` by default; ``BytesCodec()`` for raw
    bytes); ``ttl`` (seconds, None for never) applies to every ``set``.
    ``is_cluster`` tells whether the client is a ``RedisCluster``.
    ``max_concurrency``: see ``BatchedStore`` (redis-py's clients may be used
    from several threads, each request taking a connection of the pool).
    """

    client: redis.Redis | RedisCluster

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        key_prefix: str = "",
        codec: Codec | None = None,
        ttl: float | None = None,
        max_batch_size: int = 1000,
        max_concurrency: int | None = None,
    ) -> None:
        if not isinstance(client, (redis.Redis, RedisCluster)):
            raise TypeError(
                f"RedisStore() needs a redis.Redis or redis.RedisCluster, got {client!r}"
            )
        super().__init__(
            client,
            key_prefix=key_prefix,
            codec=codec,
            ttl=ttl,
            max_batch_size=max_batch_size,
            max_concurrency=max_concurrency,
        )
        self.ttl_ms = None if self.ttl is None else max(1, round(self.ttl * 1000))
        self.is_cluster = isinstance(client, RedisCluster)
        self._encoder = client.get_encoder()
        self._wire_prefix = cast(bytes, self._encoder.encode(key_prefix))

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 1,
        cluster: bool = False,
        key_prefix: str = "",
        codec: Codec | None = None,
        ttl: float | None = None,
        max_batch_size: int = 1000,
        max_concurrency: int | None = None,
        **client_options: Any,
    ) -> RedisStore:
        """A store on a new client for ``url`` (``redis://host:port/db``).

        ``timeout`` (seconds) bounds each wait on the server, to connect and
        for each reply; a request that times out is not retried, so a hung
        server fails it after ``timeout``. ``retries`` (an int >= 0) is how
        many times a request whose connection broke (refused, reset, closed
        by the server: errors that come fast) is sent again. With
        ``cluster=True`` the URL names one node of a Redis Cluster, and
        redis-py's cluster client retries timeouts too (it refreshes the
        cluster's layout between tries): a request to a hung node waits up to
        ``(retries + 1) * timeout``. ``client_options`` go to redis-py."""
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"RedisStore.from_url() takes a redis:// URL, got {url!r}")
        check_timeout("RedisStore.from_url()", timeout)
        # redis-py retries forever for a negative count.
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"RedisStore.from_url(): retries must be an int >= 0, got {retries!r}")
        # Only broken connections are retried: a retried timeout would make
        # the caller wait (retries + 1) * timeout for a hung server.
        retry = Retry(NoBackoff(), retries, supported_errors=(redis.ConnectionError,))
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": retry,
            **client_options,
        }
        client: redis.Redis | RedisCluster
        if cluster:
            client = RedisCluster.from_url(url, **options)
        else:
            client = redis.Redis.from_url(url, **options)
        return cls(
            client,
            key_prefix=key_prefix,
            codec=codec,
            ttl=ttl,
            max_batch_size=max_batch_size,
            max_concurrency=max_concurrency,
        )

    def _encode_key(self, method: str, key: str | bytes | int | float) -> bytes:
        try:
            # bytes, for the types _check_key lets through
            return self._wire_prefix + cast(bytes, self._encoder.encode(key))
        except UnicodeError as error:
            raise ValueError(
                f"RedisStore.{method}(): cannot encode the key {key!r}: {error}"
            ) from None

    def _replay_key_of(self, wire_key: bytes) -> Any:
        # As text when it is UTF-8, which a recording's JSON keeps: every wire
        # key is bytes, so no text key can be mistaken for another key.
        try:
            return wire_key.decode("utf-8")
        except UnicodeDecodeError:
            return wire_key

    def _server_name(self, server: str | None) -> str | None:
        if server is not None or isinstance(self.client, RedisCluster):
            return server
        options = self.client.connection_pool.connection_kwargs
        if "path" in options:
            return str(options["path"])
        return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"

    def _partition(self, keys: list[Any]) -> Iterable[tuple[str | None, list[Any]]]:
        cluster = self.client
        if not isinstance(cluster, RedisCluster):  # what is_cluster says, for checkers
            return [(None, keys)]
        by_node: dict[str, list[Any]] = {}
        for key in keys:
            node = cluster.get_node_from_key(key)
            if node is None:
                raise redis.RedisError(f"{self!r}: the cluster has no node for key {key!r}")
            by_node.setdefault(node.name, []).append(key)
        return list(by_node.items())

    def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
        client = self.client
        left = remaining_time()
        if left is not None:
            parts = self._by_slot(keys)
            values = []
            for reply in self._within(left, server, [("MGET", *part) for part in parts]):
                values += reply
            keys = [key for part in parts for key in part]
        elif isinstance(client, RedisCluster):  # what is_cluster says, for checkers
            values = client.mget_nonatomic(keys)
        else:
            values = client.mget(keys)
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    def _store(self, server: str | None, values: dict[Any, Any]) -> Collection[Any]:
        left = remaining_time()
        if left is not None:
            expiry = () if self.ttl_ms is None else ("PX", self.ttl_ms)
            commands = [("SET", key, data, *expiry) for key, data in values.items()]
            replies = self._within(left, server, commands)
        else:
            if self.is_cluster:
                pipe = self.client.pipeline()
            else:
                pipe = self.client.pipeline(transaction=False)
            for key, data in values.items():
                pipe.set(key, data, px=self.ttl_ms)
            replies = pipe.execute()
        return [key for key, reply in zip(values, replies, strict=True) if not reply]

    def _remove(self, server: str | None, keys: list[Any]) -> None:
        left = remaining_time()
        if left is not None:
            if self.is_cluster:  # one key per DEL, as redis-py's cluster pipeline sends it
                self._within(left, server, [("DEL", key) for key in keys])
            else:
                self._within(left, server, [("DEL", *keys)])
            return
        if not self.is_cluster:
            self.client.delete(*keys)
            return
        # A cluster pipeline takes one key per DEL; it still sends one round trip per node.
        pipe = self.client.pipeline()
        for key in keys:
            pipe.delete(key)
        pipe.execute()

    def _by_slot(self, keys: list[Any]) -> list[list[Any]]:
        """The keys in groups Redis takes in one multi-key command: all of them,
        or with a cluster one group per hash slot."""
        cluster = self.client
        if not isinstance(cluster, RedisCluster):
            return [keys]
        slots: dict[int, list[Any]] = {}
        for key in keys:
            slots.setdefault(cluster.keyslot(key), []).append(key)
        return list(slots.values())

    def _within(
        self, left: float, server: str | None, commands: list[tuple[Any, ...]]
    ) -> list[Any]:
        """The replies of ``commands``, sent in one round trip to ``server`` (the
        client's only server, or a cluster node) on a connection of its pool
        whose socket timeout is at most ``left`` seconds, what is left of the
        flush's deadline, for the whole request. An error reply of a command
        is raised once every reply was read."""
        client: Any = self.client
        if isinstance(client, RedisCluster):
            node = client.get_node(node_name=server)
            if node is None:
                raise redis.RedisError(f"{self!r}: the cluster has no node {server!r}")
            client = client.get_redis_connection(node)
        pool = client.connection_pool
        try:
            connection = pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants a command name
            connection = pool.get_connection(commands[0][0])
        until = time.monotonic() + left
        own = connection.socket_timeout
        own_connect = connection.socket_connect_timeout
        limit = math.inf if own is None else own

        def request() -> list[Any]:
            left = until - time.monotonic()
            if left <= 0:
                raise redis.TimeoutError("the deadline passed before the request was sent")
            connection.socket_connect_timeout = min(left, limit)
            connection.connect()
            _set_socket_timeout(connection, min(left, limit))
            connection.send_packed_command(connection.pack_commands(commands))
            replies: list[Any] = []
            first_error = None
            for _ in commands:
                left = until - time.monotonic()
                if left <= 0:
                    connection.disconnect()  # replies unread: the connection cannot be reused
                    raise redis.TimeoutError("the deadline passed while reading the replies")
                _set_socket_timeout(connection, min(left, limit))
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as error:  # the other replies must still be read
                    replies.append(None)
                    if first_error is None:
                        first_error = error
            if first_error is not None:
                raise first_error
            return replies

        def broken(error: Exception) -> None:
            connection.disconnect()

        try:
            # The client's retries (from_url: only of broken connections, never
            # of timeouts), as redis-py's own commands get them.
            retry = getattr(connection, "retry", None)
            return request() if retry is None else retry.call_with_retry(request, broken)
        finally:
            _set_socket_timeout(connection, own)
            connection.socket_connect_timeout = own_connect
            pool.release(connection)

    def __repr__(self) -> str:
        kind = "cluster" if self.is_cluster else "redis"
        return f"<RedisStore {kind} prefix={self.key_prefix!r}>"


def _set_socket_timeout(connection: Any, timeout: float | None) -> None:
    """Sets the timeout of ``connection``'s socket if it is connected (redis-py
    sets its socket timeout only when it connects)."""
    sock = getattr(connection, "_sock", None)
    if sock is not None:
        sock.settimeout(timeout)
