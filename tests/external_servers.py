"""Empty the external servers the integration suite is about to use (``make test-external``): a fresh PostgreSQL
database, an empty Redis database. Nothing else on those servers is touched.

    python -m tests.external_servers redis://127.0.0.1:6379/0 postgresql://postgres@127.0.0.1:5432/prealert_test
"""

from __future__ import annotations

import asyncio
import re
import sys

import asyncpg
from redis.asyncio import Redis


async def reset(redis_url: str, database_url: str) -> None:
    server, _, name = database_url.rpartition("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing to recreate database {name!r}: not a plain name")
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    print(f"reset {database_url} and {redis_url}")


if __name__ == "__main__":
    asyncio.run(reset(sys.argv[1], sys.argv[2]))
