"""Real servers for the store tests: redis-server and memcached on 127.0.0.1.

Each fixture starts its own server processes on free ports (once per test
session), waits until they answer, and stops them at the end. When a
binary or the Python client is missing the tests that need it are skipped,
except under CI (``CI=true``), where a missing server is a failure: CI is
meant to install them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 10.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def _binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        _unavailable(f"{name} is not installed")
    return path  # type: ignore[return-value]


def _python_client(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        _unavailable(f"the Python package {module!r} is not installed")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(also_free_offset: int | None = None) -> int:
    """A free TCP port on 127.0.0.1 (and port + offset free too, if asked)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if also_free_offset is None:
            return port
        if port + also_free_offset < 65536 and _port_is_free(port + also_free_offset):
            return port
    raise RuntimeError("no free port found")


@dataclass
class Server:
    """A server process we started."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self) -> None:
        # Killed outright: the servers keep nothing on disk, and a graceful
        # memcached shutdown waits for its clients.
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _wait_until_listening(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with socket.create_connection(server.address, timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    server.stop()
    raise RuntimeError(
        f"{server.name} on port {server.port} did not start; its output:\n"
        + server.log.read_text(errors="replace")
    )


def _start(name: str, command: list[str], port: int, workdir: Path) -> Server:
    log = workdir / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Server(name, port, process, log)
    _wait_until_listening(server)
    return server


def start_redis(workdir: Path, cluster: bool = False) -> Server:
    binary = _binary("redis-server")
    port = free_port(also_free_offset=10000 if cluster else None)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    if cluster:
        command += [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            "2000",
        ]
    return _start("redis-server", command, port, workdir)


def start_memcached(workdir: Path) -> Server:
    binary = _binary("memcached")
    port = free_port()
    command = [binary, "-p", str(port), "-l", "127.0.0.1", "-U", "0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command += ["-u", "root"]  # memcached refuses to run as root unless told whom to be
    return _start("memcached", command, port, workdir)


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def redis_server(server_dir: Path) -> Iterator[Server]:
    _python_client("redis")
    server = start_redis(server_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def memcached_server(server_dir: Path) -> Iterator[Server]:
    _python_client("pymemcache")
    server = start_memcached(server_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def memcached_pair(server_dir: Path) -> Iterator[tuple[Server, Server]]:
    """Two memcached servers, for a HashClient pool."""
    _python_client("pymemcache")
    first = start_memcached(server_dir)
    try:
        second = start_memcached(server_dir)
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="session")
def redis_cluster(server_dir: Path) -> Iterator[tuple[Server, Server]]:
    """A Redis Cluster of two masters: slots 0-8191 on the first, the rest on the second."""
    _python_client("redis")
    import redis

    nodes: list[Server] = []
    try:
        nodes.append(start_redis(server_dir, cluster=True))
        nodes.append(start_redis(server_dir, cluster=True))
        first, second = nodes
        clients = [redis.Redis(*node.address, socket_timeout=5) for node in nodes]
        clients[0].execute_command("CLUSTER", "ADDSLOTS", *range(0, 8192))
        clients[1].execute_command("CLUSTER", "ADDSLOTS", *range(8192, 16384))
        clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", second.port)
        _wait_for_cluster(clients)
        for client in clients:
            client.close()
        yield first, second
    finally:
        for node in nodes:
            node.stop()


def _wait_for_cluster(clients: list[Any]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        infos = [client.cluster("info") for client in clients]
        if all(
            info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == 2
            for info in infos
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the Redis cluster did not form: {infos}")


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """A TCP port that accepts connections and never answers (a hung server)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()
    finally:
        listener.close()


class Listener:
    """A TCP port that accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.setblocking(False)
        self.accepted: list[socket.socket] = []

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()
        return host, port

    def connections(self) -> int:
        """How many connections clients have opened so far (the kernel accepts
        them for us: each is counted once it is taken from the backlog)."""
        while True:
            try:
                connection, _ = self.socket.accept()
            except BlockingIOError:
                return len(self.accepted)
            self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.socket.close()


@pytest.fixture
def hung_server() -> Iterator[Listener]:
    """A hung server whose connections are counted (a retry opens a new one)."""
    listener = Listener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return free_port()
