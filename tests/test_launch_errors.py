"""Bad configuration and bad calls fail clearly and write nothing."""

from __future__ import annotations

import pytest

from dbos_queue import DBOS, SetWorkflowID
from dbos_queue.error import (
    DBOSConfigError,
    DBOSDatabaseUnavailableError,
    DBOSWorkflowFunctionNotFoundError,
)
from tests.plugins.checks import must


def test_unknown_config_key_suggests_the_right_one():
    DBOS.destroy(destroy_registry=True)
    with pytest.raises(DBOSConfigError, match="Did you mean 'system_database_url'"):
        DBOS(config={"name": "x", "sytem_database_url": "postgresql://localhost/x"})


def test_unreachable_database_explains_the_fix():
    DBOS.destroy(destroy_registry=True)
    DBOS(
        config={
            "name": "x",
            "system_database_url": "postgresql://nobody@127.0.0.1:9/x?connect_timeout=2",
        }
    )
    try:
        with pytest.raises(DBOSDatabaseUnavailableError, match="DBOS_SYSTEM_DATABASE_URL"):
            DBOS.launch()
    finally:
        DBOS.destroy(destroy_registry=True)


def test_reset_system_database_then_launch(config):
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config)
    DBOS.reset_system_database()
    DBOS.launch()
    try:

        @DBOS.workflow()
        def wf():
            return 5

        assert wf() == 5
    finally:
        DBOS.destroy(destroy_registry=True)


def test_unregistered_workflow_found_at_recovery_is_reported(config, caplog):
    import psycopg

    DBOS.destroy(destroy_registry=True)
    # A PENDING row left by a process that is gone, for a function nobody registered.
    with psycopg.connect(config["system_database_url"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, inputs,"
            " owner_xid) VALUES ('orphan', 'PENDING', 'gone.fn', 'local',"
            " '{\"args\":[],\"kwargs\":{}}', 'deadbeefdeadbeef:1')"
        )
    DBOS(config=config)
    with caplog.at_level("ERROR", logger="dbos_queue"):
        DBOS.launch()
    try:
        assert any("gone.fn" in r.getMessage() for r in caplog.records)
        assert (
            must(DBOS.get_workflow_status("orphan")).status == "PENDING"
        )  # left for a process that knows it
        with pytest.raises(DBOSWorkflowFunctionNotFoundError):
            from dbos_queue.api.dbos import _rt

            row = must(_rt().engine.run(_rt().sysdb.get_status_row("orphan")))
            _rt().start_for_row("orphan", row)
    finally:
        DBOS.destroy(destroy_registry=True)


def test_transaction_commits_exactly_once(db_url, pg_server_url):
    import psycopg

    from tests.plugins.pg import drop_database, make_database

    app_url = make_database(pg_server_url, None)
    try:
        DBOS.destroy(destroy_registry=True)
        DBOS(
            config={
                "name": "tx",
                "system_database_url": db_url,
                "application_database_url": app_url,
            }
        )
        DBOS.launch()
        with psycopg.connect(app_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE greetings (name text)")

        @DBOS.transaction()
        def insert(name):
            DBOS.pg_connection.execute("INSERT INTO greetings VALUES (%s)", (name,))
            return DBOS.pg_connection.execute("SELECT count(*) FROM greetings").fetchone()[0]

        @DBOS.workflow()
        def wf(name):
            return insert(name)

        with SetWorkflowID("tx1"):
            assert wf("a") == 1
        with SetWorkflowID("tx1"):
            assert wf("a") == 1
        with psycopg.connect(app_url) as conn:
            assert must(conn.execute("SELECT count(*) FROM greetings").fetchone())[0] == 1
            outputs = conn.execute("SELECT count(*) FROM dbos.transaction_outputs").fetchone()
            assert must(outputs)[0] == 1
        steps = DBOS.list_workflow_steps("tx1")
        assert steps[0]["output"] == 1
    finally:
        DBOS.destroy(destroy_registry=True)
        drop_database(pg_server_url, app_url)


def test_workflow_past_max_recovery_attempts_is_dead_lettered(config):
    import psycopg

    from dbos_queue import SetWorkflowID
    from dbos_queue.error import DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded

    DBOS.destroy(destroy_registry=True)

    @DBOS.workflow(max_recovery_attempts=2)
    def fragile():
        return "never"

    # Left PENDING by processes that kept dying: attempts already at the limit.
    with psycopg.connect(config["system_database_url"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, inputs,"
            " owner_xid, recovery_attempts) VALUES ('dl', 'PENDING', %s, 'local',"
            " '{\"args\":[],\"kwargs\":{}}', 'deadbeefdeadbeef:1', 3)",
            (fragile.__qualname__,),
        )
    DBOS(config=config)
    DBOS.launch()
    try:
        assert must(DBOS.get_workflow_status("dl")).status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
        with pytest.raises(DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded):
            DBOS.retrieve_workflow("dl").get_result()
        with pytest.raises(DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded):
            with SetWorkflowID("dl"):
                fragile()
    finally:
        DBOS.destroy(destroy_registry=True)
