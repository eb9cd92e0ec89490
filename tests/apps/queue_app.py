"""Worker app for the queue tests: run with ``dbos-queue worker tests.apps.queue_app``.

Every execution of ``timed`` records (workflow, queue, key, pid, start, end) in
the table ``runs``, so tests can check limits across processes afterwards.
"""

from __future__ import annotations

import os
import time

import psycopg

from dbos_queue import DBOS, Queue

URL = os.environ["QUEUE_APP_URL"]

DBOS(
    config={
        "name": "queue-app",
        "system_database_url": URL,
        "executor_lease_sec": float(os.environ.get("QUEUE_APP_LEASE", "2")),
    }
)

Queue("glob", concurrency=3)
# At most 2 per worker under a fleet-wide 3: three at once needs two workers.
Queue("globspread", concurrency=3, worker_concurrency=2)
Queue("perworker", worker_concurrency=2)
Queue("rate", limiter={"limit": 4, "period": 1.0})
DBOS.register_queue("part", partition_concurrency=1)
Queue("ordered", concurrency=1)
Queue("prio", concurrency=1, priority_enabled=True)
Queue("free")
Queue("slowpoll", polling_interval_sec=60.0)  # only a NOTIFY wakes its workers in time
Queue("wide", concurrency=50)  # many fleet-wide slots, turned over fast


def _record(queue: str, tag: str, start: float, end: float) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO runs (workflow_id, queue, tag, pid, started, ended)"
            " VALUES (%s,%s,%s,%s,%s,%s)",
            (DBOS.workflow_id, queue, tag, os.getpid(), start, end),
        )


# Retries: the step writes to Postgres itself, and one test restarts Postgres.
@DBOS.step(retries_allowed=True, interval_seconds=0.2, max_attempts=30, backoff_rate=1.0)
def hold(queue: str, tag: str, seconds: float) -> str:
    start = time.time()
    time.sleep(seconds)
    _record(queue, tag, start, time.time())
    return tag


@DBOS.workflow()
def timed(queue: str, tag: str, seconds: float) -> str:
    return hold(queue, tag, seconds)


@DBOS.step()
def mark(step: int) -> int:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO step_runs (workflow_id, step, pid) VALUES (%s, %s, %s)",
            (DBOS.workflow_id, step, os.getpid()),
        )
        conn.execute(
            "SELECT pg_notify('queue_test', %s)", (f"{DBOS.workflow_id}:{step}:{os.getpid()}",)
        )
    if step == 2 and os.environ.get("QUEUE_APP_HANG") == "1":
        time.sleep(float(os.environ.get("QUEUE_APP_HANG_SECONDS", "3600")))  # until killed
    return step


@DBOS.workflow()
def three(x: int) -> list:
    return [mark(1), mark(2), mark(3), x]


@DBOS.step()
def noop(i: int) -> int:
    return i


@DBOS.workflow()
def quick(i: int) -> int:
    return noop(i)
