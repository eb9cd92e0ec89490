"""Queue benchmarks (issue 3) with real worker processes: W1-W5 and worker memory.

Drain, enqueue-to-start latency, enqueue rate, claim cost, global-limit throughput and
worker memory.

    .venv/bin/python -m benchmarks.queue_bench [--only W1,W2,W3,W4,W5,MEM] [--quick]
                                               [--profile] [--pg-stat-statements]
                                               [--auto-explain MS] [--db-url URL]

Workers are ``python -m dbos_queue.cli worker benchmarks._queue_app --queue NAME --no-admin``
subprocesses (the app is ``benchmarks/_queue_app.py``); workflows are durable
(``@DBOS.workflow`` with ``@DBOS.step``), Postgres at its default durability.

- W1: drain N pre-enqueued workflows (1-step, then 0-step) with 2 workers. The queue
  is paused while the workers start; the clock starts when both are ready and the queue
  is resumed (UPDATE + NOTIFY), and stops at the last completion (max ``updated_at``).
- W2: enqueue-to-start latency at a fixed rate with one idle worker: the producer
  takes ``time.time()`` right before ``DBOSClient.enqueue``; the workflow body returns
  ``time.time()`` as its first act. Same machine, same clock.
- W3: enqueues/s of one producer thread, ``DBOSClient.enqueue`` in a loop (one
  transaction each), and ``enqueue_many`` in batches; no workers.
- W4: the claim with 10k versus 1M finished (SUCCESS) rows of the same queue: per-claim
  median through the engine (``rt.queues.claim``) and of the bare ``_sql.CLAIM``, its
  plan, and (diagnostic) the bare claim with hash/merge joins off; then a W1 drain
  beside the 1M rows.
- W5: W1's drain with a global concurrency limit of 50 versus no limit.
- MEM: RSS of an idle worker, and VmHWM of the W1 workers after the drain (part of W1).

Each workload runs in a fresh database on the same server (statistics left by another
workload change the plans). See benchmarks/README.md and RESULTS.md.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, LiteralString, cast

import psycopg

from dbos_queue.api.client import DBOSClient
from dbos_queue.db import migrate as _migrate
from dbos_queue.db import sql as _sql
from dbos_queue.model import serialization as ser

from . import _common as C
from ._counting import ServerStats, StatementCounter

NAME = "queue_bench"
APP = "benchmarks._queue_app"
ROOT = Path(__file__).resolve().parent.parent
ALL = ["W1", "W2", "W3", "W4", "W5", "MEM"]
FLEET = ["IDLE", "HERD", "PRODUCERS"]  # benchmarks/fleet_bench.py; only when asked for

SIZES = {
    #            full        quick
    "w1_n": (10_000, 1_000),
    "w2_seconds": (20.0, 5.0),
    "w3_n": (5_000, 1_000),
    "w3_batches": (50, 10),
    "w4_small": (10_000, 10_000),
    "w4_large": (1_000_000, 100_000),
    "w4_claims": (300, 50),
    "w5_n": (10_000, 1_000),
    "profile_n": (15_000, 3_000),
}


# --- worker processes ----------------------------------------------------------------


class Worker:
    """One ``dbos-queue worker`` subprocess running ``benchmarks._queue_app``."""

    def __init__(self, url: str, queue: str, stats_dir: str, index: int) -> None:
        self.stats_dir = stats_dir
        self.log_path = os.path.join(
            stats_dir, f"worker-{queue}-{index}-{uuid.uuid4().hex[:6]}.log"
        )
        env = dict(os.environ, BENCH_QUEUE_URL=url, BENCH_STATS_DIR=stats_dir)
        cmd = [
            sys.executable,
            "-m",
            "dbos_queue.cli",
            "worker",
            APP,
            "--queue",
            queue,
            "--no-admin",
        ]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self.pid = self.proc.pid
        self._seq = 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if "ready" not in line:
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError(f"worker {self.pid} did not start: {line!r}\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        if not self._log.closed:
            self._log.flush()
        return Path(self.log_path).read_text()[-n:]

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """Statement counts and per-thread CPU, written by the worker on SIGUSR1."""
        path = Path(self.stats_dir) / f"{self.pid}.json"
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                doc = json.loads(path.read_text())
                if doc["seq"] > self._seq:
                    self._seq = doc["seq"]
                    return doc
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        raise RuntimeError(f"worker {self.pid} wrote no statistics within {timeout}s")

    def cpu(self) -> float:
        return sum(C.process_cpu_s(self.pid).values())

    def rss_mb(self, field: str = "VmRSS") -> float | None:
        kb = C.proc_status_kb(self.pid, field)
        return round(kb / 1024, 1) if kb is not None else None

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        self._log.close()
        return self.proc.returncode


def start_workers(url: str, queue: str, n: int, stats_dir: str) -> list[Worker]:
    """Start ``n`` workers at once and wait until every one printed its ready line."""
    ws = [Worker(url, queue, stats_dir, i) for i in range(n)]
    try:
        for w in ws:
            w.wait_ready()
    except BaseException:
        for w in ws:
            if w.proc.poll() is None:
                w.proc.kill()
        raise
    return ws


def stop_workers(ws: list[Worker]) -> None:
    for w in ws:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in ws:
        rc = w.stop()
        if rc != 0:
            C.status(f"warning: worker {w.pid} exited with {rc}:\n{w.log_tail()}")


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    counts = {k: v - before["counts"].get(k, 0) for k, v in after["counts"].items()}
    threads = {
        k: round(v - before["threads_cpu_s"].get(k, 0.0), 3)
        for k, v in after["threads_cpu_s"].items()
    }
    secs = {
        k: v - before.get("statement_seconds", {}).get(k, 0.0)
        for k, v in after.get("statement_seconds", {}).items()
    }
    process = round(after["process_cpu_s"] - before["process_cpu_s"], 3)
    threads = {k: v for k, v in threads.items() if v >= 0.001}
    # Threads that ended in between took their time with them: the rest of the process.
    threads["(exited threads)"] = round(max(0.0, process - sum(threads.values())), 3)
    return {
        "counts": {k: v for k, v in counts.items() if v},
        "statement_seconds": {k: v for k, v in secs.items() if v > 0},
        "process_cpu_s": process,
        "threads_cpu_s": threads,
    }


def statement_table(
    deltas: list[dict[str, Any]], n: int
) -> dict[str, dict[str, float | int | None]]:
    """Per statement kind over all workers: count per workflow, mean ms as the worker saw it,
    and total seconds (async statements only are timed)."""
    counts = merge_counts(deltas)
    secs: dict[str, float] = {}
    for d in deltas:
        for k, v in d["statement_seconds"].items():
            secs[k] = secs.get(k, 0.0) + v
    return {
        k: {
            "per_wf": round(c / n, 4),
            "count": c,
            "mean_ms": round(secs.get(k, 0.0) / c * 1e3, 3) if c else None,
            "total_s": round(secs.get(k, 0.0), 3),
        }
        for k, c in counts.items()
    }


def merge_counts(deltas: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in deltas:
        for k, v in d["counts"].items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# --- the database --------------------------------------------------------------------


class Bench:
    """What every workload needs: a database, its statistics, a scratch folder.

    Every workload starts in a database of its own (:meth:`fresh`): the table statistics
    a previous workload left behind (an ANALYZE of many ENQUEUED or SUCCESS rows survives
    TRUNCATE) change the plans of the claim and of the batched writes, and so the figures.
    """

    def __init__(
        self,
        db: C.BenchDatabase,
        stats_dir: str,
        out_dir: Path,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.db, self.url, self.stats_dir, self.out_dir = db, db.url, stats_dir, out_dir
        self.name = db.name
        self.settings = settings or {}
        self.server = ServerStats(db.admin_url, db.name)
        self.pgss = False  # pg_stat_statements loaded (--pg-stat-statements)
        self.auto_explain_ms: float | None = None  # --auto-explain
        self.leaks: list[int] = []  # connections left open by destroyed clients (wait_idle)
        self._seq = 0

    def fresh(self) -> None:
        """Switch to a new, empty, migrated database on the same server; drop the last one."""
        from psycopg import sql as S

        from dbos_queue.model.pgurl import with_database

        self._seq += 1
        name = f"{self.db.name}_{self._seq}"
        with psycopg.connect(self.db.admin_url, autocommit=True) as conn:
            conn.execute(S.SQL("CREATE DATABASE {}").format(S.Identifier(name)))
            for key, value in self.settings.items():
                conn.execute(
                    S.SQL("ALTER DATABASE {} SET {} = {}").format(
                        S.Identifier(name), S.Identifier(key), S.Literal(value)
                    )
                )
        self.drop_current()
        self.name, self.url = name, with_database(self.db.admin_url, name)
        self.server = ServerStats(self.db.admin_url, name)
        _migrate.migrate(self.url)
        if self.pgss:
            self.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if self.auto_explain_ms is not None:
            C.auto_explain_on(self.db, name, self.auto_explain_ms)

    def drop_current(self) -> None:
        """Drop the database of the last workload (not the harness's own)."""
        from psycopg import sql as S

        if self.name != self.db.name:
            with psycopg.connect(self.db.admin_url, autocommit=True) as conn:
                conn.execute(
                    S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(self.name))
                )
            self.name, self.url = self.db.name, self.db.url

    def wait_idle(self) -> None:
        """Wait until no connection to the workload database is open (the server's commit
        counters are complete only then). Connections still open after 1 s are reported:
        they are a leak (e.g. a client whose pool was not closed by ``destroy()``); a
        garbage collection of this process then closes ours."""
        if self.server.wait_idle(timeout=1.0):
            return
        rows = self.sql(
            "SELECT pid, application_name, state FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()",
            fetch=True,
        )
        C.status(
            f"warning: {len(rows)} connection(s) to {self.name} still open 3 s after "
            f"every client was destroyed: {rows}"
        )
        self.leaks.append(len(rows))
        import gc

        gc.collect()
        if not self.server.wait_idle(timeout=30.0):
            C.status("warning: connections still open after a garbage collection")

    def pgss_reset(self) -> None:
        if self.pgss:
            C.pgss_reset(self.url)

    def pgss_read(self) -> list[dict[str, Any]] | None:
        from ._counting import _LABELS

        return C.pgss_read(self.url, _LABELS) if self.pgss else None

    def autovacuum_state(self) -> dict[str, Any]:
        """Whether autovacuum/autoanalyze touched workflow_status (they change the plans)."""
        row = self.sql(
            "SELECT last_autoanalyze, last_autovacuum, last_analyze, autoanalyze_count,"
            " autovacuum_count FROM pg_stat_user_tables WHERE schemaname = 'dbos'"
            " AND relname = 'workflow_status'",
            fetch=True,
        )[0]
        return dict(
            zip(
                [
                    "last_autoanalyze",
                    "last_autovacuum",
                    "last_analyze",
                    "autoanalyze_count",
                    "autovacuum_count",
                ],
                row,
                strict=True,
            )
        )

    def sql(self, query: str, params: Any = None, fetch: bool = False) -> Any:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(_q(query), params)
            return cur.fetchall() if fetch else None

    def reset(self) -> None:
        """Empty the workflow tables (no worker may run)."""
        self.sql(
            "TRUNCATE dbos.workflow_status, dbos.operation_outputs, dbos.notifications,"
            " dbos.workflow_events, dbos.streams CASCADE"
        )

    def set_paused(self, queue: str, paused: bool) -> None:
        """Pause/resume ``queue`` (created if missing); on resume, wake its workers."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.queues (name, paused) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused",
                (queue, paused),
            )
            if not paused:
                conn.execute(_sql.NOTIFY_QUEUE, (queue,))

    def cpu_now(self, workers: list[Worker]) -> dict[str, Any]:
        return {
            "workers": {w.pid: w.cpu() for w in workers},
            "server": C.process_cpu_s(self.db.server_pid, children=True)
            if self.db.server_pid
            else None,
            "client": time.process_time(),
            "machine": C.machine_busy_s(),
            "wall": time.perf_counter(),
        }

    @staticmethod
    def cpu_split(a: dict[str, Any], b: dict[str, Any], n: int) -> dict[str, Any]:
        wall = b["wall"] - a["wall"]
        workers = {pid: round(b["workers"][pid] - a["workers"][pid], 3) for pid in a["workers"]}
        server = C.cpu_delta(a["server"], b["server"]) if a["server"] is not None else None
        client = b["client"] - a["client"]
        out: dict[str, Any] = {
            "wall_s": round(wall, 3),
            "worker_cpu_s": workers,
            "workers_cpu_s": round(sum(workers.values()), 3),
            "server_cpu_s": round(server, 3) if server is not None else None,
            "bench_process_cpu_s": round(client, 3),
            "workers_cores": round(sum(workers.values()) / wall, 2),
            "server_cores": round(server / wall, 2) if server is not None else None,
        }
        if n:
            out["workers_cpu_us_per_wf"] = round(sum(workers.values()) / n * 1e6, 1)
            if server is not None:
                out["server_cpu_us_per_wf"] = round(server / n * 1e6, 1)
        if a["machine"] is not None and b["machine"] is not None:
            busy = b["machine"] - a["machine"]
            out["machine_cores_busy"] = round(busy / wall, 2)
            if server is not None:
                out["other_load_cores"] = round(
                    max(0.0, busy - sum(workers.values()) - server - client) / wall, 2
                )
        return out


def enqueue_bulk(url: str, queue: str, workflow: str, n: int, chunk: int = 1000) -> None:
    with DBOSClient(url) as client:
        for start in range(0, n, chunk):
            client.enqueue_many(
                {"queue_name": queue, "workflow_name": workflow},
                [(i,) for i in range(start, min(n, start + chunk))],
            )


def remaining(conn: psycopg.Connection, queue: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = %s"
        " AND status IN ('ENQUEUED', 'PENDING')",
        (queue,),
    ).fetchone()
    return int(row[0]) if row else 0


def run_pyspy(
    pid: int, seconds: int, out: Path, gil: bool = True, rate: int = 100, light: bool = False
) -> subprocess.Popen | None:
    """``py-spy record`` one process into a raw file (``--gil``: only the GIL holder, i.e.
    Python CPU; ``light``: ``--nonblocking``, no pause of the process per sample)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        C.status("py-spy not found next to the interpreter; no profile")
        return None
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            *(["--gil"] if gil else []),
            *(["--nonblocking"] if light else []),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _q(query: str) -> LiteralString:
    """The benchmark's SQL: literals and sql.py constants, never input (psycopg wants it said)."""
    return cast(LiteralString, query)


