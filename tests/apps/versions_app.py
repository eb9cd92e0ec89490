"""Worker app for the application-version tests (``dbos-queue worker tests.apps.versions_app``).

Its version comes from ``DBOS__APPVERSION``. ``who`` records which process (pid,
version) ran each workflow in the table ``version_runs``; with ``VERSIONS_APP_HANG=1``
its second step hangs until the process is killed.
"""

from __future__ import annotations

import os
import threading

import psycopg

from dbos_queue import DBOS, Queue

URL = os.environ["VERSIONS_APP_URL"]

DBOS(
    config={
        "name": "versions-app",
        "system_database_url": URL,
        "executor_lease_sec": float(os.environ.get("VERSIONS_APP_LEASE", "2")),
    }
)

Queue("vq")


@DBOS.step()
def record(tag: str) -> int:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO version_runs (workflow_id, tag, version, pid) VALUES (%s, %s, %s, %s)",
            (DBOS.workflow_id, tag, DBOS.application_version, os.getpid()),
        )
    return os.getpid()


@DBOS.step()
def maybe_hang() -> None:
    if os.environ.get("VERSIONS_APP_HANG") == "1":
        threading.Event().wait()  # until SIGKILL


@DBOS.workflow()
def who(tag: str) -> str:
    record(tag)
    maybe_hang()
    record(tag + ":done")
    return DBOS.application_version
