"""Faults that come together: a kill during a Postgres restart, two rescuers at once,
takeovers and claims whose connection drops.

Nothing may be stranded, no workflow executed by two executors at once, no step run
more than twice — and twice only for the step a killed process was running.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from typing import LiteralString, cast

import psycopg
import psycopg.sql
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.db import sql as _sql
from dbos_queue.engine import core as _core
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.queue.takeover import TakeoverScan
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until
from tests.reliability_support import check_bookkeeping, effects, status

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.plugins.reliability"]  # fixtures: effects_db, spawn


def _unfinished(url: str) -> int:
    with psycopg.connect(url) as conn:
        return must(
            conn.execute(
                "SELECT count(*) FROM dbos.workflow_status WHERE status <> 'SUCCESS'"
            ).fetchone()
        )[0]


def _ran_after(rows: list, t: float) -> set[int]:
    return {pid for _s, pid, started, _e in rows if started > t}


# --- real processes -----------------------------------------------------------------


def test_a_worker_killed_while_postgres_restarts(spawn, effects_db, pg_restart):
    env = {"RELIABILITY_LEASE": "2"}
    a = spawn("worker", "--concurrency", "3", env=env)
    b = spawn("worker", "--concurrency", "3", env=env)
    ids = [f"pk{i}" for i in range(6)]
    with DBOSClient(effects_db) as client:
        opts: EnqueueOptions = {"queue_name": "work", "workflow_name": "many"}
        handles = [client.enqueue({**opts, "workflow_id": i}, 16, 0.2) for i in ids]
        wait_until(lambda: all(len(effects(effects_db, i)) >= 2 for i in ids), 60, "6 running")
        on_a = {i for i in ids if effects(effects_db, i)[-1][1] == a.pid}
        assert on_a and len(on_a) < len(ids), "each worker runs some of them"
        a.signal(signal.SIGKILL)
        pg_restart()
        results = [h.get_result(timeout=120) for h in handles]
    assert results == [sum(range(1, 17))] * len(ids)
    for wf_id in ids:
        rows = effects(effects_db, wf_id)
        # Only the step the killed worker was running may run twice; the survivor's
        # own workflows rode out the restart without repeating anything.
        check_bookkeeping(rows, 16, max_twice=1 if wf_id in on_a else 0)
    assert _unfinished(effects_db) == 0
    assert b.proc.poll() is None


def test_postgres_crashing_between_claims_and_their_first_write(
    spawn, effects_db, pg_restart, pg_server_url, tmp_path
):
    # A claim commits without waiting for its WAL flush (DESIGN-NOTES.md 17), so a crash
    # of Postgres right after it may undo it while the worker already runs the workflow's
    # first step. The WAL writer is slowed down for the test so that window stays open;
    # the first step writes nothing to the database until the test has crashed Postgres.
    # Either way, every workflow finishes once, the first step runs at most twice (again
    # only when its claim was lost and the workflow claimed anew) and no later step twice.
    def set_wal_writer_delay(value: str | None) -> None:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            if value is None:
                conn.execute("ALTER SYSTEM RESET wal_writer_delay")
            else:
                query = psycopg.sql.SQL("ALTER SYSTEM SET wal_writer_delay = {}")
                conn.execute(query.format(psycopg.sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")

    env = {"RELIABILITY_LEASE": "30", "RELIABILITY_GATE": str(tmp_path)}
    ids = [f"crash{i}" for i in range(3)]
    set_wal_writer_delay("10s")
    try:
        worker = spawn("worker", "--concurrency", "4", env=env)
        with DBOSClient(effects_db) as client:
            opts: EnqueueOptions = {"queue_name": "work", "workflow_name": "gated"}
            handles = [client.enqueue({**opts, "workflow_id": i}, 3) for i in ids]
            started = tmp_path / "started"
            wait_until(
                lambda: started.exists() and len(started.read_text().split("\n")) > len(ids),
                60,
                "every workflow claimed and in its first step",
            )
            pg_restart("immediate")
            (tmp_path / "go").touch()
            results = [h.get_result(timeout=120) for h in handles]
    finally:
        set_wal_writer_delay(None)
    assert results == [1 + 2 + 3] * len(ids)
    gate_runs = Counter(line.split()[0] for line in started.read_text().split("\n") if line)
    assert set(gate_runs) == set(ids)
    assert all(n <= 2 for n in gate_runs.values()), gate_runs
    for wf_id in ids:
        check_bookkeeping(effects(effects_db, wf_id), 3, max_twice=0)
    assert _unfinished(effects_db) == 0
    assert worker.proc.poll() is None  # the worker rode out the crash


def test_two_rescuers_see_the_same_dead_process_at_the_same_moment(spawn, effects_db):
    owner = spawn("start", 8, "twin", 6, 0.3, env={"RELIABILITY_LEASE": "2"})
    ids = [f"twin{i}" for i in range(8)]
    wait_until(lambda: all(effects(effects_db, i) for i in ids), 60, "all 8 to start")
    owner.signal(signal.SIGKILL)
    owner.wait(10)
    killed_at = time.time()
    # Both launch at once: each finds the dead process on this host and recovers the
    # same executor id's workflows in the same instant.
    r1 = spawn("worker", env={"RELIABILITY_LEASE": "2"}, wait_ready=False)
    r2 = spawn("worker", env={"RELIABILITY_LEASE": "2"}, wait_ready=False)
    r1.ready()
    r2.ready()
    with DBOSClient(effects_db) as client:
        results = [client.get_result(i, timeout=90) for i in ids]
    assert results == [21] * len(ids)
    for wf_id in ids:
        rows = effects(effects_db, wf_id)
        check_bookkeeping(rows, 6, max_twice=1)
        assert len(_ran_after(rows, killed_at)) == 1, f"two executors ran {wf_id}: {rows}"
        assert must(status(effects_db, wf_id))[2] == 2, "taken over exactly once"
    assert _unfinished(effects_db) == 0


def test_recovery_survives_connections_dropped_under_it(spawn, effects_db):
    owner = spawn("start", 10, "drop", 5, 0.2, env={"RELIABILITY_LEASE": "2"})
    ids = [f"drop{i}" for i in range(10)]
    wait_until(lambda: all(effects(effects_db, i) for i in ids), 60, "all 10 to start")
    owner.signal(signal.SIGKILL)
    owner.wait(10)
    killed_at = time.time()
    stop = threading.Event()

    def drop_connections() -> None:  # every backend of the test's database, repeatedly
        with psycopg.connect(effects_db, autocommit=True) as conn:
            me = must(conn.execute("SELECT pg_backend_pid()").fetchone())[0]
            end = time.monotonic() + 4
            while not stop.is_set() and time.monotonic() < end:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> %s",
                    (me,),
                )
                stop.wait(0.15)

    chaos = threading.Thread(target=drop_connections)
    rescuer = spawn("worker", env={"RELIABILITY_LEASE": "2"}, wait_ready=False)
    chaos.start()
    try:
        rescuer.ready()
        chaos.join(30)
    finally:
        stop.set()
    with DBOSClient(effects_db) as client:
        results = [client.get_result(i, timeout=120) for i in ids]
    assert results == [15] * len(ids)
    for wf_id in ids:
        rows = effects(effects_db, wf_id)
        check_bookkeeping(rows, 5, max_twice=1)
        assert _ran_after(rows, killed_at) <= {rescuer.pid}
    assert _unfinished(effects_db) == 0


# --- the statements at the moment two takers race -----------------------------------


def _dead_pending(url: str, wf_id: str, queue: str | None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.executors (process_id, executor_id, hostname, pid,"
            " application_version, started_at_epoch_ms, heartbeat_at_epoch_ms,"
            " lease_expires_at_epoch_ms) VALUES ('gone', 'local', 'h', 1, 'v', 0, 0, 0)"
            " ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, owner_xid,"
            " executor_id, queue_name, recovery_attempts, created_at, updated_at)"
            " VALUES (%s, 'PENDING', 'wf', 'gone:1', 'local', %s, 1, 0, 0)",
            (wf_id, queue),
        )


def _late_owner_then_race(url: str, first_sql: str, first: dict, second) -> object:
    """In one transaction a process registers and takes the row (not committed yet);
    meanwhile ``second`` runs (its snapshot cannot see that process) and blocks on the
    row; then the first commits. Returns what ``second`` got."""
    got: list = []
    with psycopg.connect(url) as c1:
        c1.execute(
            "INSERT INTO dbos.executors (process_id, executor_id, hostname, pid,"
            " application_version, started_at_epoch_ms, heartbeat_at_epoch_ms,"
            " lease_expires_at_epoch_ms) VALUES ('late', 'local', 'h', 2, 'v', 0, 0,"
            " 9000000000000)"
        )
        # first_sql is a literal or a sql.py constant (typed str), never input.
        assert c1.execute(cast(LiteralString, first_sql), first).fetchall(), "the first taker wins"
        c2 = psycopg.connect(url, autocommit=True)
        t = threading.Thread(target=lambda: got.append(second(c2)))
        t.start()
        wait_until(
            lambda: must(
                c1.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pid = %s AND wait_event_type = 'Lock'",
                    (c2.info.backend_pid,),
                ).fetchone()
            )[0],
            10,
            "the second taker to wait for the row",
        )
        c1.commit()
        t.join(10)
        c2.close()
    return got[0]


def test_two_takeovers_race_and_only_the_first_owns_the_workflow(db_url):
    _dead_pending(db_url, "race1", None)
    params = {"id": "race1", "executor_id": "local", "now": 1}

    def second(conn: psycopg.Connection) -> list:
        return conn.execute(_sql.TAKEOVER_WORKFLOW, {**params, "owner": "other:1"}).fetchall()

    got = _late_owner_then_race(
        db_url, _sql.TAKEOVER_WORKFLOW, {**params, "owner": "late:1"}, second
    )
    assert got == [], "the second taker found a live owner and took nothing"
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT owner_xid, recovery_attempts FROM dbos.workflow_status"
            " WHERE workflow_uuid = 'race1'"
        ).fetchone()
    assert row == ("late:1", 2)


def test_a_requeue_racing_a_fresh_claim_leaves_the_claim_alone(db_url):
    _dead_pending(db_url, "race2", "work")
    claim = (
        "UPDATE dbos.workflow_status SET owner_xid = %(owner)s WHERE workflow_uuid = %(id)s"
        " RETURNING workflow_uuid"
    )

    def second(conn: psycopg.Connection) -> list:
        return conn.execute(_sql.REQUEUE_DEAD_OWNERS, {"now": 1}).fetchall()

    got = _late_owner_then_race(db_url, claim, {"owner": "late:1", "id": "race2"}, second)
    assert got == []
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, owner_xid FROM dbos.workflow_status WHERE workflow_uuid = 'race2'"
        ).fetchone()
    assert row == ("PENDING", "late:1")


# --- replies lost to a dropped connection ---------------------------------------------


def test_retried_writes_whose_first_attempt_landed_are_not_refused(dbos, db_url):
    rt = _rt()
    _dead_pending(db_url, "lost1", None)
    owner = rt.new_owner()
    first = rt.engine.run(rt.sysdb.takeover("lost1", owner, rt.executor_id))
    again = rt.engine.run(rt.sysdb.takeover("lost1", owner, rt.executor_id))
    assert first is not None and again is not None, "a retry gets its own takeover back"
    assert again[0] == first[0] == 2, "and counts one attempt, not two"
    ctx = WorkflowContext("lost1", owner)
    rec = rt.sysdb.operation_params("lost1", owner, 1, "s", '"x"')
    assert rt.engine.run(rt.sysdb.record_operation(rec))
    assert not rt.engine.run(rt.sysdb.record_operation(dict(rec)))  # the retry conflicts
    rt.engine.run(_core.explain_refusal(rt, ctx))  # ... but it was ours: no error
    assert ctx.stop_reason is None


def test_a_row_held_but_not_run_is_released_and_runs(dbos, db_url):
    q = Queue("held")

    @DBOS.workflow()
    def held_wf(x: int) -> int:
        return x * 3

    rt = _rt()
    assert rt.engine.run(rt.queues.set_limits("held", paused=True))
    with SetWorkflowID("held1"):
        h = q.enqueue(held_wf, 5)
    token = rt.new_owner()
    with psycopg.connect(db_url, autocommit=True) as conn:
        # A claim that committed but whose reply was lost: PENDING under our token,
        # and long enough ago that no dispatch can still be on its way.
        conn.execute(
            "UPDATE dbos.workflow_status SET status = 'PENDING', owner_xid = %s,"
            " recovery_attempts = 1, updated_at = 0 WHERE workflow_uuid = 'held1'",
            (token,),
        )
    scan = TakeoverScan(rt)
    assert rt.engine.run(scan.release_stranded()) == [], "the first pass only suspects it"
    assert rt.engine.run(scan.release_stranded()) == ["held1"]
    assert must(status(db_url, "held1"))[:2] == ("ENQUEUED", None)
    assert rt.engine.run(rt.queues.set_limits("held", paused=False))
    assert h.get_result(timeout=30) == 15