def _first(cur: psycopg.Cursor[Any]) -> Any:
    """The row of a statement that always returns one (EXPLAIN)."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


# --- W1 / W5: drain -------------------------------------------------------------------


def _clear_for_drain(b: Bench, keep_finished: bool) -> None:
    """Empty the table, or with ``keep_finished`` only of what is not SUCCESS."""
    if keep_finished:
        b.sql("DELETE FROM dbos.workflow_status WHERE status <> 'SUCCESS'")
        b.sql("VACUUM dbos.workflow_status")
    else:
        b.fresh()


def _start_phase_spies(
    ws: list[Worker], label: str, phases: Path
) -> list[tuple[subprocess.Popen[str] | None, Worker]]:
    """One light py-spy per worker, all threads, for the phase breakdown."""
    phases.mkdir(parents=True, exist_ok=True)
    return [
        (run_pyspy(w.pid, 600, phases / f"{label}-{w.pid}.raw", light=True, rate=400), w)
        for w in ws
    ]


def _stop_spies(spies: list[tuple[subprocess.Popen[str] | None, Worker]]) -> None:
    """SIGINT makes py-spy write what it has; then wait for each to finish writing."""
    for sp, _w in spies:
        if sp is not None:
            sp.send_signal(signal.SIGINT)
    for sp, _w in spies:
        if sp is not None:
            sp.wait(30)


def _poll_until_drained(
    conn: psycopg.Connection[Any], queue: str, n: int, progress: C.Progress
) -> int:
    """Poll the queue's unfinished count every 50 ms until it is zero; return the polls."""
    polls = 0
    left = n
    while left:
        time.sleep(0.05)
        now_left = remaining(conn, queue)
        polls += 1
        progress.tick(left - now_left)
        left = now_left
    return polls


