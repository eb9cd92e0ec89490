"""Rolling restarts with one executor id: overlapping processes strand nothing.

Every process of a deployment shares one executor id (the default ``local``, or one
``DBOS__VMID`` for every pod). The old process drains while the new one launches and
runs launch-time recovery for that same id: recovery must leave alone what a live
process executes (ownership is the process lease, not the executor id), the
draining process must not take back what it handed back, and every workflow ends
``SUCCESS`` exactly once with no step run twice (nothing was killed or paused).
"""

from __future__ import annotations

import signal

import psycopg
import pytest

from dbos_queue import DBOSClient, EnqueueOptions
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until
from tests.reliability_support import check_bookkeeping, effects, process_id_of

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.plugins.reliability"]  # fixtures: effects_db, spawn

STEPS, SECONDS = 20, 0.15


def _pending_owners(url: str, ids: list[str]) -> dict[str, str | None]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT workflow_uuid, owner_xid FROM dbos.workflow_status"
            " WHERE workflow_uuid = ANY(%s) AND status = 'PENDING'",
            (ids,),
        ).fetchall()
    return dict(rows)


def _all_started(url: str, ids: list[str]) -> bool:
    return all(effects(url, i) for i in ids)


def _check_finished_once(url: str, ids: list[str]) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, output IS NOT NULL FROM dbos.workflow_status"
            " WHERE workflow_uuid = ANY(%s)",
            (ids,),
        ).fetchall()
        stranded = must(
            conn.execute(
                "SELECT count(*) FROM dbos.workflow_status WHERE status <> 'SUCCESS'"
            ).fetchone()
        )[0]
    assert rows == [("SUCCESS", True)] * len(ids)
    assert stranded == 0, "nothing left PENDING or ENQUEUED"
    for wf_id in ids:
        # Nothing was killed or paused: no step ran twice, and the processes ran each
        # workflow one after the other (a drained process never took one back).
        check_bookkeeping(effects(url, wf_id), STEPS, max_twice=0)


@pytest.mark.parametrize("vmid", [None, "pod"])
def test_queued_workflows_survive_two_overlapping_restarts(spawn, effects_db, vmid):
    env = {"RELIABILITY_LEASE": "2", **({"DBOS__VMID": vmid} if vmid else {})}
    drain = ["--drain-timeout", "0.5"]
    a = spawn("worker", *drain, env=env)
    ids = [f"roll-{vmid}-{i}" for i in range(6)]
    with DBOSClient(effects_db) as client:
        opts: EnqueueOptions = {"queue_name": "work", "workflow_name": "many"}
        handles = [client.enqueue({**opts, "workflow_id": i}, STEPS, SECONDS) for i in ids]
        wait_until(lambda: _all_started(effects_db, ids), 60, "every workflow to start on A")
        a_proc = process_id_of(effects_db, a.pid)
        b = spawn("worker", *drain, env=env)  # same executor id: launch recovery ran
        owners = _pending_owners(effects_db, ids)
        assert owners, "A was still running them when B launched"
        assert all(o is not None and o.startswith(f"{a_proc}:") for o in owners.values()), owners
        a.signal(signal.SIGTERM)  # old process drains while the new one runs
        assert a.wait(30) == 0
        c = spawn("worker", *drain, env=env)  # second round: B drains while C launches
        b.signal(signal.SIGTERM)
        assert b.wait(30) == 0
        results = [h.get_result(timeout=120) for h in handles]
    assert results == [sum(range(1, STEPS + 1))] * len(ids)
    assert c.proc.poll() is None
    _check_finished_once(effects_db, ids)


def test_direct_workflows_survive_a_rolling_restart(spawn, effects_db):
    env = {"RELIABILITY_LEASE": "2", "RELIABILITY_DRAIN": "0.5", "DBOS__VMID": "pod"}
    a = spawn("start", 4, "direct-", STEPS, SECONDS, env=env)
    ids = [f"direct-{i}" for i in range(4)]
    wait_until(lambda: _all_started(effects_db, ids), 60, "every workflow to start on A")
    a_proc = process_id_of(effects_db, a.pid)
    b = spawn("worker", env=env)  # launch-time recovery of executor "pod" while A lives
    owners = _pending_owners(effects_db, ids)
    assert owners and all(o and o.startswith(f"{a_proc}:") for o in owners.values()), owners
    a.signal(signal.SIGTERM)  # DBOS.destroy(workflow_completion_timeout_sec=0.5)
    assert a.wait(30) == 0
    assert "handed back" in a.out
    with DBOSClient(effects_db) as client:
        results = [client.get_result(i, timeout=120) for i in ids]
    assert results == [sum(range(1, STEPS + 1))] * len(ids)
    assert b.proc.poll() is None
    _check_finished_once(effects_db, ids)
