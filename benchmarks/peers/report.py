"""Aggregate run records into medians per (slot, peer) and the dbos_queue / pgqueuer table."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .plan import BASELINE, SUBJECT


@dataclass(frozen=True)
class Metric:
    """One figure of a workload: where it sits in ``metrics`` and which way is better."""

    path: str
    label: str
    higher_is_better: bool
    digits: int = 0


METRICS: dict[str, list[Metric]] = {
    "W1": [
        Metric("jobs_per_s", "drain jobs/s", True),
        Metric("first_start_s", "s to first body start", False, 2),
        Metric("durable_tail_s", "s from last body to durable", False, 2),
    ],
    "W2": [
        Metric("latency.p50_ms", "p50 enqueue-to-start ms", False, 1),
        Metric("latency.p95_ms", "p95 ms", False, 1),
        Metric("latency.p99_ms", "p99 ms", False, 1),
        Metric("cpu_ms_per_job.machine", "CPU ms/job (machine)", False, 2),
        Metric("cpu_ms_per_job.postgres", "CPU ms/job (Postgres)", False, 2),
        Metric("cpu_ms_per_job.clients", "CPU ms/job (bench processes)", False, 2),
    ],
    "W3": [
        Metric("jobs_per_s", "single enqueue jobs/s", True),
        Metric("enqueue_call.p50_ms", "enqueue call p50 ms", False, 2),
    ],
    "bulk": [Metric("bulk_jobs_per_s", "bulk enqueue jobs/s", True)],
}
BULK = Metric("bulk_jobs_per_s", "bulk enqueue jobs/s", True)
HEADLINE = {
    "W1": ["jobs_per_s"],
    "W3": ["jobs_per_s"],
    "bulk": ["bulk_jobs_per_s"],
    "W2": [
        "latency.p50_ms",
        "latency.p95_ms",
        "latency.p99_ms",
        "cpu_ms_per_job.machine",
        "cpu_ms_per_job.postgres",
        "cpu_ms_per_job.clients",
    ],
    "herd": ["latency.p50_ms", "cpu_ms_per_job.machine", "cpu_ms_per_job.postgres"],
}


def get(d: Any, path: str) -> Any:
    """``get(rec, "a.b")`` -> rec["a"]["b"] or None."""
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def stat(values: Iterable[Any]) -> dict[str, float] | None:
    """Median, min, max and count of the numeric values, or None if there are none."""
    vals = [v for v in values if isinstance(v, (int, float)) and v == v]
    if not vals:
        return None
    return {
        "median": round(statistics.median(vals), 4),
        "min": round(min(vals), 4),
        "max": round(max(vals), 4),
        "n": len(vals),
    }


def fmt(s: dict[str, float] | None, digits: int = 0) -> str:
    if not s:
        return "—"

    def num(x: float) -> str:
        return f"{x:,.{digits}f}"

    if s["n"] == 1:
        return num(s["median"])
    return f"{num(s['median'])} ({num(s['min'])}-{num(s['max'])})"


def ratio(subject: dict[str, float] | None, base: dict[str, float] | None) -> float | None:
    """Median of the subject over median of the baseline."""
    if not subject or not base or not base["median"]:
        return None
    return round(subject["median"] / base["median"], 3)


def fmt_ratio(r: float | None, higher_is_better: bool) -> str:
    if r is None:
        return "—"
    good = r >= 1 if higher_is_better else r <= 1
    return f"**{r:.2f}x**" if good else f"{r:.2f}x"


def aggregate(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per (slot, peer): settings, ok count, failures and metric stats."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r.get("slot", "?"), r.get("peer", "?")), []).append(r)
    out = []
    for (slot, peer), rs in groups.items():
        wl = rs[0].get("workload", "?")
        metrics = list(METRICS.get(wl, [])) + ([BULK] if wl == "W1" else [])
        ok_runs = [r for r in rs if r.get("ok")]
        out.append(
            {
                "slot": slot,
                "slot_label": rs[0].get("slot_label", slot),
                "peer": peer,
                "workload": wl,
                "workers": rs[0].get("run_workers"),
                "herd": rs[0].get("herd"),
                "steps": rs[0].get("steps"),
                "variant": rs[0].get("variant"),
                "runs": len(rs),
                "ok_runs": len(ok_runs),
                "settings": rs[0].get("settings"),
                "versions": rs[0].get("versions"),
                "failures": [failure_summary(r) for r in rs if not r.get("ok")],
                "metrics": {
                    m.path: stat(get(r, "metrics." + m.path) for r in ok_runs) for m in metrics
                },
            }
        )
    return out


def failure_summary(r: dict[str, Any]) -> dict[str, Any]:
    """The part of a failed run a reader needs: counts, DB view, error tails, log."""
    v = r.get("verify") or {}
    return {
        "round": r.get("round"),
        "log": r.get("log"),
        "timed_out": get(r, "metrics.timed_out"),
        **{k: v.get(k) for k in ("executed", "unique", "missing", "duplicates", "queued")},
        "db": v.get("db"),
        "errors": [e[-400:] for e in r.get("errors", [])],
    }


def bulk_by_peer(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float] | None]:
    """Bulk enqueue jobs/s per peer over every ok W1 and bulk run (same operation)."""
    vals: dict[str, list[Any]] = {}
    for r in runs:
        if r.get("ok") and r.get("workload") in ("W1", "bulk"):
            vals.setdefault(r["peer"], []).append(get(r, "metrics.bulk_jobs_per_s"))
    return {p: stat(v) for p, v in vals.items()}


def headline_rows(
    groups: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]], peers: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of the ratio table: one per (slot, headline metric), plus bulk enqueue."""
    by_slot: dict[str, dict[str, dict[str, Any]]] = {}
    for g in groups:
        by_slot.setdefault(g["slot"], {})[g["peer"]] = g
    rows = []
    for slot, per_peer in by_slot.items():
        any_g = next(iter(per_peer.values()))
        wanted = HEADLINE["herd" if any_g["herd"] else any_g["workload"]]
        for m in METRICS.get(any_g["workload"], []):
            if m.path not in wanted:
                continue
            cells = {
                p: per_peer[p]["metrics"].get(m.path) if p in per_peer else None for p in peers
            }
            rows.append(
                {
                    "slot": slot,
                    "label": any_g["slot_label"],
                    "metric": m,
                    "cells": cells,
                    "herd": bool(any_g["herd"]),
                }
            )
    if not any(r["slot"] == "bulk" for r in rows):
        cells = bulk_by_peer(runs)
        if any(cells.values()):
            rows.append(
                {
                    "slot": "bulk*",
                    "label": "bulk enqueue (W1 setup)",
                    "metric": BULK,
                    "cells": {p: cells.get(p) for p in peers},
                    "herd": False,
                }
            )
    for r in rows:
        r["ratio"] = ratio(r["cells"].get(SUBJECT), r["cells"].get(BASELINE))
    return rows


