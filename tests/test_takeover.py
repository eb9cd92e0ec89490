"""Ownership and recovery with real processes: SIGKILL, SIGSTOP, SIGTERM drain."""

from __future__ import annotations

import signal
import time

import psycopg
import pytest

from dbos_queue import DBOSClient
from tests.plugins.checks import must

pytestmark = pytest.mark.slow
LEASE = "2"


def step_runs(url, wf_id):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT step, pid FROM step_runs WHERE workflow_id=%s ORDER BY step", (wf_id,)
        ).fetchall()


def wait_notify(url, payload_prefix, timeout=30):
    """Block until a worker announces a step (pg_notify from tests/apps/queue_app.py)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN queue_test")
        deadline = time.monotonic() + timeout
        for n in conn.notifies(timeout=timeout):
            if n.payload.startswith(payload_prefix):
                return n.payload
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"no notification {payload_prefix}")


def test_sigkilled_worker_is_taken_over_by_another(app_db, start_worker):
    env = {"QUEUE_APP_LEASE": LEASE, "QUEUE_APP_HANG": "1"}
    victim = start_worker("free", env=env)
    with DBOSClient(app_db) as client:
        h = client.enqueue({"queue_name": "free", "workflow_name": "three", "workflow_id": "k1"}, 7)
        wait_notify(app_db, "k1:2:")
        victim.signal(signal.SIGKILL)
        victim.proc.communicate(timeout=10)
        killed_at = time.monotonic()
        start_worker("free", env={"QUEUE_APP_LEASE": LEASE})
        assert h.get_result(timeout=30) == [1, 2, 3, 7]
        assert time.monotonic() - killed_at < float(LEASE) + 8
        st = must(client.get_workflow("k1"))
    steps = step_runs(app_db, "k1")
    assert [s for s, _ in steps] == [1, 2, 2, 3], "step 1 not re-run; step 2 at most twice"
    assert st.recovery_attempts == 2


def test_stopped_worker_past_its_lease_is_fenced(app_db, start_worker):
    env = {"QUEUE_APP_LEASE": LEASE, "QUEUE_APP_HANG": "1", "QUEUE_APP_HANG_SECONDS": "4"}
    zombie = start_worker("free", env=env, args=["--drain-timeout", "20"])
    with DBOSClient(app_db) as client:
        h = client.enqueue({"queue_name": "free", "workflow_name": "three", "workflow_id": "z1"}, 1)
        wait_notify(app_db, "z1:2:")
        zombie.signal(signal.SIGSTOP)
        rescuer = start_worker("free", env={"QUEUE_APP_LEASE": LEASE})
        assert h.get_result(timeout=30) == [1, 2, 3, 1]
        before = client.list_workflow_steps("z1")
        zombie.signal(signal.SIGCONT)
        # The zombie wakes inside step 2 and tries to record it: the owner fence refuses
        # the write and its execution stops; its drain then has nothing to hand back.
        code, out, err = zombie.stop(timeout=40)
        after = client.list_workflow_steps("z1")
        st = must(client.get_workflow("z1"))
    assert code == 0
    assert "refused" in err, err
    assert "handed back 0 workflow" in out
    assert st.status == "SUCCESS" and st.output == [1, 2, 3, 1]
    assert before == after, "the zombie changed nothing after losing ownership"
    assert rescuer.proc.poll() is None


def test_sigterm_drains_and_hands_back_unfinished_work(app_db, start_worker):
    env = {"QUEUE_APP_HANG": "1"}
    w = start_worker("free", env=env, args=["--drain-timeout", "0.5"])
    with DBOSClient(app_db) as client:
        h = client.enqueue({"queue_name": "free", "workflow_name": "three", "workflow_id": "d1"}, 5)
        wait_notify(app_db, "d1:2:")
        t0 = time.monotonic()
        code, out, err = w.stop(timeout=30)
        assert code == 0, err
        assert "handed back 1 workflow" in out
        assert must(client.get_workflow("d1")).status == "ENQUEUED"
        start_worker("free")
        res = h.get_result(timeout=30)
        assert res == [1, 2, 3, 5], (client.list_workflow_steps("d1"), step_runs(app_db, "d1"))
        assert time.monotonic() - t0 < 15, "resumed at once, not after a lease expiry"
    assert [s for s, _ in step_runs(app_db, "d1")] == [1, 2, 2, 3]
