"""Operating queues: runtime limit changes, queue CLI, metrics, health, recovery endpoint,
lost connections and a Postgres restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from dbos_queue import DBOSClient
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until

from .test_queue_limits import max_overlap, runs

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "dbos_queue.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_runtime_limit_change_reaches_running_workers(app_db, start_worker):
    start_worker("glob")
    start_worker("glob")
    r = cli("--db-url", app_db, "queue", "set", "glob", "--concurrency", "1")
    assert r.returncode == 0, r.stderr
    time.sleep(1.5)  # the documented propagation bound: workers refresh every second
    with DBOSClient(app_db) as client:
        hs = [
            client.enqueue({"queue_name": "glob", "workflow_name": "timed"}, "glob", f"x{i}", 0.15)
            for i in range(6)
        ]
        for h in hs:
            h.get_result(timeout=60)
    assert max_overlap([(x[3], x[4]) for x in runs(app_db, "glob")]) == 1
    listing = cli("--db-url", app_db, "--json", "queue", "list")
    glob = next(q for q in json.loads(listing.stdout) if q["name"] == "glob")
    assert glob["concurrency"] == 1 and glob["source"] == "runtime" and glob["depth"] == 0


def test_pause_and_resume(app_db, start_worker):
    start_worker("free")
    assert cli("--db-url", app_db, "queue", "pause", "free").returncode == 0
    time.sleep(1.2)  # the documented propagation bound again: the pause is in force after it
    with DBOSClient(app_db) as client:
        h = client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", "p", 0.01)
        with pytest.raises(TimeoutError):
            h.get_result(timeout=1.5)
        assert must(client.get_workflow(h.workflow_id)).status == "ENQUEUED"
        assert cli("--db-url", app_db, "queue", "resume", "free").returncode == 0
        assert h.get_result(timeout=30) == "p"
    assert cli("--db-url", app_db, "queue", "set", "nope", "--concurrency", "2").returncode == 1


def test_metrics_and_health_endpoints(app_db, start_worker):
    w = start_worker("free")
    with DBOSClient(app_db) as client:
        for i in range(3):
            client.enqueue(
                {"queue_name": "free", "workflow_name": "timed"}, "free", f"m{i}", 0.01
            ).get_result(timeout=30)
    base = f"http://127.0.0.1:{w.admin_port}"
    health = json.loads(urllib.request.urlopen(base + "/dbos-healthz", timeout=5).read())
    assert health["status"] == "healthy"
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    for name in (
        "dbos_queue_depth",
        "dbos_queue_oldest_enqueued_age_seconds",
        "dbos_queue_running",
        "dbos_queue_claims_total",
        "dbos_queue_claim_duration_seconds_bucket",
        "dbos_queue_claim_batch_size_bucket",
        "dbos_queue_enqueue_to_start_seconds_bucket",
        "dbos_queue_workflows_completed_total",
        "dbos_queue_takeovers_total",
        "dbos_queue_fenced_writes_total",
    ):
        assert name in text, name
    assert 'dbos_queue_workflows_completed_total{status="SUCCESS"} 3.0' in text
    assert 'dbos_queue_enqueue_to_start_seconds_count{queue="free"} 3.0' in text


def test_workflow_recovery_endpoint(app_db, start_worker):
    import signal

    from .test_takeover import wait_notify

    victim = start_worker(
        "free",
        env={"QUEUE_APP_HANG": "1", "QUEUE_APP_LEASE": "60"},
        args=["--executor-id", "doomed"],
    )
    with DBOSClient(app_db) as client:
        h = client.enqueue({"queue_name": "free", "workflow_name": "three", "workflow_id": "r1"}, 3)
        wait_notify(app_db, "r1:2:")
        # Started while the victim lives, so neither its 60 s lease nor the dead-pid check at
        # launch can hand r1 over: only the recovery endpoint does.
        rescuer = start_worker("free", args=["--executor-id", "rescuer"])
        victim.signal(signal.SIGKILL)
        victim.proc.communicate(timeout=10)
        req = urllib.request.Request(
            f"http://127.0.0.1:{rescuer.admin_port}/dbos-workflow-recovery",
            data=json.dumps(["doomed"]).encode(),
            method="POST",
        )
        recovered = json.loads(urllib.request.urlopen(req, timeout=10).read())
        assert recovered == ["r1"]
        assert h.get_result(timeout=20) == [1, 2, 3, 3]  # long before the 60 s lease expires


def test_listen_connection_is_re_established(app_db, start_worker):
    w = start_worker("slowpoll")
    with psycopg.connect(app_db, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
            " AND datname = current_database()"
        ).fetchall()
    assert killed
    with psycopg.connect(app_db, autocommit=True) as conn:
        wait_until(
            lambda: conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
                " AND datname = current_database()"
            ).fetchone(),
            20,
            "the LISTEN connection to be re-established",
            every=0.1,
        )
    with DBOSClient(app_db) as client:
        # This queue polls once a minute: finishing within 20 s needs the re-established LISTEN.
        client.enqueue(
            {"queue_name": "slowpoll", "workflow_name": "timed"}, "slowpoll", "w", 0.0
        ).get_result(timeout=20)
    assert w.proc.poll() is None


def test_postgres_restart_mid_drain(app_db, start_worker, pg_restart):
    start_worker("free")
    start_worker("free")
    with DBOSClient(app_db) as client:
        ids = client.enqueue_many(
            {"queue_name": "free", "workflow_name": "timed"},
            [("free", f"r{i}", 0.005) for i in range(300)],
        )
        wait_until(  # well into the drain
            lambda: must(client.get_workflow(ids[30])).status == "SUCCESS",
            30,
            "the 31st workflow to succeed",
            every=0.05,
        )
        pg_restart()
        results = [client.get_result(i, timeout=120) for i in ids]
    assert results == [f"r{i}" for i in range(300)]
    with psycopg.connect(app_db) as conn:
        assert (
            must(
                conn.execute(
                    "SELECT count(*) FROM dbos.workflow_status WHERE status <> 'SUCCESS'"
                ).fetchone()
            )[0]
            == 0
        )
