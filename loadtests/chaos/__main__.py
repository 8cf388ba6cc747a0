"""Faults on purpose, and the audit that nothing was lost (``make chaos``; a short version is in the test suite,
``tests/integration/test_chaos.py``).

    python -m loadtests.chaos                          # every fault: 200 tablets at 1/s, 20 ED screens, 30 s each,
                                                       # PostgreSQL stopped 60 s
    python -m loadtests.chaos --tablets 50 --seconds 15 --outage 10 --faults redis-empty,postgres

It runs on its own embedded Redis and PostgreSQL and two ``prealert serve`` processes, and prints one row per fault:
events sent, acked, stored, lost, stored twice, delivered to the screens against expected, missing, duplicated and
out of order on a screen, the time to recover (from the end of the fault until every tablet has everything it sent
acked), reconnects and resets. It exits 1 if any row is not clean (zero lost and zero duplicated is the bar).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from loadtests.chaos.faults import Sizes, Stage, all_faults, run_fault
from loadtests.chaos.kit import Audit, table

OUT = Path(__file__).parent.parent.parent / "docs" / "performance"

NAMES = {
    "proxy": "flaky link (proxy)",
    "kill": "kill -9 one of two processes",
    "redis": "Redis restart (AOF)",
    "redis-empty": "Redis restart empty",
    "postgres": "PostgreSQL stopped",
    "storm": "reconnect storm",
    "skew": "clock skew ±10 min",
}


async def run(args: argparse.Namespace) -> int:
    sizes = Sizes(tablets=args.tablets, screens=args.screens, seconds=args.seconds, outage_s=args.outage)
    wanted = {NAMES[f] for f in args.faults}
    audits: list[Audit] = []
    with tempfile.TemporaryDirectory(prefix="prealert-chaos-") as tmp:
        stage = Stage(Path(tmp))
        await stage.start()
        try:
            for name, strike, proxy, skew in all_faults(sizes):
                if not any(name.startswith(w) for w in wanted):
                    continue
                print(f"{name}: running", flush=True)
                kwargs = {"skew": skew} if skew is not None else {}
                result = await run_fault(stage, name, sizes, strike, proxy=proxy, **kwargs)
                audits.append(result)
                print(table([result]).splitlines()[-1], flush=True)
        finally:
            await stage.stop()
            if keep := os.environ.get("CHAOS_KEEP_LOGS"):  # the services' logs, for a post-mortem
                _keep_logs(Path(tmp), Path(keep))
    shape = (f"{sizes.tablets} tablets at 1 vitals per {sizes.period_s:g} s, {sizes.screens} ED screens, "
             f"{sizes.seconds:g} s per fault, PostgreSQL stopped {sizes.outage_s:g} s")  # fmt: skip
    print()
    print(shape)
    print(table(audits))
    _write(shape, table(audits))
    return 0 if all(a.clean for a in audits) else 1


def _keep_logs(folder: Path, keep: Path) -> None:
    for log in folder.rglob("service-*.log"):
        shutil.copy(log, keep / f"{log.parent.name}-{log.name}")


def _write(shape: str, rows: str) -> None:
    """The latest run's table, with its machine, date and command, for docs/guarantees.md to cite."""
    OUT.mkdir(parents=True, exist_ok=True)
    command = "python -m loadtests.chaos " + " ".join(sys.argv[1:])
    lines = [
        "# Faults on purpose: the latest `make chaos`",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- command: `{command.strip()}`",
        f"- machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        f"- shape: {shape}",
        "",
        rows,
    ]
    (OUT / "chaos.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", type=int, default=200)
    parser.add_argument("--screens", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="streaming time per fault")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds PostgreSQL is stopped")
    parser.add_argument("--faults", type=lambda t: [f.strip() for f in t.split(",")], default=list(NAMES))
    args = parser.parse_args()
    if unknown := set(args.faults) - set(NAMES):
        parser.error(f"unknown faults {sorted(unknown)}; choose from {sorted(NAMES)}")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
