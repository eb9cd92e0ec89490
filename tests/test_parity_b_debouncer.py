"""Debouncer / DebouncerClient against real Postgres (DBOS 3.4.0 semantics)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, Queue, SetEnqueueOptions, SetWorkflowID
from dbos_queue.api.debouncer import Debouncer, DebouncerClient
from dbos_queue.error import DBOSException, DBOSQueueDeduplicatedError
from tests.plugins.waiting import wait_until

RAN: list[Any] = []


def _row(url: str, wf_id: str) -> tuple:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, inputs, delay_until_epoch_ms, deduplication_id, is_debounced,"
            " debounce_deadline_epoch_ms FROM dbos.workflow_status WHERE workflow_uuid = %s",
            (wf_id,),
        ).fetchone()
    assert row is not None
    return row


@pytest.fixture
def collect(dbos) -> Any:
    RAN.clear()

    @DBOS.workflow()
    def collect(value: Any) -> Any:
        RAN.append(value)
        return value

    return collect


def test_calls_within_the_period_coalesce_onto_one_run_with_the_last_args(
    dbos, collect, db_url
) -> None:
    deb = Debouncer.create(collect)
    first = deb.debounce("k", 1.5, 1)
    before = _row(db_url, first.workflow_id)
    assert before[0] == "DELAYED" and before[3] == f"{collect.__qualname__}-k" and before[4]
    second = deb.debounce("k", 1.5, 2)
    third = deb.debounce("k", 1.5, 3)
    other = deb.debounce("other", 0.2, "x")
    assert first.workflow_id == second.workflow_id == third.workflow_id != other.workflow_id
    assert _row(db_url, first.workflow_id)[2] >= before[2]  # its start was pushed out
    assert third.get_result(timeout=30) == 3
    assert other.get_result(timeout=30) == "x"
    assert sorted(RAN, key=str) == [3, "x"]  # one run per key, with the newest arguments
    # Once it ran the key is free: the next call starts a fresh workflow.
    again = deb.debounce("k", 0.1, 4)
    assert again.workflow_id != first.workflow_id and again.get_result(timeout=30) == 4


def test_timeout_bounds_how_long_a_burst_can_delay_the_start(dbos, collect, db_url) -> None:
    deb = Debouncer.create(collect, debounce_timeout_sec=1.5)
    started = time.time()
    h = deb.debounce("burst", 1.0, 0)
    deadline = _row(db_url, h.workflow_id)[5]
    assert deadline is not None and abs(deadline / 1000 - (started + 1.5)) < 0.5
    ids = {h.workflow_id}
    i = 0
    while _row(db_url, h.workflow_id)[0] == "DELAYED" and time.time() - started < 10:
        i += 1
        ids.add(deb.debounce("burst", 1.0, i).workflow_id)
        assert _row(db_url, h.workflow_id)[2] <= deadline  # never pushed past the deadline
        time.sleep(0.3)  # the calls of a burst, 0.3 s apart (each alone would wait 1 s)
    assert time.time() - started < 4.0, "the burst kept delaying the workflow past its timeout"
    assert h.get_result(timeout=30) in range(i + 1)
    assert len(ids) <= 2  # the first workflow, and one started after it left DELAYED


def test_conflicting_options_and_bad_names_are_refused(dbos, collect) -> None:
    deb = Debouncer.create(collect)
    conflicting: list[dict[str, Any]] = [
        {"deduplication_id": "d"},
        {"priority": 1},
        {"delay_seconds": 2},
    ]
    for opts in conflicting:
        with SetEnqueueOptions(**opts), pytest.raises(DBOSException, match="Cannot debounce"):
            deb.debounce("k", 1.0, 1)
    with pytest.raises(DBOSException, match="Invalid workflow name"):
        Debouncer("no_such_workflow").debounce("k", 1.0)
    with pytest.raises(DBOSException, match="Invalid queue name"):
        Debouncer.create(collect, queue="no_such_queue").debounce("k", 1.0)
    with pytest.raises(DBOSException, match="debounce_period_sec"):
        deb.debounce("k", -1, 1)


def test_a_key_held_by_a_non_debounced_workflow_raises(dbos, collect) -> None:
    q = Queue("debq")
    with SetEnqueueOptions(deduplication_id=f"{collect.__qualname__}-held", delay_seconds=30):
        held = q.enqueue(collect, "plain")
    with pytest.raises(DBOSQueueDeduplicatedError):
        Debouncer.create(collect, queue=q).debounce("held", 1.0, "debounced")
    DBOS.cancel_workflow(held.workflow_id)


def test_pinned_workflow_id_and_queue(dbos, collect) -> None:
    q = Queue("debq2")
    deb = Debouncer.create(collect, queue=q)
    with SetWorkflowID("debounced-pinned"):
        h = deb.debounce("p", 0.2, "pinned")
    assert h.workflow_id == "debounced-pinned"
    assert h.get_result(timeout=30) == "pinned"
    assert h.get_status().queue_name == "debq2"


def test_debounce_inside_a_workflow_is_recorded_and_async_spelling(dbos, collect) -> None:
    deb = Debouncer.create(collect)

    @DBOS.workflow()
    def parent() -> str:
        return deb.debounce("in-wf", 0.2, "child").workflow_id

    with SetWorkflowID("debounce-parent"):
        child_id = parent()
    assert DBOS.retrieve_workflow(child_id).get_result(timeout=30) == "child"
    with SetWorkflowID("debounce-parent"):  # the recorded outcome, not a second debounce
        assert parent() == child_id

    async def go() -> Any:
        handle = await deb.debounce_async("async", 0.2, "a")
        return await handle.get_result()

    assert asyncio.run(go()) == "a"


def test_debouncer_client_from_outside_the_application(dbos, collect, db_url) -> None:
    with DBOSClient(db_url) as client:
        deb = DebouncerClient(
            client, {"workflow_name": collect.__qualname__, "queue_name": "debqc"}
        )
        Queue("debqc")
        a = deb.debounce("c", 1.0, "first")
        b = deb.debounce("c", 1.0, "second")
        assert a.workflow_id == b.workflow_id
        assert client.get_result(a.workflow_id, timeout=30) == "second"
        with pytest.raises(DBOSException, match="Cannot debounce"):
            DebouncerClient(
                client,
                {"workflow_name": "x", "queue_name": "debqc", "priority": 3},
            ).debounce("c", 1.0)
    wait_until(lambda: RAN == ["second"], 10, "the one run")
