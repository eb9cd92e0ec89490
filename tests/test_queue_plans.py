"""Plan guard: beside a large history (analyzed, as autovacuum leaves it), the hot
statements find their rows through indexes - their cost does not grow with the number
of finished workflows (issue 12: a flat claim cost from 10 thousand to 10 million)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, LiteralString, cast

import psycopg
import pytest

from dbos_queue.db import sql as _sql
from tests.plugins.checks import must
from tests.plugins.pg import drop_database, make_database

FINISHED = 150_000
NOW = 10_000_000_000


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


def _explain(conn: psycopg.Connection, query: str, params: Any) -> list[dict[str, Any]]:
    with conn.transaction(force_rollback=True):
        # query is a sql.py constant (typed str), never input.
        explain = cast(LiteralString, "EXPLAIN (FORMAT JSON) " + query)
        plan = must(conn.execute(explain, params).fetchone())[0][0]["Plan"]
    return _nodes(plan)


HISTORY = {"workflow_status", "operation_outputs"}  # the tables that grow with history


def _seq_scans(nodes: list[dict[str, Any]]) -> list[str]:
    """Full scans of a history table (small tables such as queues may be scanned)."""
    return [
        n["Relation Name"]
        for n in nodes
        if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in HISTORY
    ]


@pytest.fixture(scope="module")
def big(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """One large, analyzed history shared by the module's tests (read-only for them)."""
    db_url = make_database(pg_server_url, pg_template)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO dbos.queues (name) VALUES ('q')")
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, inputs,"
            " output, executor_id, application_version, created_at, updated_at,"
            " started_at_epoch_ms, recovery_attempts, owner_xid)"
            " SELECT 'done-' || g, 'SUCCESS', 'f', 'q', '[]', '1', 'e', 'v', g, g, g, 1,"
            " 'dead:' || g FROM generate_series(1, %s) g",
            (FINISHED,),
        )
        conn.execute(
            "INSERT INTO dbos.operation_outputs (workflow_uuid, function_id, output)"
            " SELECT 'done-' || g, 1, '1' FROM generate_series(1, %s) g",
            (FINISHED,),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, inputs,"
            " created_at, updated_at, recovery_attempts)"
            " SELECT 'todo-' || g, 'ENQUEUED', 'f', 'q', '[]', %s + g, %s + g, 0"
            " FROM generate_series(1, 500) g",
            (FINISHED, FINISHED),
        )
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, queue_name, inputs,"
            " created_at, updated_at, recovery_attempts, owner_xid, started_at_epoch_ms)"
            " SELECT 'run-' || g, 'PENDING', 'f', 'q', '[]', %s + g, %s + g, 1, 'p:1', %s"
            " FROM generate_series(1, 64) g",
            (FINISHED + 1000, FINISHED + 1000, NOW),
        )
        conn.execute("VACUUM (ANALYZE) dbos.workflow_status")
        conn.execute("ANALYZE dbos.operation_outputs")
    yield db_url
    drop_database(pg_server_url, db_url)


def test_the_claims_read_no_history(big):
    params = {
        "queue": "q",
        "limit": 64,
        "owner": "me:1",
        "executor_id": "e",
        "app_version": "v",
        "app_name": None,
        "is_latest": True,
        "now": NOW,
    }
    with psycopg.connect(big) as conn:
        # An unlimited queue's claim: the ordered scan of the ENQUEUED partial index.
        nodes = _explain(conn, _sql.CLAIM_FREE, params)
        assert _seq_scans(nodes) == []
        used = [(n["Node Type"], n.get("Index Name")) for n in nodes if "Index" in n["Node Type"]]
        assert ("Index Scan", "workflow_status_enqueued_index") in used, str(used)
        # A limited queue's claim: index scans only.
        assert _seq_scans(_explain(conn, _sql.CLAIM, params)) == []
        # A partitioned queue's claim (the other claim statement): index scans only too.
        partitioned = {
            **params,
            "cursor": "",
            "max_keys": 64,
            "partition_worker_limit": None,
            "local": "{}",
        }
        assert _seq_scans(_explain(conn, _sql.CLAIM_PARTITIONED, partitioned)) == []


def test_batched_completions_and_last_steps_use_primary_keys(big):
    ids = [f"run-{g}" for g in range(1, 65)]
    k = len(ids)
    complete = {
        "ids": ids,
        "owners": ["p:1"] * k,
        "statuses": ["SUCCESS"] * k,
        "outputs": ["1"] * k,
        "errors": [None] * k,
        "nows": [NOW] * k,
    }
    tail = {
        **complete,
        "fids": [1] * k,
        "fnames": ["s"] * k,
        "step_outputs": ["1"] * k,
        "starteds": [NOW] * k,
        "step_nows": [NOW] * k,
    }
    record = {
        "ids": ids,
        "owners": ["p:1"] * k,
        "fids": [2] * k,
        "fnames": ["s"] * k,
        "outputs": ["1"] * k,
        "errors": [None] * k,
        "children": [None] * k,
        "starteds": [NOW] * k,
        "nows": [NOW] * k,
    }
    with psycopg.connect(big) as conn:
        for query, params in (
            (_sql.COMPLETE_WORKFLOWS, complete),
            (_sql.RECORD_AND_COMPLETE_WORKFLOWS, tail),
            (_sql.RECORD_OPERATIONS, record),
        ):
            assert _seq_scans(_explain(conn, query, params)) == [], query[:60]


def test_the_fleet_tick_and_a_retention_batch_do_not_scan_the_history(big):
    tick = {"queues": ["q", "_dbos_internal_queue"], "now": NOW, "app_version": "v"}
    gc = {"created": FINISHED // 2, "id": "", "batch": 2000}
    with psycopg.connect(big) as conn:
        assert _seq_scans(_explain(conn, _sql.FLEET_TICK, {**tick, "app_name": None})) == []
        nodes = _explain(conn, _sql.GC_BATCH_BEFORE, gc)
    assert _seq_scans(nodes) == []
    assert any(n.get("Index Name") == "workflow_status_created_at_index" for n in nodes)
