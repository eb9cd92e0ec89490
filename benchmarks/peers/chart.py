"""PNG charts from summary.json (needs matplotlib: ``pip install -e '.[bench]'``).

Usage: ``python chart.py OUTDIR/summary.json OUTDIR`` -> ``OUTDIR/peers.png`` (throughput,
W2 latency and CPU per job, each peer's median with min-max whiskers and the
dbos_queue / pgqueuer ratio over dbos_queue's bar) and, if the run had a herd,
``OUTDIR/herd.png`` (W2 CPU ms per job and p50 latency against worker processes).
Standalone on purpose (no package imports), so any interpreter with matplotlib runs it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {
    "dbos_queue": "#1f77b4",
    "pgqueuer": "#ff7f0e",
    "dbos": "#2ca02c",
    "procrastinate": "#9467bd",
}
SUBJECT = "dbos_queue"


def _panel(
    ax: Any,
    rows: Sequence[dict[str, Any]],
    peers: Sequence[str],
    title: str,
    ylabel: str,
    log: bool = False,
) -> None:
    """Grouped bars: one group per row, one bar per peer, ratio text over dbos_queue."""
    width = 0.8 / max(1, len(peers))
    for i, peer in enumerate(peers):
        xs, ys, lo, hi = [], [], [], []
        for j, r in enumerate(rows):
            c = r["cells"].get(peer)
            if c:
                xs.append(j + (i - (len(peers) - 1) / 2) * width)
                ys.append(c["median"])
                lo.append(c["median"] - c["min"])
                hi.append(c["max"] - c["median"])
        ax.bar(
            xs, ys, width, yerr=[lo, hi], capsize=2, label=peer, color=COLORS.get(peer, "#7f7f7f")
        )
        if peer == SUBJECT:
            for x, y, r in zip(xs, ys, [r for r in rows if r["cells"].get(peer)], strict=True):
                if r.get("ratio") is not None:
                    ax.annotate(
                        f"{r['ratio']:.2f}x",
                        (x, y),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        xytext=(0, 3),
                        textcoords="offset points",
                    )
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([_short(r) for r in rows], fontsize=7, rotation=20, ha="right")
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def _short(row: dict[str, Any]) -> str:
    label: str = (
        row["label"].replace(" workers", "w").replace(" worker", "w").replace("-step wf", "-step")
    )
    if row["metric"]["path"].endswith("jobs_per_s"):
        return label
    metric: str = row["metric"]["label"].replace(" enqueue-to-start", "")
    return metric + "\n" + label


def _pick(rows: Sequence[dict[str, Any]], test: Callable[[str], bool]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("herd") and test(r["metric"]["path"])]


def peers_chart(summary: dict[str, Any], out: Path) -> Path | None:
    """Throughput, latency and CPU panels; None if there is nothing to draw."""
    rows, peers = summary["ratios"], summary["peers"]
    panels = [
        (
            _pick(rows, lambda p: p.endswith("jobs_per_s")),
            "throughput (jobs/s)",
            "jobs/s (log)",
            True,
        ),
        (
            _pick(rows, lambda p: p.startswith("latency.")),
            "W2 enqueue-to-start latency",
            "ms",
            False,
        ),
        (_pick(rows, lambda p: p.startswith("cpu_ms_per_job.")), "W2 CPU per job", "ms", False),
    ]
    panels = [p for p in panels if p[0]]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, (prow, title, ylabel, log) in zip(axes[0], panels, strict=True):
        _panel(ax, prow, peers, title, ylabel, log)
    fig.suptitle(
        f"{SUBJECT} vs peers — numbers over {SUBJECT}'s bars: {SUBJECT} / pgqueuer "
        f"({summary['generated_at']}, {summary['rounds']} round(s))",
        fontsize=10,
    )
    fig.tight_layout()
    path = out / "peers.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _herd_groups(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Herd groups plus the plain 1-worker W2 groups with the same steps (the w=1 point)."""
    herd = [g for g in summary["groups"] if g.get("herd") and g.get("ok_runs")]
    steps = {g.get("steps") for g in herd}
    plain = [
        g
        for g in summary["groups"]
        if g["workload"] == "W2"
        and not g.get("herd")
        and g.get("steps") in steps
        and g.get("ok_runs")
    ]
    return herd + plain if herd else []


def _median(g: dict[str, Any], path: str) -> float | None:
    return (g["metrics"].get(path) or {}).get("median")


def _herd_line(
    ax: Any,
    groups: Sequence[dict[str, Any]],
    peer: str,
    path: str,
    style: str,
    label: str,
    base: dict[int, float | None],
) -> dict[int, float | None]:
    """Plot one peer's metric against worker count; dbos_queue points get the ratio."""
    gs = sorted((g for g in groups if g["peer"] == peer), key=lambda g: g["workers"])
    pts = {g["workers"]: _median(g, path) for g in gs}
    ws = [w for w, y in pts.items() if y is not None]
    ax.plot(ws, [pts[w] for w in ws], style, color=COLORS.get(peer, "#7f7f7f"), label=label)
    if peer == SUBJECT:
        for w in ws:
            b, y = base.get(w), pts[w]
            if b and y is not None:
                ax.annotate(
                    f"{y / b:.2f}x",
                    (w, y),
                    fontsize=7,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
    return pts


def herd_chart(summary: dict[str, Any], out: Path) -> Path | None:
    """W2 CPU ms/job and p50 latency against worker count, one line per peer."""
    groups = _herd_groups(summary)
    if not groups:
        return None
    peers = [p for p in summary["peers"] if p != "pgqueuer"]
    peers = (["pgqueuer"] if "pgqueuer" in summary["peers"] else []) + peers  # baseline first
    fig, (ax_cpu, ax_lat) = plt.subplots(1, 2, figsize=(11, 4.2))
    base: dict[str, dict[int, float | None]] = {}
    for peer in peers:
        for key, style in (("machine", "-o"), ("postgres", "--s")):
            path = f"cpu_ms_per_job.{key}"
            pts = _herd_line(
                ax_cpu, groups, peer, path, style, f"{peer} ({key})", base.get(path, {})
            )
            base.setdefault(path, pts)
        pts = _herd_line(ax_lat, groups, peer, "latency.p50_ms", "-o", peer, base.get("p50", {}))
        base.setdefault("p50", pts)
    ticks = sorted({g["workers"] for g in groups})
    for ax, title, ylabel in (
        (ax_cpu, "W2 CPU per job vs workers", "CPU ms/job"),
        (ax_lat, "W2 p50 enqueue-to-start vs workers", "ms"),
    ):
        ax.set_title(title + " (labels: dbos_queue / pgqueuer)", fontsize=9)
        ax.set_xlabel("worker processes", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = out / "herd.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def main(argv: Sequence[str]) -> int:
    summary = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    for path in (peers_chart(summary, out), herd_chart(summary, out)):
        if path:
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
