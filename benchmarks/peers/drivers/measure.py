"""Statistics, CPU accounting and the exactly-once check (standard library only)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

Record = tuple[int, float, float]  # (seq, body start time, enqueue time)
_TICK = os.sysconf("SC_CLK_TCK")


def pct(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` (0..1) of ``values``."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def dist(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean/min of durations given in seconds, reported in ms."""
    if not seconds:
        return {}
    ms = [v * 1000 for v in seconds]
    out = {f"p{int(q * 100)}_ms": round(pct(ms, q) or 0.0, 3) for q in (0.50, 0.95, 0.99)}
    out.update(
        max_ms=round(max(ms), 3), mean_ms=round(statistics.fmean(ms), 3), min_ms=round(min(ms), 3)
    )
    return out


def _proc_table() -> dict[int, tuple[int, float, float]]:
    """pid -> (ppid, own cpu s, reaped children's cpu s) for every live process."""
    table: dict[int, tuple[int, float, float]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own = (int(parts[11]) + int(parts[12])) / _TICK
        reaped = (int(parts[13]) + int(parts[14])) / _TICK
        table[int(d)] = (int(parts[1]), own, reaped)
    return table


def _tree_cpu(table: dict[int, tuple[int, float, float]], root: int) -> float:
    """CPU seconds of ``root`` and every descendant, live or already reaped."""
    if root not in table:
        return 0.0
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    total, todo = table[root][2], [root]
    while todo:
        pid = todo.pop()
        total += table[pid][1]
        todo += kids.get(pid, [])
    return total


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat minus idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / _TICK


def cpu_snapshot(pg_pid: int | None) -> dict[str, float]:
    """CPU seconds so far: the machine, this benchmark's process tree (``clients``:
    producer + workers) and the Postgres cluster (postmaster and all its backends,
    including exited ones, which the postmaster has reaped)."""
    table = _proc_table()
    snap = {"machine": machine_cpu(), "clients": _tree_cpu(table, os.getpid())}
    if pg_pid:
        snap["postgres"] = _tree_cpu(table, pg_pid)
    return snap


def cpu_ms_per_job(
    before: dict[str, float], after: dict[str, float], jobs: int
) -> dict[str, float]:
    """Per-job CPU milliseconds for every key of the two snapshots."""
    return {k: round(1000 * (after[k] - before[k]) / max(1, jobs), 3) for k in before}


def verify(
    records: list[Record], n: int, db: dict[str, object], expect_completed: int | None
) -> dict[str, object]:
    """Exactly-once check of the bodies with seq 0..n-1, and of the library's tables."""
    seen: dict[int, int] = {}
    for seq, _, _ in records:
        if seq >= 0:
            seen[seq] = seen.get(seq, 0) + 1
    missing = [s for s in range(n) if s not in seen]
    dups = {s: c for s, c in seen.items() if c > 1}
    out: dict[str, object] = {
        "executed": sum(seen.values()),
        "unique": len(seen),
        "missing": len(missing),
        "duplicates": sum(c - 1 for c in dups.values()),
        "unexpected": len([s for s in seen if s >= n]),
        "db": db,
    }
    if missing:
        out["missing_sample"] = missing[:10]
    if dups:
        out["duplicate_sample"] = list(dups.items())[:10]
    ok = not missing and not dups and out["unexpected"] == 0 and db.get("consistent", True)
    if expect_completed is not None:
        ok = ok and db.get("remaining") == 0 and db.get("completed") == expect_completed
        if "completed_distinct" in db:
            ok = ok and db["completed_distinct"] == expect_completed
    out["ok"] = ok
    return out


def verify_queued(n: int, db: dict[str, object]) -> dict[str, object]:
    """Enqueue-only workloads: exactly ``n`` jobs waiting, none completed."""
    ok = db.get("remaining") == n and db.get("completed") == 0 and db.get("consistent", True)
    return {
        "queued": db.get("remaining"),
        "db": db,
        "ok": ok,
        "note": "no worker runs; checks that exactly n jobs are queued",
    }
