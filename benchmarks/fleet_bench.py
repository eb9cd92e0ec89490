"""Fleet workloads for ``benchmarks.queue_bench`` (issue 12): what each worker and each
producer added to a fleet costs.

- IDLE: N workers listening to an idle queue for S seconds: CPU of the workers and of
  Postgres per second, and every statement they sent (background duties).
- HERD: W2's paced enqueues (one ``DBOSClient.enqueue`` each) with 2 and with N worker
  processes: Postgres CPU and worker CPU per job, claims (and empty claims) per job,
  enqueue-to-start p50/p99. The claims per job show the damped wake-up at work.
- PRODUCERS: 1 and N producer processes (``benchmarks/_producer.py``), each a
  ``DBOSClient`` doing one enqueue per transaction, started together; enqueues/s of all
  of them, alternated over rounds; with ``--pgqueuer-python`` the same for pgqueuer in
  the same run.

Server CPU is the embedded Postgres's own process tree (not the machine's other
Postgres servers); with ``--db-url`` it is not measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import psycopg

from dbos_queue.api.client import DBOSClient
from dbos_queue.model import serialization as ser

from . import _common as C
from .queue_bench import ROOT, Bench, merge_counts, remaining, start_workers, stats_delta
from .queue_bench import stop_workers as _stop


def idle_fleet(b: Bench, workers: int, seconds: float) -> dict[str, Any]:
    """N idle workers: CPU per second and statements per worker per second."""
    queue = "w2"
    b.fresh()
    b.set_paused(queue, False)
    C.status(f"IDLE: starting {workers} workers")
    ws = start_workers(b.url, queue, workers, b.stats_dir)
    try:
        time.sleep(3.0)  # start-up done: registrations, first refreshes
        st0 = [w.stats() for w in ws]
        cpu0 = b.cpu_now(ws)
        C.status(f"IDLE: measuring {seconds:.0f}s")
        time.sleep(seconds)
        cpu1 = b.cpu_now(ws)
        st1 = [w.stats() for w in ws]
    finally:
        _stop(ws)
    split = b.cpu_split(cpu0, cpu1, 0)
    wall = split["wall_s"]
    counts = merge_counts([stats_delta(a, z) for a, z in zip(st0, st1, strict=True)])
    return {
        "workers": workers,
        "seconds": wall,
        "worker_cpu_ms_per_s_each": round(split["workers_cpu_s"] / wall / workers * 1e3, 2),
        "server_cpu_ms_per_s": round((split["server_cpu_s"] or 0) / wall * 1e3, 2),
        "statements_per_s_each": round(sum(counts.values()) / wall / workers, 3),
        "statements_per_s_each_by_kind": {
            k: round(v / wall / workers, 3) for k, v in counts.items()
        },
        "cpu": split,
    }


def herd(b: Bench, workers: int, rate: float, seconds: float) -> dict[str, Any]:
    """Paced single enqueues with ``workers`` worker processes."""
    queue = "w2"
    b.fresh()
    b.set_paused(queue, False)
    C.status(f"HERD: starting {workers} workers")
    ws = start_workers(b.url, queue, workers, b.stats_dir)
    samples: list[tuple[str, float]] = []
    try:
        time.sleep(2.0)
        opts = {"queue_name": queue, "workflow_name": "bench_q_one"}
        with DBOSClient(b.url) as client:
            for i in range(20):
                client.enqueue(opts, i)  # type: ignore[arg-type]
            time.sleep(1.0)
            st0 = [w.stats() for w in ws]
            cpu0 = b.cpu_now(ws)
            b.pgss_reset()
            n = int(rate * seconds)
            progress = C.Progress(f"HERD {workers} workers at {rate:.0f}/s", n)
            t0 = time.perf_counter()
            for i in range(n):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                before = time.time()
                h = client.enqueue(opts, i)  # type: ignore[arg-type]
                samples.append((h.workflow_id, before))
                progress.tick()
            progress.close()
            with psycopg.connect(b.url, autocommit=True) as conn:
                deadline = time.monotonic() + 30
                while remaining(conn, queue) and time.monotonic() < deadline:
                    time.sleep(0.05)
            cpu1 = b.cpu_now(ws)
            st1 = [w.stats() for w in ws]
            produced = time.perf_counter() - t0
            pg_statements = b.pgss_read()
    finally:
        _stop(ws)
    rows = dict(
        b.sql(
            "SELECT workflow_uuid, output FROM dbos.workflow_status WHERE workflow_uuid = ANY(%s)"
            " AND status = 'SUCCESS'",
            ([s[0] for s in samples],),
            fetch=True,
        )
    )
    lat = [ser.deserialize(rows[w]) - t for w, t in samples if w in rows]
    n = len(samples)
    counts = merge_counts([stats_delta(a, z) for a, z in zip(st0, st1, strict=True)])
    split = b.cpu_split(cpu0, cpu1, n)
    return {
        "workers": workers,
        "rate": rate,
        "n": n,
        "started": len(lat),
        "achieved_rate": round(n / produced, 1),
        "from_enqueue_call": C.latency_ms(lat) if lat else None,
        "claims_per_job": round(
            sum(counts.get(k, 0) for k in ("CLAIM", "CLAIM_FREE", "CLAIM_PARTITIONED")) / n, 3
        ),
        "worker_statements_per_job": round(sum(counts.values()) / n, 3),
        "worker_statements_by_kind_per_job": {k: round(v / n, 3) for k, v in counts.items()},
        "server_cpu_us_per_job": split.get("server_cpu_us_per_wf"),
        "workers_cpu_us_per_job": split.get("workers_cpu_us_per_wf"),
        "cpu": split,
        "pg_statements": pg_statements,
    }


def _spawn(python: str, b: Bench, queue: str, start_at: float, seconds: float, pgq: bool):
    cmd = [python, "-m", "benchmarks._producer", b.url, queue, str(start_at), str(seconds)]
    if pgq:
        cmd.append("--pgqueuer")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _round(b: Bench, n: int, seconds: float, python: str, pgq: bool) -> dict[str, Any]:
    queue = "pgqbench" if pgq else "w3"
    start_at = time.time() + 4.0 + 0.3 * n  # every producer connected and warmed up
    procs = [_spawn(python, b, queue, start_at, seconds, pgq) for _ in range(n)]
    out = []
    for p in procs:
        line = (p.communicate(timeout=seconds + 120)[0] or "").strip().splitlines()
        if p.returncode != 0 or not line:
            raise RuntimeError(f"producer exited with {p.returncode}")
        out.append(json.loads(line[-1]))
    total = sum(x["enqueued"] for x in out)
    wall = max(x["wall_s"] for x in out)
    return {
        "peer": "pgqueuer" if pgq else "dbos_queue",
        "producers": n,
        "enqueued": total,
        "enqueues_per_s": round(total / wall, 1),
        "producer_cpu_us_per_enqueue": round(sum(x["cpu_s"] for x in out) / total * 1e6, 1),
        "p50_ms": sorted(x["p50_ms"] for x in out)[len(out) // 2],
        "p99_ms": max(x["p99_ms"] for x in out),
    }


def producers(
    b: Bench, n: int, seconds: float, rounds: int = 2, pgqueuer_python: str | None = None
) -> dict[str, Any]:
    """1 and ``n`` producers, alternated over ``rounds`` (and pgqueuer's, if given)."""
    b.fresh()
    b.set_paused("w3", False)
    runs: list[dict[str, Any]] = []
    if pgqueuer_python:
        subprocess.run(
            [pgqueuer_python, "-m", "benchmarks._producer", b.url, "--install-pgqueuer"],
            cwd=ROOT,
            check=True,
        )
    kinds = [False] + ([True] if pgqueuer_python else [])
    for r in range(rounds):
        for pgq in kinds:
            for k in (1, n) if r % 2 == 0 else (n, 1):
                C.status(f"PRODUCERS round {r + 1}: {k} {'pgqueuer' if pgq else 'dbos_queue'}")
                python = pgqueuer_python if pgq else sys.executable
                assert python is not None
                res = _round(b, k, seconds, python, pgq)
                res["round"] = r + 1
                runs.append(res)
    summary: dict[str, Any] = {}
    for peer in ("dbos_queue", "pgqueuer"):
        one = [x["enqueues_per_s"] for x in runs if x["peer"] == peer and x["producers"] == 1]
        many = [x["enqueues_per_s"] for x in runs if x["peer"] == peer and x["producers"] == n]
        if one and many:
            summary[peer] = {
                "one": one,
                "many": many,
                "ratio_many_to_one": round(sum(many) / sum(one), 3),
            }
    return {"producers": n, "seconds": seconds, "runs": runs, "summary": summary}


def report(r: dict[str, Any]) -> None:
    """Print the fleet workloads' figures (called by queue_bench.report)."""
    if "IDLE" in r:
        x = r["IDLE"]
        print(
            f"\nIDLE {x['workers']} workers, {x['seconds']:.0f}s: worker CPU "
            f"{x['worker_cpu_ms_per_s_each']} ms/s each, Postgres {x['server_cpu_ms_per_s']} "
            f"ms/s, {x['statements_per_s_each']} statements/s per worker: "
            f"{x['statements_per_s_each_by_kind']}"
        )
    if "HERD" in r:
        rows = [
            {
                "workers": x["workers"],
                "jobs": x["n"],
                "rate/s": x["achieved_rate"],
                "p50 ms": (x["from_enqueue_call"] or {}).get("p50_ms"),
                "p99 ms": (x["from_enqueue_call"] or {}).get("p99_ms"),
                "claims/job": x["claims_per_job"],
                "worker stmts/job": x["worker_statements_per_job"],
                "pg µs/job": x["server_cpu_us_per_job"],
                "workers µs/job": x["workers_cpu_us_per_job"],
                "other cores": x["cpu"].get("other_load_cores"),
            }
            for x in r["HERD"]
        ]
        print("\nHERD (paced single enqueues):")
        C.print_table(rows, [(k, k) for k in rows[0]])
        for x in r["HERD"]:
            for st in (x.get("pg_statements") or [])[:10]:
                print(
                    f"  {x['workers']:3} workers: {st['statement'][:40]:40} "
                    f"{st['calls'] / x['n']:.3f}/job  {st['total_ms'] * 1000 / x['n']:8.1f} µs/job"
                )
        if len(r["HERD"]) >= 2:
            a, z = r["HERD"][0], r["HERD"][-1]
            if a["server_cpu_us_per_job"] and z["server_cpu_us_per_job"]:
                ratio = z["server_cpu_us_per_job"] / a["server_cpu_us_per_job"]
                print(
                    f"  Postgres CPU per job, {z['workers']} / {a['workers']} workers: "
                    f"{ratio:.2f} (target <= 1.5)"
                )
    if "PRODUCERS" in r:
        x = r["PRODUCERS"]
        print(f"\nPRODUCERS (1 vs {x['producers']}, {x['seconds']:.0f}s each):")
        C.print_table(x["runs"], [(k, k) for k in x["runs"][0]])
        for peer, s in x["summary"].items():
            print(
                f"  {peer}: {x['producers']} producers / 1 = {s['ratio_many_to_one']} "
                f"(1: {s['one']}, {x['producers']}: {s['many']})"
            )
