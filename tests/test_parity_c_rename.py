"""DBOSClient.rename_application(_async) (DBOS 3.4.0): re-own queues, versions and
workflows another application name holds, or that nobody holds."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, EnqueueOptions, Queue
from dbos_queue.error import DBOSException


@pytest.fixture
def config(db_url: str) -> dict[str, Any]:
    return {"name": "old-app", "system_database_url": db_url, "executor_lease_sec": 3.0}


def _owners(url: str) -> dict[str, dict[str | None, int]]:
    out: dict[str, dict[str | None, int]] = {}
    with psycopg.connect(url) as conn:
        for table in ("queues", "application_versions", "workflow_status"):
            rows = conn.execute(
                f"SELECT application_name AS app, count(*) AS n FROM dbos.{table}"
                " GROUP BY application_name"
            ).fetchall()
            out[table] = {r[0]: r[1] for r in rows}
    return out


def test_rename_application_moves_what_the_old_name_holds(dbos: Any, db_url: str) -> None:
    @DBOS.workflow()
    def work(i: int) -> int:
        return i

    q = Queue("rename-q")
    assert [q.enqueue(work, i).get_result(timeout=30) for i in range(5)] == list(range(5))
    DBOS.destroy(destroy_registry=True)  # "do not run it while the application runs"

    parked: EnqueueOptions = {"queue_name": "parked", "workflow_name": "work"}
    with DBOSClient(db_url, application_name="old-app") as client:
        client.register_queue("parked", application_name="old-app")
        client.enqueue(parked, 1)  # in flight (nobody dequeues "parked")
        client.enqueue({**parked, "application_name": None}, 2)  # the client's name
    with DBOSClient(db_url) as anonymous:
        anonymous.enqueue(parked, 3)  # unclaimed
    before = _owners(db_url)
    assert before["workflow_status"] == {"old-app": 7, None: 1}

    with DBOSClient(db_url) as client:
        counts = client.rename_application("old-app", "new-app", batch_size=2)
        assert counts == {
            "queues": before["queues"]["old-app"],
            "schedules": 0,
            "versions": before["application_versions"]["old-app"],
            "workflows": 7,
            "steps": 0,
        }
        after = _owners(db_url)
        assert "old-app" not in after["queues"] and "old-app" not in after["workflow_status"]
        assert after["workflow_status"] == {"new-app": 7, None: 1}
        # Nothing left under the old name; the unclaimed row moves only when adopted.
        again = client.rename_application("old-app", "new-app")
        assert again["workflows"] == 0 and again["queues"] == 0
        adopted = asyncio.run(
            client.rename_application_async(
                None, "new-app", batch_size=None, adopt_unclaimed_rows=True
            )
        )
        assert adopted["workflows"] == 1
        assert _owners(db_url)["workflow_status"] == {"new-app": 8}
        # Both at once: the rows of a name and the unclaimed ones.
        both = client.rename_application("new-app", "third_app", adopt_unclaimed_rows=True)
        assert both["workflows"] == 8

        with pytest.raises(DBOSException, match="Nothing to re-own"):
            client.rename_application(None, "new-app")
        with pytest.raises(DBOSException, match="cannot be empty"):
            client.rename_application("", "new-app")
        with pytest.raises(DBOSException, match="Invalid application name"):
            client.rename_application("third_app", "Bad Name")
        with pytest.raises(DBOSException, match="already holds that name"):
            client.rename_application("third_app", "third_app")
        with pytest.raises(ValueError, match="batch_size"):
            client.rename_application("third_app", "fourth", batch_size=0)
