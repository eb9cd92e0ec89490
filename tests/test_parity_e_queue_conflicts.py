"""DBOS 3.4.0: register_queue's on_conflict policies (DBOS and DBOSClient), the owner of a
queue's row, and listings scoped to the caller's application by default."""

from __future__ import annotations

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient
from dbos_queue.error import DBOSException
from tests.plugins.checks import must


def _stored(db_url: str, name: str) -> tuple | None:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT global_concurrency, worker_concurrency, application_name FROM dbos.queues"
            " WHERE name = %s",
            (name,),
        ).fetchone()


def test_register_queue_policies_decide_whether_the_stored_row_changes(
    dbos: type[DBOS], db_url: str
) -> None:
    q = DBOS.register_queue("policy", global_concurrency=10)
    assert _stored(db_url, "policy") == (10, None, "test-app")  # owned by this application
    q.set_global_concurrency(7)  # a change at runtime
    DBOS.register_queue("policy", global_concurrency=20, on_conflict="never_update")
    assert _stored(db_url, "policy") == (7, None, "test-app")
    assert must(DBOS.retrieve_queue("policy")).global_concurrency == 7
    # This process runs the latest version: the default policy replaces the row, the
    # runtime change included (as in DBOS).
    DBOS.register_queue("policy", global_concurrency=30, worker_concurrency=3)
    assert _stored(db_url, "policy") == (30, 3, "test-app")
    DBOS.register_queue("policy", global_concurrency=40, on_conflict="always_update")
    assert _stored(db_url, "policy") == (40, None, "test-app")
    with pytest.raises(ValueError, match="on_conflict"):
        DBOS.register_queue("policy", on_conflict="sometimes")
    assert _stored(db_url, "policy") == (40, None, "test-app")


def test_an_older_version_leaves_the_newer_settings(dbos: type[DBOS], db_url: str) -> None:
    DBOS.register_queue("rolling", global_concurrency=5)
    # A newer version launched elsewhere: this process is no longer the latest.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp,"
            " created_at, application_name) VALUES ('v-new', 'newer', %s, %s, 'test-app')",
            (2**52, 2**52),
        )
    DBOS.register_queue("rolling", global_concurrency=9)
    assert _stored(db_url, "rolling") == (5, None, "test-app")
    DBOS.register_queue("rolling", global_concurrency=9, on_conflict="always_update")
    assert _stored(db_url, "rolling") == (9, None, "test-app")


def test_a_queue_name_another_application_owns_is_refused_and_untouched(
    dbos: type[DBOS], db_url: str
) -> None:
    with DBOSClient(system_database_url=db_url, application_name="other-app") as client:
        client.register_queue("taken", global_concurrency=4)
        with pytest.raises(DBOSException, match="update_if_latest_version"):
            client.register_queue("taken", on_conflict="update_if_latest_version")
    assert _stored(db_url, "taken") == (4, None, "other-app")
    with pytest.raises(DBOSException, match="already registered by application 'other-app'"):
        DBOS.register_queue("taken", global_concurrency=8, on_conflict="always_update")
    assert _stored(db_url, "taken") == (4, None, "other-app")
    assert DBOS.retrieve_queue("taken") is not None  # still readable, never re-declared here
    with DBOSClient(system_database_url=db_url, application_name="other-app") as client:
        client.register_queue("taken", global_concurrency=6, on_conflict="never_update")
        assert _stored(db_url, "taken") == (4, None, "other-app")
        client.register_queue("taken", global_concurrency=6)  # the client's default: always
        assert _stored(db_url, "taken") == (6, None, "other-app")


def test_listings_show_the_callers_application_by_default(dbos: type[DBOS], db_url: str) -> None:
    @DBOS.workflow()
    def mine() -> str:
        return "mine"

    own = DBOS.start_workflow(mine).workflow_id
    with psycopg.connect(db_url, autocommit=True) as conn:  # another application's row
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_name,"
            " created_at, updated_at) VALUES ('foreign-1', 'SUCCESS', 'x', 'other-app', 1, 1)"
        )
    DBOS.register_queue("mine-q")
    with DBOSClient(system_database_url=db_url, application_name="other-app") as client:
        client.register_queue("theirs-q")
    ids = {s.workflow_id for s in DBOS.list_workflows()}
    assert own in ids and "foreign-1" not in ids
    assert {s.workflow_id for s in DBOS.list_workflows(application_name="other-app")} >= {
        "foreign-1"
    }
    # By id, a workflow is a global address: no application filter by default.
    assert [s.workflow_id for s in DBOS.list_workflows(workflow_ids=["foreign-1"])] == ["foreign-1"]
    names = {q.name for q in DBOS.list_queues()}
    assert "mine-q" in names and "theirs-q" not in names
    with DBOSClient(system_database_url=db_url) as client:  # a client of no application
        assert {"foreign-1", own} <= {s.workflow_id for s in client.list_workflows()}
        assert {"mine-q", "theirs-q"} <= {q.name for q in client.list_queues()}
