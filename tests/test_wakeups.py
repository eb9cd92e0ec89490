"""Waiting is event-driven: with the polling fallback set to a minute, every wait
below can only finish in time if a NOTIFY from another connection woke it."""

from __future__ import annotations

import threading

import pytest

from dbos_queue import DBOS, DBOSClient, SetWorkflowID

SLOW_POLL = 60.0


@pytest.fixture
def config(db_url):
    return {
        "name": "wake",
        "system_database_url": db_url,
        "notification_listener_polling_interval_sec": SLOW_POLL,
    }


@pytest.fixture
def client(dbos, db_url):
    with DBOSClient(db_url) as c:
        c.engine.poll_fallback_sec = SLOW_POLL
        yield c


def test_recv_wakes_on_a_message_from_another_connection(dbos, client):
    @DBOS.workflow()
    def waiter():
        return DBOS.recv("t", timeout_seconds=30)

    with SetWorkflowID("rx"):
        h = DBOS.start_workflow(waiter)
    client.send("rx", "hello", "t")
    assert h.get_result(timeout=20) == "hello"


def test_get_event_and_get_result_wake_across_connections(dbos, client):
    go = threading.Event()

    @DBOS.workflow()
    def setter():
        go.wait(10)
        DBOS.set_event("k", 42)
        return "done"

    with SetWorkflowID("ev"):
        DBOS.start_workflow(setter)
    got = {}
    waiters = [
        threading.Thread(target=lambda: got.update(event=client.get_event("ev", "k", 20))),
        threading.Thread(target=lambda: got.update(result=client.get_result("ev", timeout=20))),
    ]
    for t in waiters:
        t.start()
    go.set()  # both are waiting now; only NOTIFYs can wake them before the poll
    for t in waiters:
        t.join(30)
    assert got == {"event": 42, "result": "done"}


def test_read_stream_wakes_across_connections(dbos, client):
    go = threading.Event()

    @DBOS.workflow()
    def writer():
        go.wait(10)
        for i in range(3):
            DBOS.write_stream("s", i)
        DBOS.close_stream("s")

    with SetWorkflowID("st"):
        DBOS.start_workflow(writer)
    got = []
    reader = threading.Thread(target=lambda: got.extend(client.read_stream("st", "s")))
    reader.start()
    go.set()
    reader.join(20)
    assert got == [0, 1, 2]