def ratio_table(rows: Sequence[dict[str, Any]], peers: Sequence[str]) -> str:
    """Markdown: workload, metric, each peer's median (min-max), dbos_queue / pgqueuer."""
    head = ["workload", "metric", "better", *peers, f"{SUBJECT} / {BASELINE}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m: Metric = r["metric"]
        cells = [fmt(r["cells"].get(p), m.digits) for p in peers]
        better = "higher" if m.higher_is_better else "lower"
        lines.append(
            "| "
            + " | ".join(
                [r["label"], m.label, better, *cells, fmt_ratio(r["ratio"], m.higher_is_better)]
            )
            + " |"
        )
    return "\n".join(lines)


def to_json(
    groups: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], meta: dict[str, Any]
) -> str:
    """summary.json: meta, groups and the ratio rows (metrics flattened to dicts)."""
    flat = [
        {
            **r,
            "metric": {
                "path": r["metric"].path,
                "label": r["metric"].label,
                "higher_is_better": r["metric"].higher_is_better,
            },
        }
        for r in rows
    ]
    return json.dumps({**meta, "groups": list(groups), "ratios": flat}, indent=1, default=str)


def detail_table(groups: Sequence[dict[str, Any]], workload: str) -> list[str]:
    """Markdown lines: every metric of one workload, one row per (slot, peer)."""
    gs = [g for g in groups if g["workload"] == workload]
    if not gs:
        return []
    cols = list(METRICS[workload]) + ([BULK] if workload == "W1" else [])
    lines = [
        f"### {workload}",
        "",
        "| slot | peer | variant | ok/runs | " + " | ".join(c.label for c in cols) + " |",
        "|---|---|---|---|" + "---|" * len(cols),
    ]
    for g in gs:
        cells = [fmt(g["metrics"].get(c.path), c.digits) for c in cols]
        lines.append(
            f"| {g['slot_label']} | {g['peer']} | {g['variant']} | "
            f"{g['ok_runs']}/{g['runs']} | " + " | ".join(cells) + " |"
        )
    return [*lines, ""]


def failures_section(groups: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: the exactly-once verdict, and every failed run."""
    bad = [g for g in groups if g["failures"]]
    lines = ["## Exactly-once check", ""]
    if not bad:
        return [
            *lines,
            "Every run passed: each job body ran exactly once (no loss, no "
            "duplicate) and the library's own tables agreed (N completed, "
            "nothing unfinished; enqueue-only runs: exactly N queued).",
            "",
        ]
    for g in bad:
        for f in g["failures"]:
            lines.append(
                f"- **FAILED** {g['peer']} {g['slot_label']} round {f['round']}: "
                f"{json.dumps(f, default=str)[:700]}"
            )
    return [*lines, ""]


def markdown(
    groups: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    meta: dict[str, Any],
    peers: Sequence[str],
) -> str:
    """The whole summary.md."""
    lines = [
        f"# Peer benchmark ({meta['generated_at']})",
        "",
        f"- command: `{meta['command']}`",
        f"- dbos_queue checkout: {meta.get('checkout', '?')}",
        f"- machine: {meta['machine']}",
        f"- postgres: {meta['postgres']}",
        f"- rounds: {meta['rounds']}" + (" (quick mode: small sizes)" if meta.get("quick") else ""),
        "- versions: " + "; ".join(f"{p}: {v}" for p, v in meta["versions"].items()),
        "",
        "Cells: median (min-max) over ok rounds. Ratios compare medians from the "
        "same run; **bold** = dbos_queue is ahead.",
        "",
        "## dbos_queue / pgqueuer",
        "",
        ratio_table(rows, peers),
        "",
        "## Details",
        "",
    ]
    for wl in ("W1", "W2", "W3", "bulk"):
        lines += detail_table(groups, wl)
    return "\n".join(lines + failures_section(groups))
