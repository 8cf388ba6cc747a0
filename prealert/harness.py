"""Running real ``prealert serve`` processes for tests and benchmarks: free ports, readiness, clean stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Backends:
    redis_url: str
    database_url: str
    redis_cluster: bool = False  # redis_url is one node of a Redis Cluster


@dataclass
class Service:
    """One running ``prealert serve`` process."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(
    backends: Backends, data_dir: Path, *, secret: str, port: int | None = None, **extra_env: str
) -> Service:
    """Start ``prealert serve`` on ``port`` (a free one by default) against ``backends``; wait until it is ready."""
    port = port or free_port()
    env = {
        **os.environ,
        "PREALERT_PORT": str(port),
        "PREALERT_DATA_DIR": str(data_dir),
        "PREALERT_REDIS_URL": backends.redis_url,
        "PREALERT_REDIS_CLUSTER": "1" if backends.redis_cluster else "0",
        "PREALERT_DATABASE_URL": backends.database_url,
        "PREALERT_TOKEN_SECRET": secret,
        "PREALERT_PRINT_TOKENS": "0",
        "PREALERT_LOG_LEVEL": "WARNING",
        "PREALERT_DRAIN_GRACE_S": "0",  # tests and benchmarks stop at once (the drain test sets its own)
        **extra_env,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"service-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "prealert", "serve"], env=env, stdout=log, stderr=log)
    service = Service(port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{service.http}/readyz", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"service not ready in 60 s: {log_path.read_text()[-3000:]}")
