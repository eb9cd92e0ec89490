"""DBOSClient's DBOS 3.4.0 methods against real worker processes: bulk cancel/resume,
delete, fork/rewind options, messages in the caller's transaction, send_bulk, named
list filters, check_connection, and the schedule API by workflow name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOSClient, EnqueueOptions, SendMessage
from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until
from tests.plugins.workers import Worker


def _until(check: Any, timeout: float = 60.0) -> Any:
    """Poll a database read until it returns something truthy."""
    return wait_until(check, timeout, "the condition", every=0.05)


def test_client_management_against_a_worker(app_db: str, start_worker: Any) -> None:
    start_worker("glob")  # stores every queue of the app, dequeues only from "glob"
    with DBOSClient(app_db) as client:
        client.check_connection()
        asyncio.run(client.check_connection_async())
        opts: EnqueueOptions = {"queue_name": "free", "workflow_name": "timed"}
        for i in range(3):  # "free" is stored but nobody dequeues it: they wait
            client.enqueue({**opts, "workflow_id": f"h{i}"}, "free", f"t{i}", 0.0)
        client.cancel_workflows(["h0", "h1"])
        assert [must(client.get_workflow(f"h{i}")).status for i in range(3)] == [
            "CANCELLED",
            "CANCELLED",
            "ENQUEUED",
        ]
        with pytest.raises(DBOSNonExistentWorkflowError):
            client.resume_workflows(["h0", "absent"])
        assert must(client.get_workflow("h0")).status == "CANCELLED"
        resumed = client.resume_workflows(["h0", "h1", "h2"], queue_name="glob")
        assert sorted(h.get_result(timeout=60) for h in resumed) == ["t0", "t1", "t2"]
        first = client.wait_first([client.retrieve_workflow("h2")], polling_interval_sec=0.05)
        assert first.workflow_id == "h2"

        fork = client.fork_workflow("h0", 1, queue_name="glob", timeout_seconds=60)
        assert fork.get_result(timeout=60) == "t0"
        assert fork.get_status().workflow_timeout_ms == 60_000
        rewound = client.rewind_workflow("h1", queue_name="glob")
        assert rewound.get_result(timeout=60) == "t1"
        with psycopg.connect(app_db) as conn:
            row = conn.execute("SELECT count(*) FROM runs WHERE workflow_id = 'h1'").fetchone()
            runs = must(row)[0]
        assert runs == 2  # rewound from step 1: it ran again under the same id
        ids = sorted(w.workflow_id for w in client.list_workflows(workflow_id_prefix=["h0", "h2"]))
        assert ids == ["h0", "h2"]
        assert [w.workflow_id for w in client.list_workflows(is_fork=True)] == [fork.workflow_id]
        client.update_workflow_attributes("h2", {"team": "a"})
        assert [w.workflow_id for w in client.list_workflows(attributes={"team": "a"})] == ["h2"]
        client.delete_workflows(["h0", "h1"])
        assert client.get_workflow("h0") is None
        with pytest.raises(TypeError):
            client.list_workflows(queue="free")  # type: ignore[call-arg]


def test_client_messages_in_a_transaction_and_in_bulk(app_db: str, start_worker: Any) -> None:
    start_worker("free")
    with DBOSClient(app_db) as client:
        h = client.enqueue({"queue_name": "free", "workflow_name": "timed"}, "free", "m", 0.0)
        dest = h.get_workflow_id()
        h.get_result(timeout=60)
        with psycopg.connect(app_db) as conn:
            client.send_in_transaction(conn, dest, "rolled back", "t")
            conn.rollback()
            client.send_in_transaction(conn, dest, "kept", "t", "key-1")
            client.send_bulk_in_transaction(conn, [SendMessage(dest, "bulk", "t", "key-1")])
            conn.commit()
        client.send_bulk([SendMessage(dest, "b1", "u"), SendMessage(dest, "b2", "u", "k2")])
        client.send(dest, "b2", "u", "k2")  # same key: nothing more
        with pytest.raises(DBOSNonExistentWorkflowError):
            client.send_bulk([SendMessage(dest, "x", "u"), SendMessage("nope", "y")])
        with psycopg.connect(app_db) as conn:
            rows = conn.execute(
                "SELECT topic, message FROM dbos.notifications WHERE destination_uuid = %s"
                " ORDER BY created_at_epoch_ms, topic",
                (dest,),
            ).fetchall()
        assert [r[0] for r in rows] == ["t", "u", "u"]
        assert len(rows) == 3  # "rolled back" never landed; duplicate keys added nothing


@pytest.fixture
def sched_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE sched_runs (schedule text NOT NULL, scheduled_at timestamptz"
            " NOT NULL, workflow_id text, pid int, second text, runs int NOT NULL"
            " DEFAULT 1, UNIQUE (schedule, scheduled_at))"
        )
    return db_url


@pytest.fixture
def sched_worker(sched_db: str) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(sched_db, [], {}, [], app="tests.apps.schedule_app", url_env="SCHEDULE_APP_URL")
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)


def _ticks(url: str, schedule: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT scheduled_at, workflow_id FROM sched_runs WHERE schedule = %s"
            " ORDER BY scheduled_at",
            (schedule,),
        ).fetchall()


def test_client_schedules_by_workflow_name(sched_db: str, sched_worker: Any) -> None:
    sched_worker()
    yearly = "0 0 0 1 1 *"
    with DBOSClient(sched_db) as client:
        client.create_schedule(
            schedule_name="nightly", workflow_name="api_tick", schedule=yearly, context={"tag": "n"}
        )
        got = client.get_schedule("nightly")
        assert got is not None and got["workflow_name"] == "api_tick" and got["status"] == "ACTIVE"
        client.pause_schedule("nightly")
        assert client.list_schedules(status="PAUSED")[0]["schedule_name"] == "nightly"
        client.resume_schedule("nightly")
        trig = client.trigger_schedule("nightly")
        trig.get_result(timeout=60)
        assert _ticks(sched_db, "n")[0][1] == trig.workflow_id
        status = trig.get_status()
        assert status.schedule_name == "nightly"
        start = datetime(2030, 1, 1, tzinfo=UTC) - timedelta(days=1)
        handles = client.backfill_schedule("nightly", start, start + timedelta(days=2))
        assert [h.get_result(timeout=60) for h in handles] == [None]
        client.apply_schedules(
            [
                {"schedule_name": "nightly", "workflow_name": "api_tick", "schedule": "* * * * * *",
                 "context": {"tag": "applied"}},
                {"schedule_name": "second", "workflow_name": "api_tick", "schedule": yearly,
                 "context": {"tag": "s"}},
            ]
        )  # fmt: skip
        _until(lambda: _ticks(sched_db, "applied"))  # the replaced definition fires
        assert {s["schedule_name"] for s in client.list_schedules()} >= {"nightly", "second"}
        with pytest.raises(DBOSException, match="missing required field 'schedule'"):
            client.apply_schedules([{"schedule_name": "bad", "workflow_name": "api_tick"}])
        assert client.get_schedule("bad") is None
        client.delete_schedule("nightly")
        assert client.get_schedule("nightly") is None
