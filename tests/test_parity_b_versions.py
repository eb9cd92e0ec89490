"""Application versions: which worker dequeues and recovers what (real worker processes).

Two worker processes of one application run different versions (``DBOS__APPVERSION``).
DBOS's rule: a worker runs the workflows of its own version, and those enqueued without
a version only while it runs the latest version; recovery follows the same rule.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, Queue, SetWorkflowID
from dbos_queue.error import DBOSException
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until
from tests.plugins.workers import Worker

APP = "tests.apps.versions_app"


@pytest.fixture
def versions_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE version_runs (workflow_id text, tag text, version text, pid int)"
        )
    return db_url


@pytest.fixture
def start_version(versions_db: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(version: str, **env: str) -> Worker:
        w = Worker(
            versions_db,
            ["vq"],
            {"DBOS__APPVERSION": version, **env},
            [],
            app=APP,
            url_env="VERSIONS_APP_URL",
        )
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)


def _runs(url: str, wf_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT tag, version, pid FROM version_runs WHERE workflow_id = %s ORDER BY tag",
            (wf_id,),
        ).fetchall()


def _status(url: str, wf_id: str) -> tuple | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, application_version FROM dbos.workflow_status WHERE workflow_uuid = %s",
            (wf_id,),
        ).fetchone()


def _enqueue(client: DBOSClient, tag: str, **opts: Any) -> str:
    options = cast(EnqueueOptions, {"queue_name": "vq", "workflow_name": "who", **opts})
    return client.enqueue(options, tag).workflow_id


@pytest.mark.slow
def test_dequeue_follows_versions_and_the_latest(versions_db, start_version) -> None:
    v1 = start_version("v1")
    v2 = start_version("v2")  # launched last: the latest version
    with DBOSClient(versions_db) as client:
        names = [v["version_name"] for v in client.list_application_versions()]
        assert names == ["v2", "v1"]
        assert client.get_latest_application_version()["version_name"] == "v2"

        unversioned = [_enqueue(client, f"u{i}") for i in range(4)]
        pinned = [_enqueue(client, f"p{i}", app_version="v1") for i in range(3)]
        assert [client.get_result(w, timeout=60) for w in unversioned] == ["v2"] * 4
        assert [client.get_result(w, timeout=60) for w in pinned] == ["v1"] * 3
        for wf_id in unversioned:
            assert {r[2] for r in _runs(versions_db, wf_id)} == {v2.pid}
            assert _status(versions_db, wf_id) == ("SUCCESS", "v2")  # stamped at dequeue
        for wf_id in pinned:
            assert {r[2] for r in _runs(versions_db, wf_id)} == {v1.pid}

        client.set_latest_application_version("v1")  # a rollback
        assert client.get_latest_application_version()["version_name"] == "v1"
        after = [_enqueue(client, f"r{i}") for i in range(3)]
        assert [client.get_result(w, timeout=60) for w in after] == ["v1"] * 3

        orphan = _enqueue(client, "nobody", app_version="v9")  # no worker runs v9
        time.sleep(2.5)  # nothing to wait for: check that no worker takes it
        assert _status(versions_db, orphan) == ("ENQUEUED", "v9")
        with pytest.raises(DBOSException, match="does not exist"):
            client.set_latest_application_version("v9")
    for w in (v1, v2):
        code, _out, err = w.stop()
        assert code == 0, err[-3000:]


@pytest.mark.slow
def test_recovery_stays_within_the_version(versions_db, start_version) -> None:
    victim = start_version("v1", VERSIONS_APP_HANG="1", VERSIONS_APP_LEASE="1.5")
    other = start_version("v2", VERSIONS_APP_LEASE="1.5")
    with DBOSClient(versions_db) as client:
        wf_id = _enqueue(client, "crash", app_version="v1")
        wait_until(lambda: _runs(versions_db, wf_id), 30, "the v1 worker to start the workflow")
        victim.signal(signal.SIGKILL)
        victim.proc.communicate(timeout=30)
        # The v2 worker notices the dead lease and hands the workflow back to its queue...
        wait_until(lambda: _status(versions_db, wf_id) == ("ENQUEUED", "v1"), 30, "requeue")
        time.sleep(2.5)  # ...but must not run it: nothing to wait for, check it stays queued
        assert _status(versions_db, wf_id) == ("ENQUEUED", "v1")
        rescuer = start_version("v1", VERSIONS_APP_LEASE="1.5")
        assert client.get_result(wf_id, timeout=60) == "v1"
    tags = _runs(versions_db, wf_id)
    assert [t for t, _v, pid in tags if pid == other.pid] == []
    assert ("crash:done", "v1", rescuer.pid) in tags
    for w in (other, rescuer):
        code, _out, err = w.stop()
        assert code == 0, err[-3000:]


def test_versions_api_in_process(config: dict[str, Any]) -> None:
    """The DBOS facade's calls, and recovery of direct workflows by version."""
    DBOS.destroy(destroy_registry=True)
    try:
        DBOS(config=dict(config, application_version="a1"))
        DBOS.launch()
        first = DBOS.get_latest_application_version()
        assert first["version_name"] == "a1" and first["application_name"] == "test-app"
        assert first["created_at"] <= first["version_timestamp"]
        DBOS.destroy()
        DBOS(config=dict(config, application_version="a2"))
        DBOS.launch()
        assert [v["version_name"] for v in DBOS.list_application_versions()] == ["a2", "a1"]
        DBOS.set_latest_application_version("a1")
        assert DBOS.get_latest_application_version()["version_name"] == "a1"
        with pytest.raises(DBOSException, match="does not exist"):
            DBOS.set_latest_application_version("nope")

        q = Queue("inproc")

        @DBOS.workflow()
        def ver() -> str:
            return DBOS.application_version

        # a2 is not the latest: it runs its own workflows but not unversioned ones
        assert q.enqueue(ver).get_result(timeout=30) == "a2"
        with DBOSClient(config["system_database_url"]) as client:
            h = client.enqueue({"queue_name": "inproc", "workflow_name": ver.__qualname__})
            time.sleep(2.0)  # nothing to wait for: check that a2 leaves it alone
            assert must(_status(config["system_database_url"], h.workflow_id))[0] == "ENQUEUED"
            DBOS.set_latest_application_version("a2")
            assert client.get_result(h.workflow_id, timeout=30) == "a2"
        with SetWorkflowID("direct-a2"):
            assert ver() == "a2"
    finally:
        DBOS.destroy(destroy_registry=True)


def test_two_applications_with_the_same_version_name_both_launch(config: dict[str, Any]) -> None:
    """Version names are unique in a system database: a second application launched with
    a name the first one recorded still launches (with a warning) and runs its queue."""
    DBOS.destroy(destroy_registry=True)
    try:
        DBOS(config=dict(config, name="first-app", application_version="shared-1"))
        DBOS.launch()
        DBOS.destroy()
        DBOS(config=dict(config, name="second-app", application_version="shared-1"))
        DBOS.launch()
        q = Queue("second")

        @DBOS.workflow()
        def ver() -> str:
            return DBOS.application_version

        assert q.enqueue(ver).get_result(timeout=30) == "shared-1"
        with DBOSClient(config["system_database_url"]) as client:
            h = client.enqueue({"queue_name": "second", "workflow_name": ver.__qualname__})
            assert client.get_result(h.workflow_id, timeout=30) == "shared-1"
        with pytest.raises(DBOSException, match=r"'second-app'.*another application"):
            DBOS.get_latest_application_version()
    finally:
        DBOS.destroy(destroy_registry=True)