def drain(
    b: Bench,
    label: str,
    queue: str,
    workflow: str,
    n: int,
    workers: int = 2,
    idle_wait: float = 2.0,
    profile: Path | None = None,
    keep_finished: bool = False,
    phases: Path | None = None,
) -> dict[str, Any]:
    """Pre-enqueue ``n`` workflows on a paused queue, start the workers, resume, time it.

    With ``keep_finished``, the SUCCESS rows already in the table stay (and so do the
    table's statistics); everything else is deleted."""
    _clear_for_drain(b, keep_finished)
    b.set_paused(queue, True)
    C.status(f"{label}: enqueueing {n:,} workflows (enqueue_many)")
    enqueue_bulk(b.url, queue, workflow, n)
    b.wait_idle()
    srv0 = b.server.snapshot()
    C.status(f"{label}: starting {workers} workers")
    ws = start_workers(b.url, queue, workers, b.stats_dir)
    polls = 0
    spy = None
    try:
        time.sleep(idle_wait)  # idle, on a paused queue
        idle_rss = [w.rss_mb() for w in ws]
        st0 = [w.stats() for w in ws]
        cpu0 = b.cpu_now(ws)
        progress = C.Progress(label, n)
        av0 = b.autovacuum_state()
        b.pgss_reset()
        log_at = C.server_log_offset(b.db)
        with psycopg.connect(b.url, autocommit=True) as conn:
            t_start = time.time()
            b.set_paused(queue, False)
            if profile is not None:
                spy = run_pyspy(ws[0].pid, 5, profile)
            if phases is not None:  # every worker, all threads, until the drain ends
                spies = _start_phase_spies(ws, label, phases)
            polls = _poll_until_drained(conn, queue, n, progress)
        t_seen = time.time()
        cpu1 = b.cpu_now(ws)
        st1 = [w.stats() for w in ws]
        if phases is not None:
            _stop_spies(spies)
        progress.close()
        pg_statements = b.pgss_read()
        plans = None
        if b.auto_explain_ms is not None:
            from ._counting import _LABELS

            plans = C.auto_explain_read(b.db, log_at, _LABELS)
        av1 = b.autovacuum_state()
        peak = [w.rss_mb("VmHWM") for w in ws]
        end_rss = [w.rss_mb() for w in ws]
        if spy is not None:
            spy.wait(30)
    finally:
        stop_workers(ws)
    rows = b.sql(
        "SELECT status, count(*), max(updated_at) FROM dbos.workflow_status"
        " WHERE queue_name = %s GROUP BY status",
        (queue,),
        fetch=True,
    )
    finished_before = (
        b.sql(
            "SELECT count(*) FROM dbos.workflow_status WHERE queue_name <> %s", (queue,), fetch=True
        )[0][0]
        if keep_finished
        else 0
    )
    by_status = {r[0]: r[1] for r in rows}
    t_end = max(r[2] for r in rows) / 1000
    # Where each workflow ran, and how long it sat in its worker between claim and start.
    per_proc = b.sql(
        "SELECT split_part(owner_xid, ':', 1), count(*) FROM dbos.workflow_status"
        " WHERE queue_name = %s GROUP BY 1 ORDER BY 2 DESC",
        (queue,),
        fetch=True,
    )
    starts = b.sql(
        "SELECT output, started_at_epoch_ms FROM dbos.workflow_status"
        " WHERE queue_name = %s AND status = 'SUCCESS'",
        (queue,),
        fetch=True,
    )
    body_start = [ser.deserialize(o) for o, _ in starts]
    claim_to_start = [max(0.0, s - c / 1000) for s, (_, c) in zip(body_start, starts, strict=True)]
    b.wait_idle()
    srv1 = b.server.snapshot()
    deltas = [stats_delta(a, z) for a, z in zip(st0, st1, strict=True)]
    counts = merge_counts(deltas)
    wall = t_end - t_start
    res: dict[str, Any] = {
        "variant": label,
        "queue": queue,
        "workflow": workflow,
        "n": n,
        "workers": workers,
        "other_finished_rows": finished_before,
        "by_status": by_status,
        "wall_s": round(wall, 3),
        "wf_per_s": round(n / wall, 1),
        "wall_until_seen_s": round(t_seen - t_start, 3),
        "first_start_after_resume_ms": round((min(body_start) - t_start) * 1e3, 1),
        "workflows_per_process": [r[1] for r in per_proc],
        "claim_to_body_start": C.latency_ms(claim_to_start),
        "idle_rss_mb": idle_rss,
        "peak_rss_mb": peak,
        "end_rss_mb": end_rss,
        "statements_per_wf": round(sum(counts.values()) / n, 3),
        "statements_by_kind_per_wf": {k: round(v / n, 3) for k, v in counts.items()},
        "statements": statement_table(deltas, n),
        "claims": sum(counts.get(k, 0) for k in ("CLAIM", "CLAIM_FREE", "CLAIM_PARTITIONED")),
        "worker_threads_cpu_s": [d["threads_cpu_s"] for d in deltas],
        "cpu": b.cpu_split(cpu0, cpu1, n),
        "autovacuum_during_run": {k: (av0[k], av1[k]) for k in av0 if av0[k] != av1[k]},
    }
    if pg_statements is not None:
        res["pg_statements"] = pg_statements
    if plans is not None:
        res["plans_used"] = plans
    d = {
        k: (a - z) if (a := srv1[k]) is not None and (z := srv0[k]) is not None else None
        for k in srv1
    }
    if (commits := d.get("xact_commit")) is not None:
        # Our own polls were one transaction each; the rest includes 2 worker start/stops.
        res["server_commits_per_wf"] = round((commits - polls) / n, 3)
    if (fsyncs := d.get("wal_fsyncs")) is not None:
        res["server_wal_fsyncs_per_wf"] = round(fsyncs / n, 3)
    if profile is not None and profile.exists():
        res["profile"] = {"file": str(profile), **C.aggregate_pyspy_raw(str(profile))}
    if phases is not None:
        from ._phases import breakdown

        files = [phases / f"{label}-{w.pid}.raw" for w in ws]
        res["phases"] = breakdown(files, res["cpu"].get("workers_cpu_us_per_wf"))
        res["phases"]["files"] = [str(f) for f in files]
    return res


