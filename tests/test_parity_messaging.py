"""DBOS 3.4.0 messaging: idempotent send, send_bulk, send_to_forks, wait_first, streams
from an offset with timeouts, read_stream_offset, and their checkpoints in a workflow."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from dbos_queue import DBOS, DBOSClient, SendMessage, SetWorkflowID
from dbos_queue.error import (
    DBOSException,
    DBOSNonExistentWorkflowError,
    DBOSStreamTimeoutError,
)


def _mailbox(db_url: str, wf_id: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT topic, consumed FROM dbos.notifications WHERE destination_uuid = %s"
            " ORDER BY created_at_epoch_ms",
            (wf_id,),
        ).fetchall()


def test_send_with_idempotency_key_delivers_once(dbos: type[DBOS], db_url: str) -> None:
    @DBOS.workflow()
    def inbox() -> list:
        got = [DBOS.recv("t", timeout_seconds=10)]
        got.append(DBOS.recv("t", timeout_seconds=0.5))  # a duplicate would land here
        return got

    h = DBOS.start_workflow(inbox)
    DBOS.send(h.workflow_id, "once", "t", idempotency_key="k1")
    assert h.get_result() == ["once", None]
    # Consumed messages keep their key: sending it again still delivers nothing.
    DBOS.send(h.workflow_id, "once", "t", idempotency_key="k1")
    with DBOSClient(db_url) as client:
        client.send(h.workflow_id, "once", "t", "k1")
        client.send(h.workflow_id, "other", "t", "k2")
    assert _mailbox(db_url, h.workflow_id) == [("t", True), ("t", False)]


def test_send_bulk_is_all_or_nothing(dbos: type[DBOS], db_url: str) -> None:
    @DBOS.workflow()
    def reader(n: int) -> list:
        return [DBOS.recv(timeout_seconds=10) for _ in range(n)]

    a = DBOS.start_workflow(reader, 2)
    b = DBOS.start_workflow(reader, 1)
    with pytest.raises(DBOSNonExistentWorkflowError, match="missing"):
        DBOS.send_bulk([SendMessage(a.workflow_id, 1), SendMessage("missing", 2)])
    assert _mailbox(db_url, a.workflow_id) == []  # the valid one was not sent either
    with pytest.raises(DBOSException, match="duplicate idempotency keys: d"):
        DBOS.send_bulk(
            [SendMessage(a.workflow_id, 1, None, "d"), SendMessage(b.workflow_id, 2, None, "d")]
        )
    DBOS.send_bulk(
        [
            SendMessage(a.workflow_id, "x"),
            SendMessage(b.workflow_id, "y", idempotency_key="once"),
            SendMessage(a.workflow_id, "z"),
        ]
    )
    DBOS.send_bulk([SendMessage(b.workflow_id, "y", idempotency_key="once")])
    assert a.get_result() == ["x", "z"]
    assert b.get_result() == ["y"]


def test_send_to_forks_and_send_bulk_recorded_once(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def listener() -> str:
        return DBOS.recv("f", timeout_seconds=15)

    @DBOS.workflow()
    def broadcaster(dest: str) -> None:
        DBOS.send_bulk([SendMessage(dest, "hi", "f")], send_to_forks=True)

    with SetWorkflowID("root"):
        root = DBOS.start_workflow(listener)
    fork = DBOS.fork_workflow("root", 1)
    with SetWorkflowID("caster"):
        broadcaster("root")
    assert root.get_result() == "hi"
    assert fork.get_result() == "hi"
    steps = [s["function_name"] for s in DBOS.list_workflow_steps("caster")]
    assert steps == ["DBOS.send_bulk"]


def test_wait_first_returns_the_first_to_finish(dbos: type[DBOS], db_url: str) -> None:
    release = {"fast": threading.Event(), "slow": threading.Event()}

    @DBOS.workflow()
    def gated(name: str) -> str:
        release[name].wait(30)
        return name

    slow = DBOS.start_workflow(gated, "slow")
    fast = DBOS.start_workflow(gated, "fast")
    release["fast"].set()
    first = DBOS.wait_first([slow, fast], polling_interval_sec=0.05)
    assert first is fast and first.get_result() == "fast"
    release["slow"].set()
    with pytest.raises(ValueError, match="empty"):
        DBOS.wait_first([])
    with pytest.raises(ValueError, match="duplicate"):
        DBOS.wait_first([slow, slow])
    with DBOSClient(db_url) as client:
        handles = [client.retrieve_workflow(slow.workflow_id)]
        assert client.wait_first(handles).workflow_id == slow.workflow_id


def test_wait_first_in_a_workflow_is_replayed(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def quick(x: int) -> int:
        return x

    @DBOS.workflow()
    def waiter() -> str:
        hs = [DBOS.start_workflow(quick, i) for i in range(3)]
        return DBOS.wait_first(hs, polling_interval_sec=0.05).workflow_id

    with SetWorkflowID("w"):
        first = waiter()
    names = [s["function_name"] for s in DBOS.list_workflow_steps("w")]
    assert names[-1] == "DBOS.waitFirst"
    assert DBOS.list_workflow_steps("w")[-1]["output"] == first


def test_read_stream_offset_timeout_and_closed(dbos: type[DBOS], db_url: str) -> None:
    go = threading.Event()

    @DBOS.workflow()
    def writer() -> None:
        for i in range(3):
            DBOS.write_stream("s", i)
        go.wait(30)
        DBOS.write_stream("s", 3)
        DBOS.close_stream("s")

    h = DBOS.start_workflow(writer)
    assert DBOS.read_stream_offset(h.workflow_id, "s", 1) == 1
    started = time.monotonic()
    with pytest.raises(DBOSStreamTimeoutError, match=r"within 0\.3 seconds"):
        list(DBOS.read_stream(h.workflow_id, "s", offset=2, timeout_seconds=0.3))
    assert time.monotonic() - started < 10
    with pytest.raises(DBOSStreamTimeoutError):
        DBOS.read_stream_offset(h.workflow_id, "s", 3, timeout_seconds=0.2)
    go.set()
    assert list(DBOS.read_stream(h.workflow_id, "s", offset=1)) == [1, 2, 3]
    h.get_result()
    with pytest.raises(DBOSStreamTimeoutError, match="No value arrived"):
        DBOS.read_stream_offset(h.workflow_id, "s", 7)  # closed before offset 7: at once
    with DBOSClient(db_url) as client:
        assert list(client.read_stream(h.workflow_id, "s", offset=3)) == [3]
        assert client.read_stream_offset(h.workflow_id, "s", 0) == 0
    with pytest.raises(DBOSNonExistentWorkflowError):
        list(DBOS.read_stream("no-such-workflow", "s", timeout_seconds=1))
    with pytest.raises(ValueError, match="polling_interval_sec"):
        list(DBOS.read_stream(h.workflow_id, "s", polling_interval_sec=0))


def test_stream_reads_in_a_workflow_are_checkpointed(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def producer() -> None:
        DBOS.write_stream("nums", 10)
        DBOS.write_stream("nums", 20)
        DBOS.close_stream("nums")

    @DBOS.workflow()
    def consumer(src: str) -> list:
        return [*DBOS.read_stream(src, "nums"), DBOS.read_stream_offset(src, "nums", 1)]

    with SetWorkflowID("prod"):
        producer()
    with SetWorkflowID("cons"):
        assert consumer("prod") == [10, 20, 20]
    names = [s["function_name"] for s in DBOS.list_workflow_steps("cons")]
    assert names == ["DBOS.readStream"] * 3 + ["DBOS.readStreamOffset"]


def test_async_twins(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    async def echo(x: int) -> int:
        await DBOS.set_event_async("e", x)
        await DBOS.write_stream_async("s", x)
        await DBOS.close_stream_async("s")
        return x

    async def main() -> tuple:
        h = await DBOS.start_workflow_async(echo, 4)
        first = await DBOS.wait_first_async([h], polling_interval_sec=0.05)
        result = await DBOS.get_result_async(h.workflow_id)
        events = await DBOS.get_all_events_async(h.workflow_id)
        values = [v async for v in DBOS.read_stream_async(h.workflow_id, "s")]
        at = await DBOS.read_stream_offset_async(h.workflow_id, "s", 0)
        await DBOS.send_bulk_async([SendMessage(h.workflow_id, 1, idempotency_key="a")])
        await DBOS.send_async(h.workflow_id, 1, idempotency_key="a")
        return first.workflow_id == h.workflow_id, result, events, values, at

    assert asyncio.run(main()) == (True, 4, {"e": 4}, [4], 4)
