"""The stores example of packages/asynq-batching/README.md, run as written on
real servers (only its addresses and file name are replaced), with integer
user ids, synchronously, in one round of tasks and under asyncio."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

from asynq_core import asynq

README = Path(__file__).resolve().parents[2] / "packages" / "asynq-batching" / "README.md"


def stores_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    [block] = [block for block in blocks if "RedisStore.from_url(" in block]
    return str(block)


def test_the_readme_stores_example_runs_with_integer_ids(
    redis_server: Any, memcached_pair: Any, tmp_path: Path
) -> None:
    import redis

    database = tmp_path / "app.db"
    with sqlite3.connect(database) as setup:
        setup.execute("CREATE TABLE users (uid INTEGER PRIMARY KEY, name TEXT)")
        setup.executemany("INSERT INTO users VALUES (?, ?)", [(1, "Ada"), (2, "Bo"), (3, "Cy")])
    example = stores_example()
    for written, used in [
        ('"app.db"', repr(str(database))),
        ("redis://127.0.0.1:6379/0", f"redis://127.0.0.1:{redis_server.port}/0"),
        (
            "memcached://10.0.0.1:11211,10.0.0.2:11211",
            "memcached://" + ",".join(f"127.0.0.1:{server.port}" for server in memcached_pair),
        ),
    ]:
        assert written in example
        example = example.replace(written, used)
    namespace: dict[str, Any] = {}
    exec(compile(example, str(README), "exec"), namespace)
    name_of_user, users, cache, pool = (
        namespace[name] for name in ("name_of_user", "users", "cache", "pool")
    )
    server = redis.Redis(*redis_server.address)
    server.delete("app:1", "app:2", "app:3", "app:4")
    try:
        assert name_of_user(1) == "Ada"  # from SQL, then cached
        assert server.get("app:1") == b'"Ada"'

        @asynq()
        def all_names(uids: list[int]) -> Any:
            return (yield [name_of_user.asynq(uid) for uid in uids])

        requests = users.request_count
        assert all_names([1, 2, 3, 4]) == ["Ada", "Bo", "Cy", namespace["MISSING"]]
        assert users.request_count == requests + 1  # 2, 3 and 4 in one SELECT
        assert server.mget("app:2", "app:3", "app:4") == [b'"Bo"', b'"Cy"', None]
        assert asyncio.run(all_names.asyncio([3, 1])) == ["Cy", "Ada"]
        assert namespace["names"][0].value() == "Ada"

        pool.set_many({uid: name_of_user(uid) for uid in (1, 2, 3)})
        assert pool.get_many([1, 2, 3]) == {1: "Ada", 2: "Bo", 3: "Cy"}
    finally:
        server.delete("app:1", "app:2", "app:3")
        server.close()
        for store in (users, cache, pool):
            store.close()
