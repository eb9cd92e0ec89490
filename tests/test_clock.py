"""Time-driven behaviour under a manual clock: the test moves time instead of sleeping."""

from __future__ import annotations

import psycopg

from dbos_queue import DBOS, Queue, SetEnqueueOptions
from dbos_queue.api.dbos import _rt
from dbos_queue.model.clock import ManualClock, use_clock
from tests.plugins.waiting import wait_until


def _status(url: str, wf_id: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = %s", (wf_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_delayed_workflow_starts_once_the_clock_reaches_its_delay(db_url, configured):
    q = Queue("later")

    @DBOS.workflow()
    def hello(x: int) -> int:
        return x + 1

    with use_clock(ManualClock()) as clock:
        configured()
        with SetEnqueueOptions(delay_seconds=3600):
            h = q.enqueue(hello, 41)
        assert _status(db_url, h.workflow_id) == "DELAYED"
        assert isinstance(clock, ManualClock)
        clock.advance(3599)
        rt = _rt()
        rt.engine.loop.call_soon_threadsafe(rt.queues.wake_delayed)
        rt.engine.run(rt.queues.refresh("later"))  # one engine round trip after the wake
        assert _status(db_url, h.workflow_id) == "DELAYED"  # a second early: still waiting
        clock.advance(2)
        rt.engine.loop.call_soon_threadsafe(rt.queues.wake_delayed)
        assert h.get_result(timeout=30) == 42


def test_a_dead_processes_lease_expires_when_the_clock_passes_it(db_url, configured):
    q = Queue("orphans")

    @DBOS.workflow()
    def finish(x: int) -> int:
        return x * 10

    with use_clock(ManualClock()) as clock:
        assert isinstance(clock, ManualClock)
        now = clock.now_ms()
        configured()
        rt = _rt()
        # A queued workflow claimed by another process whose lease runs 60 s more.
        with SetEnqueueOptions(delay_seconds=3600):
            h = q.enqueue(finish, 7)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.executors (process_id, executor_id, hostname, pid,"
                " application_version, started_at_epoch_ms, heartbeat_at_epoch_ms,"
                " lease_expires_at_epoch_ms) VALUES ('elsewhere', 'local', 'h', 1, 'v',"
                " %s, %s, %s)",
                (now, now, now + 60_000),
            )
            conn.execute(
                "UPDATE dbos.workflow_status SET status = 'PENDING',"
                " owner_xid = 'elsewhere:1', executor_id = 'local' WHERE workflow_uuid = %s",
                (h.workflow_id,),
            )
        assert rt.engine.run(rt.queues.reap()) == []  # its lease still holds
        assert _status(db_url, h.workflow_id) == "PENDING"
        clock.advance(61)
        # Our own lease is renewed on the moved clock before we look for dead owners.
        rt.engine.run(
            rt.sysdb.heartbeat(rt.process_id, clock.now_ms(), rt.lease_ms)  # type: ignore[attr-defined]
        )
        assert rt.engine.run(rt.queues.reap()) == [h.workflow_id]
        assert h.get_result(timeout=30) == 70
        wait_until(lambda: _status(db_url, h.workflow_id) == "SUCCESS", 10, "the status row")


def test_the_fleet_wide_half_of_the_takeover_pass_runs_once_per_interval(db_url, configured):
    from dbos_queue.queue.maintenance import REAP_TASK, reap_turn_ms, take_turn

    with use_clock(ManualClock()) as clock:
        assert isinstance(clock, ManualClock)
        configured()
        rt = _rt()
        interval = reap_turn_ms(rt.settings.executor_lease_sec)
        assert interval > 0
        # Another process of the fleet takes the turn first: this one's pass gets none.
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dbos.maintenance (task, last_run_epoch_ms, run_by)"
                " VALUES (%s, %s, 'elsewhere') ON CONFLICT (task) DO UPDATE"
                " SET last_run_epoch_ms = EXCLUDED.last_run_epoch_ms, run_by = 'elsewhere'",
                (REAP_TASK, clock.now_ms()),
            )
        assert rt.engine.run(take_turn(rt, REAP_TASK, interval)) is False
        clock.advance((interval - 1) / 1000)
        assert rt.engine.run(take_turn(rt, REAP_TASK, interval)) is False
        clock.advance(0.001)
        assert rt.engine.run(take_turn(rt, REAP_TASK, interval)) is True  # the interval passed
        assert rt.engine.run(take_turn(rt, REAP_TASK, interval)) is False  # once per interval
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT run_by, last_run_epoch_ms FROM dbos.maintenance WHERE task = %s",
                (REAP_TASK,),
            ).fetchone()
        assert row == (rt.process_id, clock.now_ms())
