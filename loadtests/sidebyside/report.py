"""The side-by-side results as a Markdown table and a PNG of latency percentiles against rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.sidebyside.workloads import Step


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def line(step: Step) -> str:
    flag = " GENERATOR LAGGED (discarded)" if step.lagged else ""
    return (
        f"{step.workload:5} {step.system:20} {step.rate:6.0f} msg/s  p50 {_ms(step.p50)}  p99 {_ms(step.p99)}  "
        f"p99.9 {_ms(step.p999)}  max {_ms(step.max)} ms  ack p99 {_ms(step.ack_p99)}  "
        f"delivered {step.delivered}/{step.expected}  lost {step.lost} dup {step.duplicated} unacked {step.unacked} "
        f"refused {step.refused}  "
        f"lag p99 {_ms(step.lag_p99)}{flag}"
    )


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"Run {results['date']} on {m['cpus']} cores, {m['memory_gib']} GiB ({m['platform']}, Python {m['python']}).",
        "Runs: " + "; ".join(f"`{r['command']}` ({r['date']})" for r in results.get("runs", [results])) + ".",
        "",
        "| workload | system | msg/s | tablet→dashboard p50 / p99 / p99.9 / max (ms) | ack p99 (ms) | delivered "
        "| lost | dup | generator lag p99 (ms) | CPU % (servers; redis; postgres; generator) | peak RSS MiB (servers) "
        "|",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results["steps"]:
        cpu = s["cpu"]
        servers = sum(v for k, v in cpu.items() if k.startswith("server"))
        redis = cpu.get("redis", 0) + cpu.get("redis-cluster", 0)  # the one the system used; the other idles
        rss = sum(v for k, v in s["peak_rss_mib"].items() if k.startswith("server"))
        lag = _ms(s["lag_p99"]) + (" **lagged: discarded**" if s["lagged"] else "")
        out.append(
            f"| {s['workload']} | {s['system']} | {s['rate']:.0f} | {_ms(s['p50'])} / {_ms(s['p99'])} / "
            f"{_ms(s['p999'])} / {_ms(s['max'])} | {_ms(s['ack_p99'])} | {s['delivered']}/{s['expected']} | "
            f"{s['lost']} | {s['duplicated']} | {lag} | {servers:.0f}; {redis:.0f}; "
            f"{cpu.get('postgres', 0):.0f}; {cpu.get('generator', 0):.0f} | {rss:.0f} |"
        )
    best = highest_clean(results["steps"])
    if best:
        out += ["", "Highest clean rate in the ramp (p99 ≤ 100 ms, nothing lost, generator not lagging):", ""]
        out += [f"- {system}: {rate:.0f} msg/s" for system, rate in best.items()]
    for name, scenario in results.get("scenarios", {}).items():
        out += ["", f"**{name}**: " + "; ".join(f"{k} {v}" for k, v in scenario.items())]
    return "\n".join(out) + "\n"


def highest_clean(steps: list[dict[str, Any]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for s in steps:
        if s["workload"] != "ramp" or s["lagged"]:
            continue
        clean = not (s["lost"] or s["duplicated"] or s["unacked"] or s.get("refused")) and (s["p99"] or 0) <= 100
        if clean:
            best[s["system"]] = max(best.get(s["system"], 0.0), s["rate"])
        else:
            best.setdefault(s["system"], 0.0)
    return best


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key, title in ((axes[0], "p50", "p50"), (axes[1], "p99", "p99")):
        systems = sorted({s["system"] for s in results["steps"] if s["workload"] == "ramp"})
        for system in systems:
            chosen = [
                s for s in results["steps"] if s["system"] == system and s["workload"] == "ramp" and s[key] is not None
            ]
            points = sorted((s["rate"], s[key]) for s in chosen if not s["lagged"])
            if points:
                line = ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=system)[0]
                lagged = [(s["rate"], s[key]) for s in chosen if s["lagged"]]
                ax.scatter([p[0] for p in lagged], [p[1] for p in lagged], marker="x", color=line.get_color())
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("messages per second (all tablets)")
        ax.set_title(f"tablet → dashboard latency, {title} (ramp; x: generator lagged)")
        ax.axhline(100, color="grey", linestyle=":", linewidth=1)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms (from the scheduled send)")
    axes[1].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Side by side, {results['date']}, {results['machine']['cpus']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
