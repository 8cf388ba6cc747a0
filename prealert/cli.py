"""``prealert``: ``serve`` the service (``--simulate``: with a living city), ``simulate`` a city against a service,
print the protocol's JSON ``schema``, issue a ``token``, create an ``account``, ``audit verify`` the audit chain."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from dispatch import accounts, audit_log, pg, protocol, region, tokens
from dispatch.errors import ConflictError, ProtocolError
from dispatch.settings import Settings
from prealert import bootstrap, logs
from prealert.embedded import EmbeddedServers
from prealert.sim import command as simulation

SCHEMA_PATH = Path("docs/protocol.schema.json")


def schema_text() -> str:
    return json.dumps(protocol.schema(), indent=2, sort_keys=True) + "\n"


def _demo_links(settings: Settings, secret: str) -> list[str]:
    """The pages, each with a token for a demo unit, the dispatcher and every ED (in the fragment: never sent)."""
    now, ttl = int(time.time()), int(settings.token_ttl.total_seconds())
    base = f"http://{settings.host}:{settings.port}"

    def token(role: tokens.Role, scope: str) -> str:
        return tokens.issue(secret, role=role, scope=scope, subject=f"demo-{role}", now=now, ttl_s=ttl)

    lines = [
        f"  tablet (unit M1):   {base}/tablet#unit=M1&token={token('paramedic', 'M1')}",
        f"  dispatch console:   {base}/console#token={token('dispatcher', settings.region)}",
    ]
    for hospital in region.load(settings.regions_dir, settings.region).hospitals.values():
        charge = token("ed_charge", hospital.id)
        lines.append(f"  ED {hospital.id + ':':<19} {base}/dashboard#hospital={hospital.id}&token={charge}")
    return lines


class _Stopped(Exception):
    """Raised by the signal uvicorn re-raises after its graceful shutdown, so that ours runs too."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def _print_tasks() -> None:
    """``kill -USR1``: what every task of the event loop is waiting on, to stderr (a process that will not stop)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()} {task.get_coro()!r}", file=out)
        task.print_stack(limit=12, file=out)
    print(out.getvalue(), file=sys.stderr, flush=True)


class _DrainingServer(uvicorn.Server):
    """uvicorn, with a drain on the first SIGTERM or SIGINT (``dispatch.drain``: not ready, sockets kept for the
    grace, then closed with 1001, then stop). A second signal stops at once."""

    def __init__(self, config: uvicorn.Config, *, app: Any, grace_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace_s = grace_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._drain_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[Any] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGUSR1, _print_tasks)
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._draining or self._loop is None or not hasattr(self._app.state, "services"):
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self._loop.call_soon_threadsafe(self._start_drain, sig, frame)

    def _start_drain(self, sig: int, frame: Any) -> None:
        async def drain() -> None:
            await self._app.state.services.drain.run(self._grace_s)
            super(_DrainingServer, self).handle_exit(sig, frame)

        self._drain_task = asyncio.get_running_loop().create_task(drain())


def _simulator(settings: Settings, secret: str) -> subprocess.Popen[bytes]:
    """``prealert simulate`` in real time against this service, as a child process (it waits for readiness)."""
    any_address = {"0.0.0.0", "::"}  # noqa: S104 - recognising the wildcard, not binding to it
    url = f"http://{'127.0.0.1' if settings.host in any_address else settings.host}:{settings.port}"
    # Busier than the city's real rate (4.6/h), so that a demo shows patients within minutes.
    command = [sys.executable, "-m", "prealert", "simulate", "--url", url, "--minutes", "100000"]
    command += ["--rate-per-hour", "20"]
    env = {**os.environ, "PREALERT_SIM_SECRET": secret}
    return subprocess.Popen(command, env=env, start_new_session=True)


def serve(settings: Settings, *, simulate: bool = False) -> int:
    logs.configure(settings.log_level)
    embedded: EmbeddedServers | None = None
    if (settings.redis_url is None) != (settings.database_url is None):
        print("set both PREALERT_REDIS_URL and PREALERT_DATABASE_URL, or neither (embedded)", file=sys.stderr)
        return 2
    redis_url, database_url = settings.redis_url, settings.database_url
    simulator: subprocess.Popen[bytes] | None = None
    if redis_url is None or database_url is None:
        embedded = EmbeddedServers(settings.data_dir)
        embedded.start()
        redis_url, database_url = embedded.redis_url, embedded.database_url
    try:
        app = bootstrap.create_app(settings, redis_url=redis_url, database_url=database_url)
        if settings.print_tokens:
            links = _demo_links(settings, bootstrap.token_secret(settings))
            print("prealert is starting. Pages:\n" + "\n".join(links), flush=True)
        if simulate:
            simulator = _simulator(settings, bootstrap.token_secret(settings))
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            ws_max_size=max(settings.max_frame_bytes, settings.max_binary_frame_bytes),
            log_config=None,
            lifespan="on",
            ws_ping_interval=10,
            # Off by default: deflating every 1-2 KB frame cost the server more CPU than any other single step
            # (profiled under the side-by-side benchmark); a vitals message is a few hundred bytes a second.
            ws_per_message_deflate=settings.ws_compression,
            ws_ping_timeout=20,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _raise_stopped)
        _DrainingServer(config, app=app, grace_s=settings.drain_grace_s).run()
    except _Stopped:
        pass
    finally:
        if simulator is not None:
            simulator.terminate()
            try:
                simulator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                simulator.kill()
        if embedded is not None:
            embedded.stop()
    return 0


async def _with_database(settings: Settings, args: argparse.Namespace) -> int:
    """The commands that work on the running service's database (the embedded one's, unless its URL is set)."""
    url = settings.database_url or EmbeddedServers(settings.data_dir).database_url
    pool = await pg.connect(url, max_size=2)
    try:
        if args.command == "audit":
            verdict = await audit_log.verify(pool)
            if verdict.intact:
                print(f"audit log intact: {verdict.checked} entries")
                return 0
            print(f"audit log broken at entry {verdict.broken_at}: {verdict.reason} ({verdict.checked} entries fit)")
            return 1
        password = os.environ.get("PREALERT_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
        the_region = region.load(settings.regions_dir, settings.region)
        try:
            await accounts.create_account(
                pool,
                args.username,
                args.role,
                password,
                args.scope,
                region=the_region.name,
                hospitals=frozenset(the_region.hospitals),
            )
        except (ProtocolError, ConflictError) as exc:
            print(f"not created: {exc}", file=sys.stderr)
            return 2
        print(f"account {args.username} ({args.role}) created")
        return 0
    finally:
        await pool.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prealert", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    served = sub.add_parser("serve", help="run the service (embedded Redis and PostgreSQL unless their URLs are set)")
    served.add_argument("--simulate", action="store_true", help="and a simulated city against it, in real time")
    simulation.add_arguments(sub.add_parser("simulate", help="simulate a living city against a service"))
    schema = sub.add_parser("schema", help="print the wire protocol's JSON Schema, or write it with --write")
    schema.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH}")
    token = sub.add_parser("token", help="issue an access token (signed with the service's secret)")
    token.add_argument("--role", choices=tokens.ROLES, required=True)
    token.add_argument("--scope", required=True, help="the unit, region or hospital id")
    token.add_argument("--subject", default="cli")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    audit = sub.add_parser("audit", help="check the audit log")
    audit.add_argument("action", choices=["verify"], help="walk the hash chain; exit 1 at the first broken entry")
    account = sub.add_parser("account", help="create an account (password from PREALERT_PASSWORD, else a prompt)")
    account.add_argument("username")
    account.add_argument("--role", choices=tokens.ROLES, required=True)
    account.add_argument("--scope", help="the hospital, for ED roles and hospital systems")
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    if args.command in ("audit", "account"):
        return asyncio.run(_with_database(settings, args))
    if args.command == "serve":
        return serve(settings, simulate=args.simulate)
    if args.command == "simulate":
        return simulation.main(args, settings)
    if args.command == "schema":
        if args.write:
            SCHEMA_PATH.write_text(schema_text())
        else:
            sys.stdout.write(schema_text())
        return 0
    print(
        tokens.issue(
            bootstrap.token_secret(settings),
            role=args.role,
            scope=args.scope,
            subject=args.subject,
            now=int(time.time()),
            ttl_s=args.ttl,
        )
    )
    return 0