def write_plans(b: Bench, n: int, batch: int = 64) -> dict[str, Any]:
    """Diagnostic for W1: EXPLAIN ANALYZE (in rolled-back transactions) of the claim and
    of the batched step/completion writes, in W1's state: ``n`` fresh ENQUEUED rows, the
    table never analyzed.

    - the claim of ``batch`` rows: as planned in that state, and after ANALYZE;
    - RECORD_OPERATIONS and COMPLETE_WORKFLOWS for ``batch`` claimed workflows, first
      while only those are PENDING, then after every other row was claimed too (W1's
      workers claim 64 at a time until the queue is empty, so nearly all are PENDING).
    """
    from dbos_queue.db.sysdb import now_ms

    queue = "w1"
    b.fresh()
    b.set_paused(queue, False)
    enqueue_bulk(b.url, queue, "bench_q_one", n)
    out: dict[str, Any] = {"enqueued": n, "batch": batch}

    def explain(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any]:
        with conn.transaction(force_rollback=True):
            plan = _first(
                conn.execute(_q("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query), params)
            )[0][0]
        return {
            "execution_ms": plan.get("Execution Time"),
            "shared_hit_blocks": plan["Plan"].get("Shared Hit Blocks"),
            "plan_nodes": _plan_nodes(plan["Plan"]),
        }

    # Every claim gets its own owner token, as the library's claims do.
    claim = {
        "queue": queue,
        "limit": batch,
        "owner": "bench:1",
        "executor_id": "bench",
        "app_version": "bench",
        "app_name": None,
        "is_latest": True,
        "now": now_ms(),
    }
    with psycopg.connect(b.url, autocommit=True) as conn:
        out["claim"] = explain(conn, _sql.CLAIM, claim)
        ids = [r[0] for r in conn.execute(_q(_sql.CLAIM), claim).fetchall()]
        seq = 1
        k, now = len(ids), now_ms()
        rec = {
            "ids": ids,
            "owners": ["bench:1"] * k,
            "fids": [1] * k,
            "fnames": ["bench_q_step"] * k,
            "outputs": ["1"] * k,
            "errors": [None] * k,
            "children": [None] * k,
            "starteds": [now] * k,
            "nows": [now] * k,
        }
        comp = {
            "ids": ids,
            "owners": ["bench:1"] * k,
            "statuses": ["SUCCESS"] * k,
            "outputs": ["1.0"] * k,
            "errors": [None] * k,
            "nows": [now] * k,
        }
        writes = (
            ("record_operations", _sql.RECORD_OPERATIONS, rec),
            ("complete_workflows", _sql.COMPLETE_WORKFLOWS, comp),
        )
        for name, query, params in writes:
            out[f"{name}_few_pending"] = explain(conn, query, params)
        while True:
            seq += 1
            if not conn.execute(_q(_sql.CLAIM), dict(claim, owner=f"bench:{seq}")).fetchall():
                break
        out["pending"] = remaining(conn, queue)
        for name, query, params in writes:
            out[f"{name}_all_pending"] = explain(conn, query, params)
    # The same claim once autovacuum (here: ANALYZE) has seen the table.
    b.reset()
    enqueue_bulk(b.url, queue, "bench_q_one", n)
    b.sql("ANALYZE dbos.workflow_status")
    with psycopg.connect(b.url, autocommit=True) as conn:
        out["claim_analyzed"] = explain(conn, _sql.CLAIM, claim)
    return out


# --- W2: enqueue-to-start latency ---------------------------------------------------------


def latency(b: Bench, rate: float, seconds: float, warmup_s: float = 1.0) -> dict[str, Any]:
    queue = "w2"
    b.fresh()
    b.set_paused(queue, False)
    C.status("W2: starting 1 worker")
    ws = start_workers(b.url, queue, 1, b.stats_dir)
    samples: list[tuple] = []
    try:
        time.sleep(1.0)
        opts = {"queue_name": queue, "workflow_name": "bench_q_one"}
        with DBOSClient(b.url) as client:

            def pace(count: int, record: list[tuple] | None, progress: C.Progress | None) -> None:
                t0 = time.perf_counter()
                for i in range(count):
                    delay = t0 + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    before = time.time()
                    h = client.enqueue(opts, i)  # type: ignore[arg-type]
                    after = time.time()
                    if record is not None:
                        record.append((h.workflow_id, before, after))
                    if progress is not None:
                        progress.tick()

            pace(int(rate * warmup_s), None, None)
            st0 = ws[0].stats()
            cpu0 = b.cpu_now(ws)
            n = int(rate * seconds)
            progress = C.Progress(f"W2 at {rate:.0f}/s", n)
            pace(n, samples, progress)
            progress.close()
            deadline = time.monotonic() + 30
            with psycopg.connect(b.url, autocommit=True) as conn:
                while remaining(conn, queue) and time.monotonic() < deadline:
                    time.sleep(0.05)
            cpu1 = b.cpu_now(ws)
            st1 = ws[0].stats()
            probes = engine_probes(client, rate, min(seconds, 3.0))
    finally:
        stop_workers(ws)
    ids = [s[0] for s in samples]
    rows = dict(
        (r[0], r[1])
        for r in b.sql(
            "SELECT workflow_uuid, output FROM dbos.workflow_status WHERE workflow_uuid = ANY(%s)"
            " AND status = 'SUCCESS'",
            (ids,),
            fetch=True,
        )
    )
    from_call, from_return, call = [], [], []
    for wf_id, before, after in samples:
        started = ser.deserialize(rows[wf_id]) if wf_id in rows else None
        if started is None:
            continue
        from_call.append(started - before)
        from_return.append(started - after)
        call.append(after - before)
    delta = stats_delta(st0, st1)
    n = len(samples)
    return {
        "variant": f"1 worker, {rate:.0f} enqueues/s for {seconds:.0f}s",
        "n": n,
        "started": len(from_call),
        "from_enqueue_call": C.latency_ms(from_call),
        "from_enqueue_return": C.latency_ms(from_return),
        "enqueue_call": C.latency_ms(call),
        "negative_from_return": sum(1 for x in from_return if x < 0),
        "worker_statements_per_wf": round(sum(delta["counts"].values()) / n, 3),
        "worker_statements_by_kind_per_wf": {
            k: round(v / n, 3) for k, v in sorted(delta["counts"].items(), key=lambda kv: -kv[1])
        },
        "worker_statements": statement_table([delta], n),
        "worker_threads_cpu_s": delta["threads_cpu_s"],
        "cpu": b.cpu_split(cpu0, cpu1, n),
        "producer_probes": probes,
    }


def engine_probes(client: DBOSClient, rate: float, seconds: float) -> dict[str, Any]:
    """Latency of a hop to the producer's engine loop and back, and of ``SELECT 1`` and
    ``GET_QUEUE`` through it: paced at ``rate`` (as W2's enqueues are) and back to back."""
    from dbos_queue.db import sql as S

    async def noop() -> None:
        return None

    kinds = {
        "hop": noop,
        "select1": lambda: client.sysdb.fetchone("SELECT 1"),
        "get_queue": lambda: client.sysdb.fetchone(S.GET_QUEUE, ("w2",)),
    }
    out: dict[str, Any] = {}
    for name, make in kinds.items():
        for mode in ("paced", "back_to_back"):
            n = int(rate * seconds) if mode == "paced" else 2000
            lat = []
            t0 = time.perf_counter()
            for i in range(n):
                if mode == "paced":
                    delay = t0 + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                t = time.perf_counter()
                client.engine.run(make())
                lat.append(time.perf_counter() - t)
            out[f"{name}_{mode}"] = C.latency_ms(lat[n // 10 :])
    return out


# --- W3: enqueue rate -------------------------------------------------------------------------


def enqueue_rate(b: Bench, n: int, batches: int, batch: int = 1000) -> list[dict[str, Any]]:
    queue = "w3"
    b.fresh()
    b.set_paused(queue, False)
    opts = {"queue_name": queue, "workflow_name": "bench_q_one"}
    out = []
    with DBOSClient(b.url) as client:
        engine_tid = cast(int, client.engine._thread.native_id)  # running, so it has one
        for i in range(200):  # warm-up: connections, prepared statements
            client.enqueue(opts, i)  # type: ignore[arg-type]
        client.enqueue_many(opts, [(i,) for i in range(batch)])  # type: ignore[arg-type]

        def measure(label: str, count: int, fn: Callable[[C.Progress], None]) -> dict[str, Any]:
            progress = C.Progress(label, count)
            counter = StatementCounter()
            from ._counting import cpu_time

            with cpu_time(b.db.server_pid, {"engine_thread": engine_tid}) as cpu, counter:
                t0 = time.perf_counter()
                fn(progress)
                wall = time.perf_counter() - t0
            progress.close()
            res: dict[str, Any] = {
                "variant": label,
                "n": count,
                "wall_s": round(wall, 3),
                "enqueues_per_s": round(count / wall, 1),
                "statements_per_enqueue": round(counter.total / count, 4),
                "statements_by_kind": dict(counter.counts.most_common()),
                # set when the measured block ended
                "client_cpu_us_per_enqueue": round(
                    cast(float, cpu["client_cpu_s"]) / count * 1e6, 2
                ),
            }
            if (engine_cpu := cpu.get("engine_thread_cpu_s")) is not None:
                res["engine_thread_cpu_us_per_enqueue"] = round(engine_cpu / count * 1e6, 2)
            if (server_cpu := cpu.get("server_cpu_s")) is not None:
                res["server_cpu_us_per_enqueue"] = round(server_cpu / count * 1e6, 2)
            return res

        def single(progress: C.Progress) -> None:
            for i in range(n):
                client.enqueue(opts, i)  # type: ignore[arg-type]
                progress.tick()

        lat: list[float] = []

        def many(progress: C.Progress) -> None:
            for _ in range(batches):
                t0 = time.perf_counter()
                client.enqueue_many(opts, [(i,) for i in range(batch)])  # type: ignore[arg-type]
                lat.append(time.perf_counter() - t0)
                progress.tick(batch)

        out.append(measure("DBOSClient.enqueue, 1 thread", n, single))
        r = measure(f"enqueue_many, batches of {batch:,}", batches * batch, many)
        r["batch_latency"] = C.latency_ms(lat)
        out.append(r)
    return out


# --- W4: claim cost versus finished rows -------------------------------------------------------

FILL_FINISHED = """
INSERT INTO dbos.workflow_status (
    workflow_uuid, status, name, queue_name, inputs, output, executor_id, application_version,
    created_at, updated_at, started_at_epoch_ms, recovery_attempts, owner_xid, priority)
SELECT md5(%(tag)s || g::text)::uuid::text, 'SUCCESS', 'bench_q_one', %(queue)s,
       '{"args":[1],"kwargs":{}}', '1.0', 'local', 'bench',
       %(base)s + g, %(base)s + g + 5, %(base)s + g + 1, 1, 'deadbeefdeadbeef:' || g::text, 0
  FROM generate_series(1, %(n)s) AS g
"""


def claim_cost(b: Bench, finished: int, claims: int, batch: int = 64) -> dict[str, Any]:
    from dbos_queue import DBOS, Queue
    from dbos_queue.api import dbos as _dbos
    from dbos_queue.db.sysdb import now_ms

    queue = "w4"
    b.fresh()
    b.set_paused(queue, False)
    C.status(f"W4: inserting {finished:,} finished rows")
    t0 = time.perf_counter()
    b.sql(
        FILL_FINISHED,
        {
            "tag": uuid.uuid4().hex,
            "queue": queue,
            "n": finished,
            "base": now_ms() - finished - 600_000,
        },
    )
    fill_s = time.perf_counter() - t0
    warm = 10
    enqueue_bulk(b.url, queue, "bench_q_one", 3 * (claims + warm) * batch)
    b.sql("VACUUM (ANALYZE) dbos.workflow_status")
    size = b.sql(
        "SELECT pg_total_relation_size('dbos.workflow_status'),"
        " pg_relation_size('dbos.workflow_status_enqueued_index')",
        fetch=True,
    )[0]

    # 1. through the library: the engine hop, the pool, the retry wrapper and the statement.
    DBOS(config={"name": "queue-bench-claim", "system_database_url": b.url, "log_level": "WARNING"})
    Queue(queue)
    DBOS.listen_queues([])
    DBOS.launch()
    rt = _dbos._rt()
    engine: list[float] = []
    try:
        for i in range(warm + claims):
            t = time.perf_counter()
            rows = rt.engine.run(rt.queues.claim(queue, batch))
            if i >= warm:
                engine.append(time.perf_counter() - t)
            if len(rows) != batch:
                raise RuntimeError(f"claim returned {len(rows)} rows, expected {batch}")
    finally:
        DBOS.destroy(destroy_registry=True)

    # 2. the bare statement on a sync connection, and its plan.
    bare: list[float] = []
    params = {
        "queue": queue,
        "limit": batch,
        "owner": "bench:1",
        "executor_id": "bench",
        "app_version": "bench",
        "app_name": None,
        "is_latest": True,
        "now": now_ms(),
    }
    with psycopg.connect(b.url, autocommit=True) as conn:
        # CLAIM_FREE: what the library runs for a queue without fleet-wide limits.
        with conn.transaction(force_rollback=True):
            plan = _first(
                conn.execute(
                    _q("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _sql.CLAIM_FREE), params
                )
            )[0][0]
        for i in range(warm + claims):
            params["now"] = now_ms()
            t = time.perf_counter()
            rows = conn.execute(_q(_sql.CLAIM_FREE), params, prepare=True).fetchall()
            if i >= warm:
                bare.append(time.perf_counter() - t)
            if len(rows) != batch:
                raise RuntimeError(f"CLAIM returned {len(rows)} rows, expected {batch}")
    # Diagnostic, not a library setting: the same statement with hash and merge joins
    # priced out, so the UPDATE finds the picked rows by primary key (a nested loop):
    # how much of the claim is the plan's full scan of the table.
    noseq: list[float] = []
    with psycopg.connect(
        b.url, autocommit=True, options="-c enable_hashjoin=off -c enable_mergejoin=off"
    ) as conn:
        with conn.transaction(force_rollback=True):
            plan_nl = _first(
                conn.execute(_q("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _sql.CLAIM), params)
            )[0][0]
        for i in range(warm + claims):
            params["now"] = now_ms()
            t = time.perf_counter()
            rows = conn.execute(_q(_sql.CLAIM), params, prepare=True).fetchall()
            if i >= warm:
                noseq.append(time.perf_counter() - t)
            if len(rows) != batch:
                raise RuntimeError(f"CLAIM returned {len(rows)} rows, expected {batch}")
    top = plan["Plan"]
    nodes = _plan_nodes(top)
    return {
        "update_join": next(
            (
                line.split(" est=")[0].strip()
                for line in nodes
                if line.startswith("  ")
                and not line.startswith("   ")
                and ("Join" in line or "Nested Loop" in line)
            ),
            None,
        ),
        "scans_whole_table": any("Seq Scan workflow_status" in line for line in nodes),
        "finished_rows": finished,
        "claims": claims,
        "batch": batch,
        "fill_s": round(fill_s, 2),
        "table_bytes": size[0],
        "enqueued_index_bytes": size[1],
        "engine_claim": C.latency_ms(engine),
        "bare_claim": C.latency_ms(bare),
        "engine_claim_median_us": C.median_us(engine),
        "bare_claim_median_us": C.median_us(bare),
        "bare_claim_nested_loop": C.latency_ms(noseq),
        "bare_claim_nested_loop_median_us": C.median_us(noseq),
        "plan_nested_loop_execution_ms": plan_nl.get("Execution Time"),
        "plan_execution_ms": plan.get("Execution Time"),
        "plan_planning_ms": plan.get("Planning Time"),
        "plan_shared_hit_blocks": top.get("Shared Hit Blocks"),
        "plan_shared_read_blocks": top.get("Shared Read Blocks"),
        "plan_nodes": nodes,
    }


def purge_impact(b: Bench, claims: int, batch: int = 64) -> dict[str, Any]:
    """Claims (bare CLAIM_FREE) beside W4's large history, alone and while a retention
    purge (queue/retention.py's batches and pauses, on another connection) deletes half
    of the finished rows: how much a purge slows the claims (issue 12: at most 20%)."""
    import threading

    from dbos_queue.db.sysdb import now_ms

    queue = "w4"
    enqueue_bulk(b.url, queue, "bench_q_one", 2 * (claims + 10) * batch)
    row = b.sql(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at)"
        " FROM dbos.workflow_status WHERE status = 'SUCCESS'",
        fetch=True,
    )[0][0]
    params = {
        "queue": queue,
        "limit": batch,
        "owner": "bench:p",
        "executor_id": "bench",
        "app_version": "bench",
        "app_name": None,
        "is_latest": True,
        "now": now_ms(),
    }

    def series(conn: psycopg.Connection) -> list[float]:
        out = []
        for i in range(claims + 10):
            params["now"] = now_ms()
            t = time.perf_counter()
            conn.execute(_q(_sql.CLAIM_FREE), params, prepare=True).fetchall()
            if i >= 10:
                out.append(time.perf_counter() - t)
        return out

    deleted = [0]
    stop = threading.Event()

    def purge() -> None:
        with psycopg.connect(b.url, autocommit=True) as gc:
            gc_params = {"created": row, "id": "", "batch": 2000}
            while not stop.is_set():
                t0 = time.monotonic()
                n = gc.execute(_q(_sql.GC_BATCH_BEFORE), gc_params).rowcount
                deleted[0] += n
                if n < 2000:
                    return
                time.sleep(min(1.0, time.monotonic() - t0))  # retention's pause

    with psycopg.connect(b.url, autocommit=True) as conn:
        alone = series(conn)
        worker = threading.Thread(target=purge, daemon=True)
        t_purge = time.perf_counter()
        worker.start()
        during = series(conn)
        stop.set()
        worker.join(600)
        purge_s = time.perf_counter() - t_purge
    a, d = C.median_us(alone), C.median_us(during)
    return {
        "claims": claims,
        "alone": C.latency_ms(alone),
        "during_purge": C.latency_ms(during),
        "ratio_median": round(d / a, 3) if a else None,
        "deleted_during": deleted[0],
        "purge_s": round(purge_s, 2),
    }


def _plan_nodes(node: dict[str, Any], depth: int = 0) -> list[str]:
    """A compact text of a JSON plan: node type, relation/index, actual rows and loops."""
    label = node.get("Node Type", "?")
    for key in ("Index Name", "Relation Name", "CTE Name"):
        if key in node:
            label += f" {node[key]}"
    label += (
        f" est={node.get('Plan Rows')} rows={node.get('Actual Rows')}"
        f" loops={node.get('Actual Loops')}"
    )
    out = ["  " * depth + label]
    for child in node.get("Plans", []):
        out += _plan_nodes(child, depth + 1)
    return out


# --- main --------------------------------------------------------------------------------


def size(args: Any, key: str) -> Any:
    if key == "w4_large" and getattr(args, "w4_large", 0):
        return args.w4_large
    full, quick = SIZES[key]
    return quick if args.quick else full


def run_workloads(b: Bench, args: Any, only: list[str], results: dict[str, Any]) -> None:
    """Run the selected workloads, each in a fresh database, into ``results``."""
    if "W1" in only or "MEM" in only:
        n = size(args, "w1_n")
        ph = (b.out_dir / f"{NAME}_phases") if args.phases else None
        results["W1"] = [drain(b, "W1 1-step", "w1", "bench_q_one", n, phases=ph)]
        if "W1" in only:
            results["W1"].append(drain(b, "W1 0-step", "w1", "bench_q_zero", n, phases=ph))
            results["W1_plans"] = write_plans(b, n)
    if args.profile:
        out = b.out_dir / f"{NAME}_w1_pyspy.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        results["profile"] = drain(
            b, "W1 1-step, profiled", "w1", "bench_q_one", size(args, "profile_n"), profile=out
        )
    if "W2" in only:
        results["W2"] = latency(b, args.w2_rate, size(args, "w2_seconds"))
    if "W3" in only:
        results["W3"] = enqueue_rate(b, size(args, "w3_n"), size(args, "w3_batches"))
    if "W5" in only:
        n = size(args, "w5_n")
        # Alternated and repeated: one 10k drain lasts ~3 s, and a 2-vCPU VM is noisy.
        results["W5"] = [
            drain(b, f"W5 {label} #{k}", queue, "bench_q_one", n)
            for k in (1, 2)
            for label, queue in (("no limit", "w5free"), ("concurrency=50", "w5lim"))
        ]
    if any(w in only for w in FLEET):
        fleet_workloads(b, args, only, results)
    if "W4" in only:
        results["W4"] = [
            claim_cost(b, size(args, k), size(args, "w4_claims")) for k in ("w4_small", "w4_large")
        ]
        # The 1M table as W4 left it (analyzed): a W1 drain beside it.
        large = size(args, "w4_large")
        results["W4_purge"] = purge_impact(b, size(args, "w4_claims"))
        results["W4_drain"] = drain(
            b,
            f"W1 1-step beside {large:,} finished rows",
            "w1",
            "bench_q_one",
            size(args, "w1_n"),
            keep_finished=True,
        )


def fleet_workloads(b: Bench, args: Any, only: list[str], results: dict[str, Any]) -> None:
    """IDLE, HERD and PRODUCERS (benchmarks/fleet_bench.py)."""
    from . import fleet_bench as F

    if "IDLE" in only:
        results["IDLE"] = F.idle_fleet(b, args.idle_workers, args.idle_seconds)
    if "HERD" in only:
        results["HERD"] = [
            F.herd(b, int(w), args.w2_rate, args.herd_seconds) for w in args.herd_workers.split(",")
        ]
    if "PRODUCERS" in only:
        results["PRODUCERS"] = F.producers(
            b, args.producers, args.producer_seconds, pgqueuer_python=args.pgqueuer_python
        )


def main() -> None:
    p = C.parser(NAME, (__doc__ or "").split("\n")[0])
    p.add_argument(
        "--only",
        default=",".join(ALL),
        help="comma-separated workloads to run (default: all of %(default)s)",
    )
    p.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run of about a minute"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also run an extra W1 (1-step) drain with py-spy recording one worker "
        "for 5 s (--gil --format raw), and report its top frames",
    )
    p.add_argument(
        "--phases",
        action="store_true",
        help="record both W1 workers with py-spy (--gil --nonblocking, 100 Hz) for the "
        "whole drain and report worker CPU per workflow by phase (claim, decode, "
        "dispatch, checkpoint, completion, notify, ...): benchmarks/_phases.py",
    )
    p.add_argument("--w2-rate", type=float, default=100.0, help="W2 (and HERD) enqueues per second")
    p.add_argument(
        "--producers",
        type=int,
        default=0,
        help="PRODUCERS: compare 1 and N producer processes (one DBOSClient.enqueue per "
        "transaction each); implies --only PRODUCERS when --only is not given",
    )
    p.add_argument("--producer-seconds", type=float, default=8.0)
    p.add_argument(
        "--pgqueuer-python",
        help="PRODUCERS: also run pgqueuer's producers with this interpreter (one that has "
        "pgqueuer and asyncpg, e.g. /tmp/peers-venvs/pgqueuer/bin/python)",
    )
    p.add_argument(
        "--w4-large",
        type=int,
        default=0,
        help="W4: finished rows of the large case (default 1,000,000; 10,000,000 for the "
        "issue-12 figure: several minutes and ~5 GB)",
    )
    p.add_argument("--idle-workers", type=int, default=16, help="IDLE: worker processes")
    p.add_argument("--idle-seconds", type=float, default=20.0)
    p.add_argument("--herd-workers", default="2,16", help="HERD: worker counts to compare")
    p.add_argument("--herd-seconds", type=float, default=15.0)
    p.add_argument(
        "--pg-stat-statements",
        action="store_true",
        help="load pg_stat_statements (restarts the embedded server) and report the "
        "server time of each statement during every drain; adds a little "
        "overhead to every statement, so the headline figures come from runs "
        "without it",
    )
    p.add_argument(
        "--auto-explain",
        type=float,
        default=None,
        metavar="MS",
        help="log (auto_explain, embedded server only) the plan of every statement "
        "slower than MS ms and report, per drain, the plans the statements "
        "really ran with; 0 logs every statement and slows everything down",
    )
    args = p.parse_args()
    if args.producers and args.only == ",".join(ALL):
        args.only = "PRODUCERS"
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in ALL + FLEET]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {ALL + FLEET}")
    if "PRODUCERS" in only and not args.producers:
        args.producers = 8

    settings = {"synchronous_commit": args.synchronous_commit} if args.synchronous_commit else None
    results: dict[str, Any] = {}
    stats_dir = tempfile.mkdtemp(prefix="dbosq-queue-bench-")
    t_all = time.perf_counter()
    with C.bench_database(NAME, args.db_url, settings) as db:
        machine = C.machine_info(db.url)
        C.status(f"{machine['cpu_model']}, {machine['cpus_usable']} CPUs; {machine['postgres']}")
        _migrate.migrate(db.url)
        b = Bench(db, stats_dir, Path(args.json_out).parent, settings)
        if args.pg_stat_statements:
            b.pgss = C.enable_pg_stat_statements(db)
        b.auto_explain_ms = args.auto_explain
        try:
            run_workloads(b, args, only, results)
        finally:
            b.drop_current()
        leaks = b.leaks
    total_s = time.perf_counter() - t_all
    shutil.rmtree(stats_dir, ignore_errors=True)  # worker logs and counters (kept on errors)
    figures = summarize(results)
    report(results, figures)
    params = {k: v for k, v in vars(args).items() if k != "json_out"}
    params["sizes"] = {k: size(args, k) for k in SIZES}
    out = C.write_json(
        args.json_out,
        NAME,
        machine,
        params,
        results,
        {"figures": figures, "total_s": round(total_s, 1), "leaked_connections_seen": leaks},
    )
    if leaks:
        print(
            f"\nwarning: {len(leaks)} time(s), connections stayed open after every client "
            f"was destroyed ({leaks}): see the warnings above"
        )
    print(f"\ncode: {C.code_version()}; total {total_s:.0f}s")
    print(f"JSON written to {out}")


# --- figures against targets ---------------------------------------------------------------


def _fig(
    workload: str,
    figure: str,
    value: float | str | None,
    unit: str,
    target: str,
    ok: Callable[[float], bool] | None,
) -> dict[str, Any]:
    # A figure given as text (several values) has no target to pass or miss.
    if ok is None or value is None or isinstance(value, str):
        result = "-"
    else:
        result = "pass" if ok(value) else "MISS"
    return {
        "workload": workload,
        "figure": figure,
        "value": value,
        "unit": unit,
        "target": target,
        "result": result,
    }


def summarize(r: dict[str, Any]) -> list[dict[str, Any]]:
    f: list[dict[str, Any]] = []
    w1 = {x["variant"]: x for x in r.get("W1", [])}
    if "W1 1-step" in w1:
        x = w1["W1 1-step"]
        if "W1 0-step" in w1:
            f.append(
                _fig(
                    "W1",
                    f"drain {x['n']:,} 1-step wf, 2 workers",
                    x["wf_per_s"],
                    "wf/s",
                    ">= 10,000",
                    lambda v: v >= 10_000,
                )
            )
            y = w1["W1 0-step"]
            f.append(
                _fig(
                    "W1",
                    f"drain {y['n']:,} 0-step wf, 2 workers",
                    y["wf_per_s"],
                    "wf/s",
                    ">= 20,000",
                    lambda v: v >= 20_000,
                )
            )
        idle = max(v for v in x["idle_rss_mb"] if v is not None)
        peak = max(v for v in x["peak_rss_mb"] if v is not None)
        f.append(_fig("MEM", "idle worker RSS (max of 2)", idle, "MB", "<= 80", lambda v: v <= 80))
        f.append(
            _fig(
                "MEM",
                "worker peak RSS after W1 1-step (VmHWM)",
                peak,
                "MB",
                "<= 200",
                lambda v: v <= 200,
            )
        )
    if "W2" in r:
        x = r["W2"]["from_enqueue_call"]
        f.append(
            _fig(
                "W2",
                "enqueue-to-start p50 (from enqueue call)",
                x["p50_ms"],
                "ms",
                "<= 2",
                lambda v: v <= 2,
            )
        )
        f.append(
            _fig(
                "W2",
                "enqueue-to-start p99 (from enqueue call)",
                x["p99_ms"],
                "ms",
                "<= 5",
                lambda v: v <= 5,
            )
        )
        f.append(
            _fig("W2", "enqueue-to-start max (from enqueue call)", x["max_ms"], "ms", "-", None)
        )
        y = r["W2"]["from_enqueue_return"]
        f.append(
            _fig(
                "W2", "same, from enqueue return: p50", y["p50_ms"], "ms", "<= 2", lambda v: v <= 2
            )
        )
        f.append(
            _fig(
                "W2", "same, from enqueue return: p99", y["p99_ms"], "ms", "<= 5", lambda v: v <= 5
            )
        )
    if "W3" in r:
        a, m = r["W3"]
        f.append(
            _fig(
                "W3",
                "enqueue, 1 per transaction, 1 thread",
                a["enqueues_per_s"],
                "enq/s",
                ">= 3,000",
                lambda v: v >= 3_000,
            )
        )
        f.append(
            _fig(
                "W3",
                "enqueue_many, batches of 1,000",
                m["enqueues_per_s"],
                "enq/s",
                ">= 50,000",
                lambda v: v >= 50_000,
            )
        )
    if "W4" in r:
        s, big = r["W4"]

        def plan(x: dict[str, Any]) -> str:
            return "seq scan of the table" if x["scans_whole_table"] else "by primary key"

        f.append(
            _fig(
                "W4",
                f"claim of 64, {s['finished_rows']:,} finished rows (median; plan: {plan(s)})",
                s["engine_claim_median_us"] / 1000,
                "ms",
                "-",
                None,
            )
        )
        f.append(
            _fig(
                "W4",
                f"claim of 64, {big['finished_rows']:,} finished rows (median; plan: {plan(big)})",
                big["engine_claim_median_us"] / 1000,
                "ms",
                "-",
                None,
            )
        )
        f.append(
            _fig(
                "W4",
                "claim ratio large/small (engine)",
                round(big["engine_claim_median_us"] / s["engine_claim_median_us"], 3),
                "x",
                "<= 1.2",
                lambda v: v <= 1.2,
            )
        )
        f.append(
            _fig(
                "W4",
                "claim ratio large/small (bare SQL)",
                round(big["bare_claim_median_us"] / s["bare_claim_median_us"], 3),
                "x",
                "<= 1.2",
                lambda v: v <= 1.2,
            )
        )
        if "W4_drain" in r:
            f.append(
                _fig(
                    "W4",
                    f"diagnostic: W1 1-step drain beside {big['finished_rows']:,} finished rows",
                    r["W4_drain"]["wf_per_s"],
                    "wf/s",
                    "-",
                    None,
                )
            )
        f.append(
            _fig(
                "W4",
                "diagnostic: claim by primary key (hash/merge joins off), "
                f"{s['finished_rows']:,} / {big['finished_rows']:,} rows",
                f"{s['bare_claim_nested_loop_median_us'] / 1000:.2f} / "
                f"{big['bare_claim_nested_loop_median_us'] / 1000:.2f}",
                "ms",
                "-",
                None,
            )
        )
        f.append(
            _fig(
                "W4",
                "diagnostic: ratio, bare SQL with hash/merge joins off",
                round(
                    big["bare_claim_nested_loop_median_us"] / s["bare_claim_nested_loop_median_us"],
                    3,
                ),
                "x",
                "-",
                None,
            )
        )
    if "W5" in r:

        def rate(kind: str) -> float:
            runs = [x for x in r["W5"] if x["queue"] == kind]
            return round(sum(x["n"] for x in runs) / sum(x["wall_s"] for x in runs), 1)

        free, lim = rate("w5free"), rate("w5lim")
        each = {
            q: " / ".join(f"{x['wf_per_s']:,.0f}" for x in r["W5"] if x["queue"] == q)
            for q in ("w5free", "w5lim")
        }
        f.append(
            _fig("W5", f"2 workers, no limit (2 drains: {each['w5free']})", free, "wf/s", "-", None)
        )
        f.append(
            _fig(
                "W5",
                f"2 workers, concurrency=50 (2 drains: {each['w5lim']})",
                lim,
                "wf/s",
                "-",
                None,
            )
        )
        f.append(
            _fig(
                "W5",
                "ratio limited/unlimited",
                round(lim / free, 3),
                "x",
                ">= 0.8",
                lambda v: v >= 0.8,
            )
        )
    return f


def report(r: dict[str, Any], figures: list[dict[str, Any]]) -> None:
    if any(k in r for k in FLEET):
        from . import fleet_bench as F

        F.report(r)
    if not figures:
        return
    print()
    C.print_table(
        figures,
        [
            ("workload", "workload"),
            ("figure", "figure"),
            ("value", "value"),
            ("unit", "unit"),
            ("target", "target"),
            ("result", "result"),
        ],
    )
    drains = (
        r.get("W1", [])
        + ([r["profile"]] if "profile" in r else [])
        + r.get("W5", [])
        + ([r["W4_drain"]] if "W4_drain" in r else [])
    )
    _report_drain_table(drains)
    _report_drain_details(drains)
    _report_w1_w2(r)
    _report_w3_w4_profile(r)


def _report_drain_table(drains: list[dict[str, Any]]) -> None:
    """Per-drain CPU split, statements and commits per workflow."""
    if drains:
        print("\ndrains (2 workers): CPU split, statements and commits per workflow")
        rows = []
        for x in drains:
            c = x["cpu"]
            rows.append(
                {
                    "variant": x["variant"],
                    "n": x["n"],
                    "wf/s": x["wf_per_s"],
                    "stmts/wf": x["statements_per_wf"],
                    "claims": x["claims"],
                    "commits/wf": x.get("server_commits_per_wf"),
                    "fsyncs/wf": x.get("server_wal_fsyncs_per_wf"),
                    "workers µs/wf": c.get("workers_cpu_us_per_wf"),
                    "pg µs/wf": c.get("server_cpu_us_per_wf"),
                    "workers cores": c["workers_cores"],
                    "pg cores": c["server_cores"],
                    "other": c.get("other_load_cores"),
                    "split": "/".join(str(v) for v in x["workflows_per_process"]),
                    "claim→start p50 ms": x["claim_to_body_start"]["p50_ms"],
                }
            )
        C.print_table(rows, [(k, k) for k in rows[0]])
        for x in drains:
            kinds = ", ".join(
                f"{k} {v['per_wf']}/wf {v['mean_ms']}ms"
                for k, v in x["statements"].items()
                if v["per_wf"] >= 0.001
            )
            print(f"  {x['variant']} statements (per wf, mean ms each): {kinds}")
            print(f"  {x['variant']} worker thread CPU s: {x['worker_threads_cpu_s']}")


def _report_drain_details(drains: list[dict[str, Any]]) -> None:
    """Per-drain phase profile, server time by statement and plans used, where recorded."""
    for x in drains:
        if x.get("phases"):
            ph = x["phases"]
            print(f"\n  {x['variant']}: worker CPU by phase ({ph['samples']} py-spy samples)")
            for name, v in ph["phases"].items():
                print(f"    {name:22} {v['pct']:5.1f}%  {v['us_per_wf']} µs/wf")
    for x in drains:
        if x.get("pg_statements"):
            print(f"\n  {x['variant']}: server time by statement (pg_stat_statements)")
            for st in x["pg_statements"][:8]:
                print(
                    f"    {st['statement'][:40]:40} calls {st['calls']:6}"
                    f"  total {st['total_ms']:9.1f} ms"
                    f"  mean {st['mean_ms']:8.3f} ms  rows/call {st['rows_per_call']}"
                    f"  blocks/call {st['blocks_per_call']}"
                )
    for x in drains:
        if x.get("plans_used"):
            print(f"\n  {x['variant']}: plans used (auto_explain)")
            for g in x["plans_used"][:8]:
                print(
                    f"    {g['statement'][:22]:22} x{g['count']:<5} mean {g['mean_ms']:8.3f} ms"
                    f"  max {g['max_ms']:8.1f}  {g['plan']}"
                )


def _report_w1_w2(r: dict[str, Any]) -> None:
    """The W1 EXPLAIN ANALYZE plans and the W2 latency breakdown, where measured."""
    if "W1_plans" in r:
        x = r["W1_plans"]
        print(
            f"\nW1 plans, EXPLAIN ANALYZE ({x['enqueued']:,} enqueued; table not analyzed "
            "unless said):"
        )
        for key, what in (
            ("claim", "claim of 64"),
            ("claim_analyzed", "claim of 64, after ANALYZE"),
            ("record_operations_few_pending", "RECORD_OPERATIONS of 64, 64 PENDING"),
            ("record_operations_all_pending", f"RECORD_OPERATIONS of 64, {x['pending']:,} PENDING"),
            ("complete_workflows_few_pending", "COMPLETE_WORKFLOWS of 64, 64 PENDING"),
            (
                "complete_workflows_all_pending",
                f"COMPLETE_WORKFLOWS of 64, {x['pending']:,} PENDING",
            ),
        ):
            d = x[key]
            scans = "; ".join(
                line.strip()
                for line in d["plan_nodes"]
                if ("Scan" in line or "Join" in line)
                and "CTE" not in line
                and "loops=0" not in line
            )
            print(f"  {what}: {d['execution_ms']} ms, {d['shared_hit_blocks']} buffers: {scans}")
    if "W2" in r:
        x = r["W2"]
        print(
            f"\nW2 {x['variant']}: from enqueue call {x['from_enqueue_call']}; from enqueue "
            f"return {x['from_enqueue_return']}; the enqueue call itself {x['enqueue_call']}"
        )
        kinds = ", ".join(
            f"{k} {v['per_wf']}/wf {v['mean_ms']}ms"
            for k, v in x["worker_statements"].items()
            if v["per_wf"] >= 0.005
        )
        print(f"  worker statements (per wf, mean ms each): {kinds}")
        for k, v in x["producer_probes"].items():
            print(f"  producer engine probe {k}: p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms")


def _report_w3_w4_profile(r: dict[str, Any]) -> None:
    """The W3 enqueue costs, the W4 claim plans and the py-spy profile, where measured."""
    if "W3" in r:
        for x in r["W3"]:
            print(
                f"\nW3 {x['variant']}: {x['enqueues_per_s']:,.0f}/s, statements/enqueue "
                f"{x['statements_per_enqueue']} {x['statements_by_kind']}, client CPU "
                f"{x['client_cpu_us_per_enqueue']} µs/enq (engine thread "
                f"{x.get('engine_thread_cpu_us_per_enqueue')}), server CPU "
                f"{x.get('server_cpu_us_per_enqueue')} µs/enq"
            )
    if "W4_purge" in r:
        x = r["W4_purge"]
        print(
            f"\nW4 claims during a retention purge: alone {x['alone']}, during {x['during_purge']}"
            f" (median ratio {x['ratio_median']}, target <= 1.2; {x['deleted_during']:,} rows"
            f" deleted in {x['purge_s']} s)"
        )
    if "W4" in r:
        for x in r["W4"]:
            print(
                f"\nW4 {x['finished_rows']:,} finished rows: engine claim {x['engine_claim']}, "
                f"bare CLAIM {x['bare_claim']}; bare CLAIM with hash/merge joins off "
                f"(diagnostic) "
                f"{x['bare_claim_nested_loop']}; EXPLAIN ANALYZE {x['plan_execution_ms']} ms, "
                f"{x['plan_shared_hit_blocks']} buffers hit"
            )
            for line in x["plan_nodes"]:
                print(f"    {line}")
    if "profile" in r:
        prof = r["profile"].get("profile")
        if prof:
            print(f"\npy-spy (one worker, 5 s, --gil): {prof['samples']} samples")
            for kind in ("self", "inclusive", "by_file"):
                print(f"  top {kind}:")
                for e in prof[kind][:12]:
                    print(f"    {e['pct']:5.1f}%  {e['frame']}")


if __name__ == "__main__":
    main()
