"""The migrated schema holds every table, column, index and trigger of the seed."""

from __future__ import annotations

import multiprocessing
import threading

import psycopg
import pytest

from dbos_queue.db import migrate as _migrate
from tests.plugins.waiting import wait_until

SEED_COLUMNS = {
    "dbos_migrations": ["version"],
    "workflow_status": [
        "workflow_uuid",
        "status",
        "name",
        "class_name",
        "config_name",
        "authenticated_user",
        "assumed_role",
        "authenticated_roles",
        "request",
        "output",
        "error",
        "executor_id",
        "application_version",
        "application_id",
        "created_at",
        "updated_at",
        "recovery_attempts",
        "queue_name",
        "workflow_timeout_ms",
        "workflow_deadline_epoch_ms",
        "inputs",
        "started_at_epoch_ms",
        "deduplication_id",
        "priority",
        "queue_partition_key",
        "forked_from",
        "owner_xid",
    ],
    "workflow_inputs": ["workflow_uuid", "inputs"],
    "operation_outputs": [
        "workflow_uuid",
        "function_id",
        "output",
        "error",
        "function_name",
        "child_workflow_id",
        "started_at_epoch_ms",
        "completed_at_epoch_ms",
    ],
    "notifications": [
        "message_uuid",
        "destination_uuid",
        "topic",
        "message",
        "created_at_epoch_ms",
    ],
    "workflow_events": ["workflow_uuid", "key", "value"],
    "scheduler_state": ["workflow_fn_name", "last_run_time"],
    "workflow_queue": [
        "workflow_uuid",
        "queue_name",
        "created_at_epoch_ms",
        "started_at_epoch_ms",
        "completed_at_epoch_ms",
        "executor_id",
        "deduplication_id",
        "priority",
    ],
    "event_dispatch_kv": [
        "service_name",
        "workflow_fn_name",
        "key",
        "value",
        "update_seq",
        "update_time",
    ],
    "streams": ["workflow_uuid", "key", "value", "offset", "function_id"],
    "workflow_events_history": ["workflow_uuid", "function_id", "key", "value"],
}

SEED_INDEXES = {
    "uq_workflow_status_queue_name_dedup_id",
    "workflow_status_created_at_index",
    "workflow_status_executor_id_index",
    "workflow_status_status_index",
    "idx_workflow_status_queue_status_started",
    "idx_workflow_status_forked_from",
    "idx_workflow_topic",
}


def test_every_seed_table_and_column(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema='dbos'"
        ).fetchall()
    have: dict[str, set[str]] = {}
    for t, c in rows:
        have.setdefault(t, set()).add(c)
    for table, cols in SEED_COLUMNS.items():
        assert table in have, f"missing table dbos.{table}"
        assert set(cols) <= have[table], f"dbos.{table} lacks {set(cols) - have[table]}"


def test_every_seed_index_and_trigger(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        idx = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname='dbos'")
        }
        trig = {
            r[0]
            for r in conn.execute(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid=t.tgrelid "
                "JOIN pg_namespace n ON n.oid=c.relnamespace"
                " WHERE n.nspname='dbos' AND NOT t.tgisinternal"
            )
        }
        pks = {
            r[0]
            for r in conn.execute(
                "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype='p' "
                "AND connamespace='dbos'::regnamespace"
            )
        }
    assert SEED_INDEXES <= idx, SEED_INDEXES - idx
    assert {"dbos_notifications_trigger", "dbos_workflow_events_trigger"} <= trig
    for table in SEED_COLUMNS:
        if table not in ("dbos_migrations",):
            assert f"dbos.{table}" in pks, f"dbos.{table} has no primary key"


def test_notify_triggers_fire(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener, psycopg.connect(db_url) as conn:
        listener.execute("LISTEN dbos_notifications_channel")
        listener.execute("LISTEN dbos_workflow_events_channel")
        with conn.transaction():
            conn.execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('w1','PENDING')"
            )
            conn.execute(
                "INSERT INTO dbos.notifications (destination_uuid, topic, message)"
                " VALUES ('w1','t','m')"
            )
            conn.execute(
                "INSERT INTO dbos.workflow_events (workflow_uuid, key, value) VALUES ('w1','k','v')"
            )
        got = {(n.channel, n.payload) for n in listener.notifies(timeout=5, stop_after=2)}
    assert got == {
        ("dbos_notifications_channel", "w1::t"),
        ("dbos_workflow_events_channel", "w1::k"),
    }


def test_migrate_is_idempotent(db_url: str) -> None:
    assert _migrate.migrate(db_url) == []
    assert _migrate.current_version(db_url) == _migrate.latest_version()


def _migrate_in_child(url: str, q) -> None:  # runs in a separate process
    try:
        q.put(("ok", _migrate.migrate(url)))
    except Exception as exc:
        q.put(("err", repr(exc)))


@pytest.mark.slow
def test_eight_processes_migrate_an_empty_database_at_once(empty_db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_migrate_in_child, args=(empty_db_url, q)) for _ in range(8)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(kind == "ok" for kind, _ in results), results
    applied = sorted(v for _, vs in results for v in vs)
    assert applied == [v for v, _ in _migrate.available()], "each migration applied exactly once"
    assert _migrate.current_version(empty_db_url) == _migrate.latest_version()


def test_a_current_schema_is_recognised_without_the_migration_lock(db_url: str) -> None:
    # A fleet launching together must not take turns behind the lock just to find the
    # schema up to date: with the lock held elsewhere, migrate() still returns at once.
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(4735032143901385)")
        done: list[list[int]] = []
        t = threading.Thread(target=lambda: done.append(_migrate.migrate(db_url)), daemon=True)
        t.start()
        t.join(timeout=20)
        finished = not t.is_alive()
        holder.rollback()  # releases the lock: a blocked call (the bug) finishes now
    t.join(timeout=20)
    assert finished, "migrate() waited for the migration lock on a current schema"
    assert done == [[]]


def test_an_empty_database_is_still_migrated_under_the_lock(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(4735032143901385)")
        result: list[object] = []

        def run() -> None:
            try:
                result.append(_migrate.migrate(empty_db_url))
            except Exception as exc:
                result.append(exc)

        m = threading.Thread(target=run, daemon=True)
        m.start()
        with psycopg.connect(empty_db_url, autocommit=True) as probe:
            wait_until(
                lambda: probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()[0],  # type: ignore[index]
                what="migrate() to queue behind the migration lock",
            )
        assert m.is_alive()
        holder.rollback()
    m.join(timeout=60)
    assert result == [[v for v, _ in _migrate.available()]]
    assert _migrate.current_version(empty_db_url) == _migrate.latest_version()
