"""Workflow ids made by the library are version-7 UUIDs (model/ids.py): valid UUIDs, as
DBOS's, whose order follows the time they were made, from every path that makes one."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg

from dbos_queue import DBOS, DBOSClient
from dbos_queue.model.ids import uuid7


def _v7(s: str) -> uuid.UUID:
    u = uuid.UUID(s)
    assert str(u) == s  # canonical lower-case text, as DBOS's str(uuid4())
    assert u.version == 7 and u.variant == uuid.RFC_4122
    return u


def test_uuid7_carries_its_millisecond_and_random_bits() -> None:
    ids = [uuid7(now_ms=1_700_000_000_123) for _ in range(200)]
    for s in ids:
        assert _v7(s).int >> 80 == 1_700_000_000_123
    assert len(set(ids)) == 200
    assert uuid7(now_ms=1_700_000_000_124) > max(ids)  # a later millisecond sorts after


def test_every_path_that_makes_a_workflow_id_makes_a_time_ordered_one(
    dbos: type[DBOS], db_url: str
) -> None:
    @DBOS.workflow()
    def made(x: int) -> int:
        return x

    queue = DBOS.register_queue("ids")
    first = DBOS.start_workflow(made, 1)
    assert first.get_result() == 1
    second = queue.enqueue(made, 2)
    assert second.get_result() == 2
    client = DBOSClient(system_database_url=db_url)
    try:
        opts: Any = {"queue_name": "ids", "workflow_name": made.__qualname__}
        third = client.enqueue(opts, 3)
        bulk = client.enqueue_many(opts, [(4,), (5,), (6,)])
        assert [client.retrieve_workflow(i).get_result() for i in bulk] == [4, 5, 6]
        assert third.get_result() == 3
    finally:
        client.destroy()
    ids = [first.workflow_id, second.workflow_id, third.workflow_id, *bulk]
    stamps = [_v7(i).int >> 80 for i in ids]
    assert stamps == sorted(stamps)  # each made no earlier than the one before it
    assert len(set(ids)) == len(ids)
    forked = DBOS.fork_workflow(first.workflow_id, 1)
    assert forked.get_result() == 1
    assert _v7(forked.workflow_id).int >> 80 >= stamps[-1]


def test_redeclaring_a_queue_as_stored_does_not_wait_for_its_row(
    dbos: type[DBOS], db_url: str
) -> None:
    DBOS.register_queue("steady", global_concurrency=4, worker_concurrency=2)
    # Another transaction holds the row (a fleet's launches, an operator's change): an
    # identical declaration (every relaunch) reads it and does not queue behind it.
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT * FROM dbos.queues WHERE name = 'steady' FOR UPDATE")
        t = threading.Thread(
            target=lambda: DBOS.register_queue(
                "steady", global_concurrency=4, worker_concurrency=2
            ),
            daemon=True,
        )
        t.start()
        t.join(timeout=20)
        finished = not t.is_alive()
        holder.rollback()
    t.join(timeout=20)
    assert finished, "an unchanged declaration waited for the queue row's lock"
    changed = DBOS.register_queue("steady", global_concurrency=5)
    assert changed.global_concurrency == 5
