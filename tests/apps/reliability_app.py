"""App for the drain, rolling-restart and fault tests.

As a worker: ``dbos-queue worker tests.apps.reliability_app`` (queue ``work``).
As a process that starts non-queued workflows itself and keeps running them:
``python -m tests.apps.reliability_app start N PREFIX STEPS SECONDS`` prints
``ready`` once all are started; SIGTERM makes it ``DBOS.destroy`` with the drain
timeout ``RELIABILITY_DRAIN`` (seconds) and print what it handed back.

Every run of a step body writes one row to the test's own table ``effects``
(outside the library), so a test counts duplicates and losses instead of guessing.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from typing import LiteralString

import psycopg

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.cli.signals import StopSignals

URL = os.environ["RELIABILITY_URL"]

DBOS(
    config={
        "name": "reliability-app",
        "system_database_url": URL,
        "executor_lease_sec": float(os.environ.get("RELIABILITY_LEASE", "2")),
    }
)
Queue("work")


def _write(sql: LiteralString, params: tuple) -> tuple | None:
    """One autocommit statement, retried while Postgres restarts (some tests restart it)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(URL, autocommit=True, connect_timeout=5) as conn:
                return conn.execute(sql, params).fetchone()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@DBOS.step()
def tick(step: int, seconds: float) -> int:
    """The side effect: a row when the body starts, its end time when it returns."""
    run = uuid.uuid4().hex  # one per body run: a retried insert cannot count it twice
    _write(
        "INSERT INTO effects (run, workflow_id, step, pid, started) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (run) DO NOTHING RETURNING id",
        (run, DBOS.workflow_id, step, os.getpid(), time.time()),
    )
    time.sleep(seconds)
    _write("UPDATE effects SET ended = %s WHERE run = %s RETURNING id", (time.time(), run))
    return step


@DBOS.workflow()
def many(steps: int, seconds: float) -> int:
    """``steps`` steps of ``seconds`` each; returns the sum of their numbers."""
    return sum(tick(i, seconds) for i in range(1, steps + 1))


@DBOS.workflow()
def napper(seconds: float) -> str:
    """A step, a durable sleep, a step."""
    tick(1, 0.0)
    DBOS.sleep(seconds)
    tick(2, 0.0)
    return "rested"


@DBOS.step()
def gate() -> None:
    """A first step that touches no database: it notes its run in a file, then waits
    for the test's "go" file (the fault tests crash Postgres meanwhile)."""
    gate_dir = os.environ["RELIABILITY_GATE"]
    with open(os.path.join(gate_dir, "started"), "a") as f:
        f.write(f"{DBOS.workflow_id} {os.getpid()}\n")
    while not os.path.exists(os.path.join(gate_dir, "go")):
        time.sleep(0.02)


@DBOS.workflow()
def gated(steps: int) -> int:
    """``gate``, then ``steps`` instant steps; returns the sum of their numbers."""
    gate()
    return sum(tick(i, 0.0) for i in range(1, steps + 1))


def _start(count: int, prefix: str, steps: int, seconds: float) -> None:
    DBOS.launch()
    for i in range(count):
        with SetWorkflowID(f"{prefix}{i}"):
            DBOS.start_workflow(many, steps, seconds)
    stop = StopSignals(signal.SIGTERM)  # no lock in the handler (see dbos_queue/cli/signals.py)
    print("ready", flush=True)
    stop.wait()
    from dbos_queue.api.dbos import _rt

    rt = _rt()
    DBOS.destroy(workflow_completion_timeout_sec=float(os.environ.get("RELIABILITY_DRAIN", "1")))
    print(f"handed back {len(rt.drained or [])}", flush=True)
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1] == "start":
        _start(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
