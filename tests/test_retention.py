"""Retention (queue/retention.py): bounded purges by age and count, once per interval
fleet-wide when configured."""

from __future__ import annotations

import psycopg

from dbos_queue import DBOS
from dbos_queue.api.dbos import _rt
from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.queue.retention import purge
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until


def _fill(url: str) -> None:
    """20 finished workflows (created 1..20 minutes ago, oldest first) with a step each,
    plus an old ENQUEUED and an old PENDING one that no purge may touch."""
    base = now_ms() - 21 * 60_000
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(20):
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at,"
                " updated_at) VALUES (%s, %s, 'f', %s, %s)",
                (f"done-{i:02d}", "SUCCESS" if i % 3 else "ERROR", base + i * 60_000, base),
            )
            conn.execute(
                "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, output)"
                " VALUES (%s, 1, '1')",
                (f"done-{i:02d}",),
            )
        for wf_id, status in (("old-queued", "ENQUEUED"), ("old-running", "PENDING")):
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, created_at,"
                " updated_at) VALUES (%s, %s, 'f', %s, %s)",
                (wf_id, status, base - 1, base),
            )


def _ids(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at"
            ).fetchall()
        ]


def test_purge_by_age_then_by_count_in_small_batches(dbos, db_url):
    _fill(db_url)
    sysdb = _rt().sysdb
    # Older than 10.5 minutes: done-00 .. done-10 (11 rows), in batches of 3.
    n = _rt().engine.run(purge(sysdb, older_than_sec=630, batch=3, pause=False))
    assert n == 11
    assert _ids(db_url) == ["old-queued", "old-running"] + [f"done-{i:02d}" for i in range(11, 20)]
    # Keep the newest 4 rows of the table: the finished ones before them go.
    n = _rt().engine.run(purge(sysdb, keep_rows=4, batch=2, pause=False))
    assert n == 5
    assert _ids(db_url) == ["old-queued", "old-running"] + [f"done-{i:02d}" for i in range(16, 20)]
    with psycopg.connect(db_url) as conn:  # their steps went with them
        steps = conn.execute("SELECT count(*) FROM dbos.operation_outputs").fetchone()
    assert steps == (4,)
    assert DBOS.garbage_collect(keep_rows=1) == 3  # the facade goes the same way


def test_one_process_per_interval_takes_the_retention_turn(db_url, dbos):
    now = now_ms()
    with (
        psycopg.connect(db_url, autocommit=True) as a,
        psycopg.connect(db_url, autocommit=True) as b,
    ):
        args = {"task": "retention", "now": now, "interval_ms": 60_000}
        first = a.execute(_sql.TAKE_MAINTENANCE_TURN, {**args, "by": "a"}).fetchone()
        second = b.execute(_sql.TAKE_MAINTENANCE_TURN, {**args, "by": "b"}).fetchone()
        later = b.execute(
            _sql.TAKE_MAINTENANCE_TURN, {**args, "now": now + 60_000, "by": "b"}
        ).fetchone()
    assert (first, second, later) == (("retention",), None, ("retention",))


def test_automatic_retention_keeps_the_newest_rows(db_url, configured):
    DBOS.destroy(destroy_registry=True)
    DBOS(
        config={
            "name": "retained",
            "system_database_url": db_url,
            "workflow_retention_rows": 5,
            "workflow_retention_interval_sec": 0.4,
        }
    )

    @DBOS.workflow()
    def w(i: int) -> int:
        return i

    DBOS.launch()
    for i in range(12):
        w(i)
    with psycopg.connect(db_url, autocommit=True) as conn:

        def rows() -> int:
            return must(conn.execute("SELECT count(*) FROM dbos.workflow_status").fetchone())[0]

        wait_until(lambda: rows() <= 5, 30, "retention to leave at most 5 rows", every=0.05)
        n = rows()
        by = must(
            conn.execute("SELECT run_by FROM dbos.maintenance WHERE task = 'retention'").fetchone()
        )[0]
    assert n == 5
    assert by == _rt().process_id
