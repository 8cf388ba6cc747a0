"""Fixtures for every tier. The suite starts its own real Redis and PostgreSQL (the embedded servers, on private
Unix sockets) unless ``PREALERT_TEST_REDIS_URL`` and ``PREALERT_TEST_DATABASE_URL`` name external ones, and runs
the service as real ``prealert serve`` processes on free ports. With ``PREALERT_TEST_REDIS_CLUSTER=1`` the Redis is a
Cluster: the one named by the URL, or else a real three-master cluster the suite starts (``make test-cluster``)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from dispatch import redis_client, tokens
from dispatch.redis_client import RedisClient
from prealert import harness
from prealert.client import DashboardClient, TabletClient
from prealert.embedded import EmbeddedServers
from prealert.harness import Backends, Service
from prealert.redis_cluster import RedisClusterServers

SECRET = secrets.token_urlsafe(32)
REGION = "pittsburgh"


def iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def token(role: tokens.Role, scope: str, *, ttl_s: int = 3600, now: int | None = None, secret: str = SECRET) -> str:
    return tokens.issue(
        secret, role=role, scope=scope, subject=f"test-{role}", now=now or int(time.time()), ttl_s=ttl_s
    )


def start_service(backends: Backends, data_dir: Path, port: int | None = None, **extra_env: str) -> Service:
    """A service for tests: no flood limit, so that a test can send a thousand frames at once."""
    env = {"PREALERT_TABLET_RATE_PER_S": "100000", "PREALERT_TABLET_BURST": "100000", **extra_env}
    return harness.start_service(backends, data_dir, secret=SECRET, port=port, **env)


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    redis_url, database_url = (
        os.environ.get("PREALERT_TEST_REDIS_URL"),
        os.environ.get("PREALERT_TEST_DATABASE_URL"),
    )
    cluster = os.environ.get("PREALERT_TEST_REDIS_CLUSTER", "0") in ("1", "true", "yes")
    if redis_url and database_url:
        yield Backends(redis_url, database_url, redis_cluster=cluster)
        return
    servers = EmbeddedServers(tmp_path_factory.mktemp("servers"))
    nodes = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")) if cluster else None
    servers.start()
    try:
        if nodes is not None:
            nodes.start()
            yield Backends(nodes.url, servers.database_url, redis_cluster=True)
        else:
            yield Backends(servers.redis_url, servers.database_url)
    finally:
        if nodes is not None:
            nodes.stop()
        servers.stop()


def redis_of(backends: Backends) -> RedisClient:
    """A client of the suite's Redis (a Cluster client when it is one)."""
    return redis_client.connect(backends.redis_url, cluster=backends.redis_cluster, max_connections=8)


@pytest.fixture(scope="session")
def service(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = start_service(backends, tmp_path_factory.mktemp("service"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
async def db(backends: Backends, service: Service) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(backends.database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


_counter = [0]


def unique_unit(prefix: str = "T") -> str:
    """A unit id no other test (or earlier run against the same servers) uses."""
    _counter[0] += 1
    return f"{prefix}{os.getpid() % 10000}x{int(time.time() * 1000) % 10**7}x{_counter[0]}"


@dataclass
class Scene:
    """An incident with a unit assigned and a destination set, and clients for its tablet and the ED."""

    incident: int
    unit: str
    hospital: str
    service: Service

    def tablet(self, service: Service | None = None) -> TabletClient:
        return TabletClient((service or self.service).ws, self.unit, token("paramedic", self.unit))

    def dashboard(self, service: Service | None = None, last_id: str | None = None) -> DashboardClient:
        return DashboardClient((service or self.service).ws, self.hospital, token("ed", self.hospital), last_id=last_id)

    def vitals(self, **values: Any) -> dict[str, Any]:
        return {"type": "vitals", "incident": self.incident, "taken_at": iso(), **values}


async def dispatcher_call(
    service: Service, method: str, path: str, body: Any = None, auth: str | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {auth or token('dispatcher', REGION)}"}
    async with httpx.AsyncClient(base_url=service.http, timeout=10) as client:
        return await client.request(method, path, json=body, headers=headers)


async def make_scene(service: Service, hospital: str = "upmc-mercy") -> Scene:
    created = await dispatcher_call(
        service,
        "POST",
        "/v1/incidents",
        {"location": {"lat": 40.44, "lon": -79.99}, "complaint": "chest pain", "priority": 1},
    )
    assert created.status_code == 201, created.text
    incident = int(created.json()["id"])
    unit = unique_unit()
    assert (await dispatcher_call(service, "POST", f"/v1/incidents/{incident}/assign", {"unit": unit})).is_success
    routed = await dispatcher_call(
        service, "POST", f"/v1/incidents/{incident}/destination", {"hospital": hospital, "reason_code": "4220015"}
    )
    assert routed.is_success, routed.text
    return Scene(incident=incident, unit=unit, hospital=hospital, service=service)


async def transfer_care(service: Service, scene: Scene) -> None:
    """The ED takes the patient over, once the crew's arrival (already acked) has reached the live state."""
    ed = {"authorization": f"Bearer {token('ed', scene.hospital)}"}
    path = f"/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/transfer"
    async with httpx.AsyncClient(base_url=service.http, timeout=10) as client:
        for _ in range(50):
            done = await client.post(path, headers=ed)
            if done.status_code != 409:  # 409: no arrival yet
                break
            await asyncio.sleep(0.05)
    assert done.status_code == 200, done.text


def in_minutes(minutes: float) -> str:
    return iso(datetime.now(UTC) + timedelta(minutes=minutes))
