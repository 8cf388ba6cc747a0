"""The embedded default: ``prealert serve`` with no configuration starts its own Redis and PostgreSQL under the data
folder, stops them on SIGTERM/SIGINT without orphans (even when killed with -9), and a restart reuses the data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from dispatch import pg
from prealert.embedded import EmbeddedServers
from prealert.harness import free_port
from tests.conftest import SECRET


def processes_under(folder: Path) -> list[int]:
    """Pids of live processes whose command line names ``folder`` (the embedded servers do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if str(folder) in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def wait_until(predicate: object, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


async def test_restart_reuses_the_data(tmp_path: Path) -> None:
    servers = EmbeddedServers(tmp_path / "data")
    servers.start()
    try:
        redis.Redis.from_url(servers.redis_url).set("kept", "yes")
        conn = await asyncpg.connect(servers.database_url)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
        await conn.close()
    finally:
        servers.stop()
    assert processes_under((tmp_path / "data").resolve()) == []

    again = EmbeddedServers(tmp_path / "data")
    again.start()
    try:
        assert redis.Redis.from_url(again.redis_url).get("kept") == b"yes"
        conn = await asyncpg.connect(again.database_url)
        assert await conn.fetchval("SELECT v FROM kept") == "yes"
        await conn.close()
    finally:
        again.stop()


def serve_embedded(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREALERT_")}
    env.update(PREALERT_PORT=str(port), PREALERT_DATA_DIR=str(data_dir), PREALERT_TOKEN_SECRET=SECRET)
    with (data_dir.parent / "stdout.txt").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prealert", "serve"], env=env, stdout=out, stderr=subprocess.DEVNULL
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(ready, 60), "embedded service did not become ready"
    return process, base


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_its_own_servers_and_stops_them_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    data = (tmp_path / "data").resolve()
    process, base = serve_embedded(data)
    try:
        check_serving(process, base, data, sig, tmp_path)
    finally:
        process.kill()


def check_serving(process: subprocess.Popen[bytes], base: str, data: Path, sig: signal.Signals, tmp_path: Path) -> None:
    body = httpx.get(f"{base}/readyz").json()
    latest = pg.migrations()[-1][0]
    assert body == {"ready": True, "redis": True, "postgres": True, "migrations": True, "schema_version": latest}
    assert len(processes_under(data)) >= 2  # redis-server and postgres (and postgres's own workers)
    process.send_signal(sig)
    assert process.wait(30) == 0
    printed = (tmp_path / "stdout.txt").read_text()
    for page in ("/tablet#unit=M1&token=", "/console#token=", "/dashboard#hospital=upmc-mercy&token="):
        assert page in printed
    assert wait_until(lambda: processes_under(data) == [], 10), processes_under(data)


def test_kill_9_leaves_no_orphans_and_the_data_survives(tmp_path: Path) -> None:
    data = (tmp_path / "data").resolve()
    process, _ = serve_embedded(data)
    process.kill()
    process.wait()
    assert wait_until(lambda: processes_under(data) == [], 20), processes_under(data)
    again, base = serve_embedded(data)  # PostgreSQL recovers from the crash; Redis replays its append-only file
    try:
        assert httpx.get(f"{base}/readyz").json()["ready"] is True
        again.terminate()
        assert again.wait(30) == 0
    finally:
        again.kill()
