"""What launching K worker processes together costs Postgres (issue 12's herd window).

The herd benchmark (``../shared/peers``, W2 with 16 workers) starts its CPU clock before
the workers call ``DBOS.launch()``, so every launch's backend starts, catalog caches and
first plans are paid per job there. This probe launches K workers like the peers adapter
does, on a fresh database, and prints the Postgres CPU and the new sessions of the launch
and of the idle seconds after it.

Postgres CPU is the postmaster's and its backends', exited ones included (measured as the
peers runner does, ``benchmarks/peers/drivers/measure.py``). Run it on a server of your
own (the peers' cluster: ``../shared/peers/pg.sh start``), never beside a test suite or
another benchmark::

    python -m benchmarks.launch_probe --workers 16 --hold 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import psycopg

from benchmarks.peers.drivers import measure

DB = "launch_probe"

WORKER = r"""
import sys
from dbos_queue import DBOS
DBOS(config={"name": "bench", "system_database_url": sys.argv[1],
              "application_version": "v1", "executor_id": "w" + sys.argv[2],
              "log_level": "WARNING"})
DBOS.register_queue("bench", polling_interval_sec=1.0)
DBOS.launch()
print("up", flush=True)
sys.stdin.readline()
DBOS.destroy(workflow_completion_timeout_sec=5)
"""


def postmaster_pid(conn: psycopg.Connection[tuple[int]]) -> int:
    """The postmaster's PID: the parent of this connection's backend."""
    row = conn.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    with open(f"/proc/{row[0]}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def postgres_cpu_sec(pg_pid: int) -> float:
    """CPU seconds of the postmaster and all its backends, exited ones included."""
    return measure.cpu_snapshot(pg_pid)["postgres"]


def sessions(conn: psycopg.Connection[tuple[int]]) -> int:
    row = conn.execute("select sessions from pg_stat_database where datname = %s", (DB,)).fetchone()
    return int(row[0]) if row else 0


# What each open session of the probe's database last ran, grouped.
OPEN_SESSIONS = """
SELECT count(*), state, left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
  FROM pg_stat_activity WHERE datname = %s GROUP BY 2, 3 ORDER BY 1 DESC
"""


def start(url: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("\n")
        p.stdin.flush()
    for p in procs:
        p.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:55432/postgres")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--hold", type=float, default=3.0, help="idle seconds measured after")
    ap.add_argument("--list", action="store_true", help="print the open sessions at the end")
    a = ap.parse_args()
    base = a.url.rsplit("/", 1)[0]
    with psycopg.connect(a.url, autocommit=True) as c:
        c.execute(f"drop database if exists {DB} with (force)")
        c.execute(f"create database {DB}")
    url = f"{base}/{DB}"
    setup = start(url, "setup")  # migrates the fresh database, outside the measurement
    assert setup.stdout is not None
    setup.stdout.readline()
    stop([setup])
    with psycopg.connect(a.url, autocommit=True) as mon:
        pg_pid = postmaster_pid(mon)
        s0, c0, t0 = sessions(mon), postgres_cpu_sec(pg_pid), time.monotonic()
        procs = [start(url, str(i)) for i in range(a.workers)]
        for p in procs:
            assert p.stdout is not None
            p.stdout.readline()
        t1, c1, s1 = time.monotonic(), postgres_cpu_sec(pg_pid), sessions(mon)
        time.sleep(a.hold)
        c2, s2 = postgres_cpu_sec(pg_pid), sessions(mon)
        if a.list:
            for row in mon.execute(OPEN_SESSIONS, (DB,)).fetchall():
                print(*row, sep="  ")
        stop(procs)
    print(
        f"workers={a.workers} launch {t1 - t0:.2f} s: Postgres CPU {1000 * (c1 - c0):.0f} ms, "
        f"{s1 - s0} sessions; the next {a.hold:g} s idle: {1000 * (c2 - c1):.0f} ms, "
        f"{s2 - s1} sessions"
    )


if __name__ == "__main__":
    main()
