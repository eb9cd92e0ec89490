"""A fleet-wide slot freed by a finished workflow is claimed at once, not at the next
heartbeat: the wake-up for it goes out when the completion is written, because a claim
made before that still counts the finished workflow as running.

The workers' lease is two minutes here, so their heartbeat-paced fleet tick (every
40 s) and backstop claim (every minute) cannot hide a missing wake-up; the drain is long
enough to outlast the workers' start-up window of fast polling. Before the fix this
drain stopped after that window and timed out (waiting for the next tick); with it, it
takes about ten seconds here."""

from __future__ import annotations

from typing import cast

import pytest

from dbos_queue import DBOSClient, EnqueueOptions

pytestmark = pytest.mark.slow


def test_each_freed_global_slot_is_claimed_without_waiting_for_a_tick(app_db, start_worker):
    options = cast(EnqueueOptions, {"queue_name": "wide", "workflow_name": "quick"})
    with DBOSClient(app_db) as client:
        client.register_queue("wide", concurrency=50)  # as the workers declare it
        # All queued before any worker runs: no enqueue's notification wakes a claim later.
        ids = client.enqueue_many(options, [(i,) for i in range(15000)])
        for _ in range(2):
            start_worker("wide", env={"QUEUE_APP_LEASE": "120"})
        # 50 slots turned over 300 times, most of them after the workers' start-up window of fast
        # polling; a lost wake-up costs ~40 s.
        results = [client.retrieve_workflow(i).get_result(timeout=60) for i in ids]
    assert results == list(range(15000))
