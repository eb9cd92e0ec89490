"""Worker app for mixed-fleet tests: ``dbos-queue worker tests.apps.fleet_app``.

Every copy declares the queue ``mixed`` and the workflow ``common``; only a copy started
with ``FLEET_HAS_ONLY_B=1`` also defines ``only_b`` (newer code in a rolling deploy).
``only_b`` records which process ran it in ``fleet_runs`` (outside the library).
"""

from __future__ import annotations

import os

import psycopg

from dbos_queue import DBOS, Queue

URL = os.environ["FLEET_APP_URL"]

DBOS(config={"name": "fleet-app", "system_database_url": URL, "executor_lease_sec": 3.0})

Queue("mixed")


@DBOS.workflow()
def common(x: int) -> int:
    return x


if os.environ.get("FLEET_HAS_ONLY_B") == "1":

    @DBOS.step()
    def record() -> None:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO fleet_runs (workflow_id, pid) VALUES (%s, %s)",
                (DBOS.workflow_id, os.getpid()),
            )

    @DBOS.workflow(name="only_b")
    def only_b(x: int) -> int:
        record()
        return x * 2
