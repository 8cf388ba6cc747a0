"""The Redis connections of one process: a single server, or a Redis Cluster (``PREALERT_REDIS_CLUSTER``).

Every key the service uses carries a hash tag (``pa:{unit:M12}``, ``pa:{incident:42}:events``,
``pa:{hospital:upmc-mercy}:feed``, ``pa:{region:pittsburgh}:status``), so that the keys of one unit, one incident, one
hospital or one region live on one shard and no command or script spans shards (``dispatch.live``). Pub/sub channels
are not keys: a Cluster delivers a PUBLISH to subscribers on every node.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

RedisClient = Redis | RedisCluster


def connect(url: str, *, cluster: bool, max_connections: int) -> RedisClient:
    """A client whose callers wait (up to 5 s) for a free connection when ``max_connections`` are busy: redis-py's
    default pool raises "Too many connections" at once past 100, which 500 busy tablets reach (found by the side-by-side
    benchmark). In a Cluster the bound is per node and redis-py's cluster client cannot wait, so it is set high."""
    if cluster:
        return RedisCluster.from_url(url, max_connections=max(max_connections, 10_000))
    return Redis.from_pool(BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5))
