"""A workflow's last step is recorded with its completion (engine/tail.py) - and only
the last: any other step's output is durable before the workflow goes on."""

from __future__ import annotations

import sys
import time

import psycopg

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.engine import tail
from dbos_queue.engine.events import StepRecorded
from dbos_queue.model import serialization as ser
from tests.plugins.checks import must

_seen: dict[str, object] = {}


def _probe(tag: str, body) -> int:
    frame = sys._getframe(1)
    _seen[tag] = frame.f_code is body.__code__ and tail._returns_right_after(
        body.__code__, frame.f_lasti
    )
    return 1


def test_only_a_step_whose_result_is_returned_at_once_is_a_tail():
    def returned():
        return _probe("returned", returned)

    def dropped():
        _probe("dropped", dropped)

    def through_a_local():
        x = _probe("through_a_local", through_a_local)
        return x

    def wrapped():
        return [_probe("wrapped", wrapped)]

    def then_more():
        _probe("then_more", then_more)
        print("", end="")

    def in_with():
        with open("/dev/null"):
            return _probe("in_with", in_with)

    def finally_code():
        try:
            return _probe("finally_code", finally_code)
        finally:
            print("", end="")

    def global_store():
        global _G
        _G = _probe("global_store", global_store)

    for f in (returned, dropped, through_a_local, wrapped, then_more, in_with, finally_code):
        f()
    global_store()
    assert _seen == {
        "returned": True,
        "dropped": True,
        "through_a_local": True,
        "wrapped": False,
        "then_more": False,
        "in_with": False,
        "finally_code": False,
        "global_store": False,
    }


def _steps(url: str, wf_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT function_id, function_name, output FROM dbos.operation_outputs"
            " WHERE workflow_uuid = %s ORDER BY function_id",
            (wf_id,),
        ).fetchall()


def test_a_queued_workflow_ending_in_a_step_stores_both(dbos, db_url):
    recorded: list[StepRecorded] = []
    _rt().events.subscribe(StepRecorded, recorded.append)
    q = Queue("tailq")

    @DBOS.step()
    def double(x: int) -> int:
        return 2 * x

    @DBOS.workflow()
    def one(x: int) -> int:
        return double(x)

    with SetWorkflowID("tail-1"):
        h = q.enqueue(one, 21)
    assert h.get_result() == 42
    assert h.get_status().status == "SUCCESS"
    [(fid, name, output)] = _steps(db_url, "tail-1")
    assert fid == 1 and name.endswith("double") and ser.deserialize(output) == 42
    assert [(e.workflow_id, e.function_id) for e in recorded] == [("tail-1", 1)]
    assert [s["output"] for s in DBOS.list_workflow_steps("tail-1")] == [42]


def test_a_step_that_is_not_last_is_durable_before_the_workflow_goes_on(dbos, db_url):
    seen_inside: list = []

    @DBOS.step()
    def first() -> str:
        return "one"

    @DBOS.workflow()
    def two_phase() -> str:
        out = first()
        # Not the last act: the record must be in the table already, seen from outside.
        seen_inside.extend(_steps(db_url, must(DBOS.workflow_id)))
        return out + "!"

    with SetWorkflowID("not-tail"):
        assert DBOS.start_workflow(two_phase).get_result() == "one!"
    assert [(r[0], ser.deserialize(r[2])) for r in seen_inside] == [(1, "one")]


def test_the_joint_write_is_fenced_on_the_owner(dbos, db_url):
    rt = _rt()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dbos.workflow_status (workflow_uuid, status, name, owner_xid,"
            " created_at, updated_at) VALUES ('fenced', 'PENDING', 'f', 'owner:1', 1, 1)"
        )
    stale = rt.sysdb.operation_params("fenced", "other:9", 1, "s", "1", started=1)
    assert rt.sysdb.complete_with_record(stale, "SUCCESS", "2", None) is False
    assert _steps(db_url, "fenced") == []
    current = rt.sysdb.operation_params("fenced", "owner:1", 1, "s", "1", started=1)
    assert rt.sysdb.complete_with_record(current, "SUCCESS", "2", None) is True
    assert _steps(db_url, "fenced") == [(1, "s", "1")]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, output FROM dbos.workflow_status WHERE workflow_uuid = 'fenced'"
        ).fetchone()
    assert row == ("SUCCESS", "2")
    # A second attempt (a retry whose first landed) keeps the record and finds it done.
    assert rt.sysdb.complete_with_record(current, "SUCCESS", "2", None) is False
    assert _steps(db_url, "fenced") == [(1, "s", "1")]


def test_many_tail_workflows_in_one_process_each_store_one_step(dbos, db_url):
    q = Queue("tailmany")

    @DBOS.step()
    def inc(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def last(x: int) -> int:
        return inc(x)

    handles = [q.enqueue(last, i) for i in range(100)]
    assert [h.get_result() for h in handles] == [i + 1 for i in range(100)]
    deadline = time.monotonic() + 10
    with psycopg.connect(db_url) as conn:
        while time.monotonic() < deadline:
            n = conn.execute(
                "SELECT count(*), count(DISTINCT workflow_uuid) FROM dbos.operation_outputs"
                " WHERE workflow_uuid = ANY(%s)",
                ([h.workflow_id for h in handles],),
            ).fetchone()
            if n == (100, 100):
                break
            time.sleep(0.05)
    assert n == (100, 100)
