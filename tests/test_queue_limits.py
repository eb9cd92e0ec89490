"""Every queue limit holds across several real worker processes."""

from __future__ import annotations

from typing import Any, cast

import psycopg
import pytest

from dbos_queue import DBOSClient, EnqueueOptions
from dbos_queue.error import DBOSQueueDeduplicatedError

pytestmark = pytest.mark.slow


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def runs(url: str, queue: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT r.workflow_id, r.tag, r.pid, r.started, r.ended, ws.queue_partition_key,"
            " ws.started_at_epoch_ms FROM runs r JOIN dbos.workflow_status ws"
            " ON ws.workflow_uuid = r.workflow_id WHERE r.queue = %s ORDER BY r.started",
            (queue,),
        ).fetchall()


def enqueue(client: DBOSClient, queue: str, n: int, seconds: float, **opts: Any) -> list[str]:
    options = cast(EnqueueOptions, {"queue_name": queue, "workflow_name": "timed", **opts})
    handles = [client.enqueue(options, queue, f"t{i}", seconds) for i in range(n)]
    for h in handles:
        h.get_result(timeout=60)
    return [h.workflow_id for h in handles]


def test_global_concurrency_across_workers(app_db, start_worker):
    # Each worker may run 2, the fleet 3: reaching 3 at once takes two workers, and
    # three workers (room for 6) must still stop at 3 between them.
    for _ in range(3):
        start_worker("globspread")
    with DBOSClient(app_db) as client:
        enqueue(client, "globspread", 12, 0.3)
    r = runs(app_db, "globspread")
    assert len(r) == 12
    assert max_overlap([(x[3], x[4]) for x in r]) == 3
    assert len({x[2] for x in r}) >= 2, "work spread over several workers"


def test_worker_concurrency_is_per_process(app_db, start_worker):
    start_worker("perworker")
    start_worker("perworker")
    with DBOSClient(app_db) as client:
        enqueue(client, "perworker", 12, 0.3)
    r = runs(app_db, "perworker")
    by_pid: dict[int, list] = {}
    for x in r:
        by_pid.setdefault(x[2], []).append((x[3], x[4]))
    assert all(max_overlap(v) <= 2 for v in by_pid.values())
    assert max_overlap([(x[3], x[4]) for x in r]) > 2, "two workers ran more than 2 together"


def test_rate_limit_window_across_workers(app_db, start_worker):
    start_worker("rate")
    start_worker("rate")
    with DBOSClient(app_db) as client:
        enqueue(client, "rate", 10, 0.01)
    starts = sorted(x[6] for x in runs(app_db, "rate"))
    assert len(starts) == 10
    for i, s in enumerate(starts):
        in_window = [t for t in starts[i:] if t < s + 1000]
        assert len(in_window) <= 4, f"{len(in_window)} starts within 1 s from {s}"
    assert starts[-1] - starts[0] >= 2000, "10 starts at 4/s take over 2 s"


def test_partition_concurrency_and_fairness(app_db, start_worker):
    start_worker("part")
    start_worker("part")
    with DBOSClient(app_db) as client:
        handles = []
        for key in ("a", "b", "c"):
            for i in range(3):
                handles.append(
                    client.enqueue(
                        {
                            "queue_name": "part",
                            "workflow_name": "timed",
                            "queue_partition_key": key,
                        },
                        "part",
                        f"{key}{i}",
                        0.2,
                    )
                )
        for h in handles:
            h.get_result(timeout=60)
    r = runs(app_db, "part")
    for key in ("a", "b", "c"):
        assert max_overlap([(x[3], x[4]) for x in r if x[5] == key]) == 1
    assert max_overlap([(x[3], x[4]) for x in r]) >= 2, "different partitions ran in parallel"


def test_concurrency_one_processes_strictly_in_order(app_db, start_worker):
    start_worker("ordered")
    start_worker("ordered")
    with DBOSClient(app_db) as client:
        ids = enqueue(client, "ordered", 8, 0.02)
    r = runs(app_db, "ordered")
    assert [x[0] for x in r] == ids
    assert max_overlap([(x[3], x[4]) for x in r]) == 1


def test_priority_order(app_db, start_worker):
    with DBOSClient(app_db) as client:
        # Stored before any worker runs (an enqueue to an undeclared queue is refused).
        client.register_queue("prio", concurrency=1)
        handles = [
            client.enqueue(
                {"queue_name": "prio", "workflow_name": "timed", "priority": p},
                "prio",
                f"p{p}",
                0.01,
            )
            for p in (5, 0, 3, 1, 2)
        ]
        start_worker("prio")
        for h in handles:
            h.get_result(timeout=60)
    assert [x[1] for x in runs(app_db, "prio")] == ["p0", "p1", "p2", "p3", "p5"]


def test_deduplication_of_active_workflows(app_db, start_worker):
    with DBOSClient(app_db) as client:
        client.register_queue("free")  # stored before any worker declares it
        opts: EnqueueOptions = {
            "queue_name": "free",
            "workflow_name": "timed",
            "deduplication_id": "once",
        }
        h = client.enqueue(opts, "free", "first", 0.01)
        with pytest.raises(DBOSQueueDeduplicatedError):
            client.enqueue(opts, "free", "second", 0.01)
        start_worker("free")
        assert h.get_result(timeout=60) == "first"
        # Finished workflows release their deduplication id.
        assert client.enqueue(opts, "free", "third", 0.01).get_result(timeout=60) == "third"
