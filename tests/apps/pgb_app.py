"""Worker app for the PgBouncer tests: ``dbos-queue worker tests.apps.pgb_app``.

``PGB_APP_URL`` is the system database as the worker sees it (through the pooler);
the PgBouncer switches come from the environment (DBOS_QUEUE_PREPARE_THRESHOLD,
DBOS_QUEUE_LISTEN_DATABASE_URL, DBOS_QUEUE_USE_LISTEN_NOTIFY), as a deployment sets
them. Every step body and every schedule tick inserts one row into ``pgb_effects``
over ``PGB_APP_DIRECT_URL`` (outside the library), so a duplicate is counted.
"""

from __future__ import annotations

import os

import psycopg

from dbos_queue import DBOS, Queue
from dbos_queue.error import DBOSWorkflowCancelledError

URL = os.environ["PGB_APP_URL"]
DIRECT = os.environ["PGB_APP_DIRECT_URL"]

DBOS(config={"name": "pgb-app", "system_database_url": URL, "executor_lease_sec": 3.0})

Queue("pgb")
Queue("pgb_limited", concurrency=2)  # fleet-wide limit: the claim takes a row lock


def _effect(kind: str, key: str) -> None:
    with psycopg.connect(DIRECT, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pgb_effects (kind, key, pid) VALUES (%s, %s, %s)",
            (kind, key, os.getpid()),
        )


@DBOS.step()
def effect(i: int) -> int:
    _effect("step", f"{DBOS.workflow_id}:{i}")
    return i


@DBOS.workflow()
def steps(n: int) -> int:
    return sum(effect(i) for i in range(n))


@DBOS.workflow()
def chat(values: int) -> str:
    """recv, then an event and a stream: the whole messaging path."""
    msg = DBOS.recv("ping", timeout_seconds=60)
    DBOS.set_event("got", msg)
    for i in range(values):
        DBOS.write_stream("s", i)
    DBOS.close_stream("s")
    return f"{msg}!"


@DBOS.workflow()
def sleeper(seconds: float) -> str:
    effect(0)
    try:  # a cancel that reached this execution stops it at the sleep or before effect(1)
        DBOS.sleep(seconds)
        effect(1)
    except DBOSWorkflowCancelledError:
        _effect("cancel seen", DBOS.workflow_id or "")
        raise
    return "woke"


@DBOS.scheduled("* * * * * *")
@DBOS.workflow()
def tick(scheduled, actual) -> None:
    _effect("tick", scheduled.isoformat())
