"""DBOS 3.4's read-only management calls made from a workflow body are recorded steps:
``get_workflow_status`` ("DBOS.getStatus"), ``list_workflows`` ("DBOS.listWorkflows"),
``list_queued_workflows`` ("DBOS.listQueuedWorkflows"), ``list_workflow_steps``
("DBOS.listWorkflowSteps") and their ``_async`` twins. Each takes the next step id; a
replay (here a fork from a later step) returns the recorded answer without reading the
database, however it changed meanwhile. Outside a workflow or inside a step they are not
recorded. The output is stored in the configured serializer, whatever the workflow's
format; one that cannot store it makes the call raise and records nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dbos_queue import (
    DBOS,
    DBOSPortableJSONSerializer,
    Queue,
    SetWorkflowID,
    WorkflowSerializationFormat,
    WorkflowStatus,
)
from dbos_queue.ops import listing as ops_listing
from tests.plugins.checks import must

READS = ["DBOS.getStatus", "DBOS.listWorkflows", "DBOS.listQueuedWorkflows"]
READS += ["DBOS.listWorkflowSteps"]


def _steps(wf_id: str) -> list[tuple[int, str]]:
    return [(s["function_id"], s["function_name"]) for s in DBOS.list_workflow_steps(wf_id)]


def _no_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a listing that reaches the database fails."""

    async def refused(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a replayed listing read the database")

    for name in ("list_workflows", "list_queued_workflows", "list_steps"):
        monkeypatch.setattr(ops_listing, name, refused)


def test_reads_are_steps_and_a_fork_replays_them(
    dbos: type[DBOS], monkeypatch: pytest.MonkeyPatch
) -> None:
    arrived, gate = threading.Event(), threading.Event()
    marks: list[int] = []

    @DBOS.step()
    def arrive() -> None:
        arrived.set()

    @DBOS.step()
    def finish() -> None:
        pass

    @DBOS.workflow()
    def blocker() -> str:
        arrive()
        gate.wait(30)
        finish()
        return "done"

    @DBOS.step()
    def mark() -> int:
        marks.append(1)
        return len(marks)

    @DBOS.workflow()
    def reader(target: str) -> dict[str, Any]:
        st = must(DBOS.get_workflow_status(target))
        named = DBOS.list_workflows(name=st.name)
        queued = DBOS.list_queued_workflows(queue_name="lq")
        steps = DBOS.list_workflow_steps(target)
        return {
            "status": st.status,
            "named": [r.workflow_id for r in named],
            "queued": [r.workflow_id for r in queued],
            "steps": len(steps),
            "mark": mark(),
        }

    q = Queue("lq")
    with SetWorkflowID("t1"):
        h1 = q.enqueue(blocker)
    assert arrived.wait(30)
    with SetWorkflowID("rd"):
        first = reader("t1")
    assert first == {"status": "PENDING", "named": ["t1"], "queued": ["t1"], "steps": 1, "mark": 1}
    recorded = DBOS.list_workflow_steps("rd")
    assert [(s["function_id"], s["function_name"]) for s in recorded[:4]] == list(
        zip(range(1, 5), READS, strict=True)
    )
    assert recorded[4]["function_id"] == 5 and len(recorded) == 5
    status = recorded[0]["output"]
    assert isinstance(status, WorkflowStatus)
    assert (status.workflow_id, status.status) == ("t1", "PENDING")
    assert [r.workflow_id for r in recorded[1]["output"]] == ["t1"]
    assert [s["function_id"] for s in recorded[3]["output"]] == [1]

    # The database changes: t1 finishes (one more step, off the queue), t2 joins it.
    gate.set()
    assert h1.get_result() == "done"
    with SetWorkflowID("t2"):
        assert blocker() == "done"
    name = must(DBOS.get_workflow_status("t1")).name
    fresh = {
        "status": must(DBOS.get_workflow_status("t1")).status,
        "named": sorted(r.workflow_id for r in DBOS.list_workflows(name=name)),
        "queued": [r.workflow_id for r in DBOS.list_queued_workflows(queue_name="lq")],
        "steps": len(DBOS.list_workflow_steps("t1")),
    }
    assert fresh == {"status": "SUCCESS", "named": ["t1", "t2"], "queued": [], "steps": 2}

    _no_reads(monkeypatch)
    fork = DBOS.fork_workflow("rd", 5)
    assert fork.get_result() == first | {"mark": 2}
    monkeypatch.undo()
    assert _steps(fork.workflow_id)[:4] == list(zip(range(1, 5), READS, strict=True))
    assert len(marks) == 2  # only the step after the reads ran again


def test_async_twins_are_steps_and_replay(
    dbos: type[DBOS], monkeypatch: pytest.MonkeyPatch
) -> None:
    @DBOS.workflow()
    def target() -> int:
        return 7

    @DBOS.step()
    async def amark() -> str:
        return "marked"

    @DBOS.workflow()
    async def areader(wf: str) -> list[Any]:
        st = must(await DBOS.get_workflow_status_async(wf))
        named = await DBOS.list_workflows_async(name=st.name)
        queued = await DBOS.list_queued_workflows_async(queue_name="nothing-here")
        steps = await DBOS.list_workflow_steps_async(wf)
        return [st.output, [r.workflow_id for r in named], len(queued), len(steps), await amark()]

    with SetWorkflowID("a1"):
        assert target() == 7
    with SetWorkflowID("ar"):
        h = DBOS.start_workflow(areader, "a1")
    first = h.get_result()
    assert first == [7, ["a1"], 0, 0, "marked"]
    steps = _steps("ar")
    assert steps[:4] == list(zip(range(1, 5), READS, strict=True))
    assert [fid for fid, _ in steps] == [1, 2, 3, 4, 5]

    with SetWorkflowID("a2"):
        assert target() == 7
    assert len(DBOS.list_workflows(name=must(DBOS.get_workflow_status("a1")).name)) == 2
    _no_reads(monkeypatch)
    assert DBOS.fork_workflow("ar", 5).get_result() == first


def test_not_recorded_inside_a_step_or_outside_a_workflow(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def other() -> str:
        return "x"

    @DBOS.step()
    def reads(wf: str) -> list[Any]:
        st = must(DBOS.get_workflow_status(wf))
        return [
            st.status,
            len(DBOS.list_workflows(workflow_ids=[wf])),
            len(DBOS.list_queued_workflows()),
            len(DBOS.list_workflow_steps(wf)),
        ]

    @DBOS.step()
    def after() -> int:
        return 2

    @DBOS.workflow()
    def outer(wf: str) -> list[Any]:
        return [*reads(wf), after()]

    with SetWorkflowID("o1"):
        assert other() == "x"
    with SetWorkflowID("in-step"):
        assert outer("o1") == ["SUCCESS", 1, 0, 0, 2]
    steps = _steps("in-step")
    assert [fid for fid, _ in steps] == [1, 2]
    assert not any(name.startswith("DBOS.") for _, name in steps)
    # Outside any workflow: a plain read, nothing recorded anywhere.
    assert must(DBOS.get_workflow_status("o1")).status == "SUCCESS"
    assert DBOS.list_workflow_steps("o1") == []
    assert _steps("in-step") == steps


def test_a_portable_workflow_stores_them_in_the_configured_format(
    dbos: type[DBOS], db_url: str
) -> None:
    @DBOS.workflow()
    def plain() -> str:
        return "p"

    @DBOS.workflow(serialization_type=WorkflowSerializationFormat.PORTABLE)
    def pread(wf: str) -> list[str]:
        rows = DBOS.list_workflows(workflow_ids=[wf])
        return [r.workflow_id for r in rows] + [must(DBOS.get_workflow_status(wf)).status]

    with SetWorkflowID("pl"):
        assert plain() == "p"
    with SetWorkflowID("pr"):
        assert pread("pl") == ["pl", "SUCCESS"]
    with psycopg.connect(db_url) as conn:
        row = must(
            conn.execute(
                "SELECT output FROM dbos.operation_outputs"
                " WHERE workflow_uuid = 'pr' AND function_id = 1"
            ).fetchone()
        )
    assert '"$dbq":"dataclass"' in row[0]  # tagged JSON (the configured format), not portable
    steps = DBOS.list_workflow_steps("pr")
    assert [s["function_name"] for s in steps] == ["DBOS.listWorkflows", "DBOS.getStatus"]
    assert isinstance(steps[1]["output"], WorkflowStatus)
    assert DBOS.fork_workflow("pr", 3).get_result() == ["pl", "SUCCESS"]


@pytest.fixture
def portable_serializer(config: dict[str, Any]) -> Iterator[None]:
    DBOS.destroy(destroy_registry=True)
    DBOS(config=config | {"serializer": DBOSPortableJSONSerializer()})
    yield
    DBOS.destroy(destroy_registry=True)


def test_a_serializer_that_cannot_store_the_answer_raises_and_records_nothing(
    portable_serializer: None,
) -> None:
    @DBOS.workflow()
    def target() -> str:
        return "t"

    @DBOS.workflow()
    def reads(wf: str) -> list[Any]:
        try:
            DBOS.list_workflows(workflow_ids=[wf])
            refused = ""
        except TypeError as e:  # DBOS raises TypeError; ours is DBOSSerializationError
            refused = type(e).__name__
        empty = DBOS.list_workflows(workflow_ids=["no-such-workflow"])
        missing = DBOS.get_workflow_status("no-such-workflow")
        return [refused, len(empty), missing is None]

    DBOS.launch()
    with SetWorkflowID("ps-t"):
        assert target() == "t"
    with SetWorkflowID("ps"):
        assert reads("ps-t") == ["DBOSSerializationError", 0, True]
    # The refused call used step 1 and recorded nothing there; the storable ones did.
    assert _steps("ps") == [(2, "DBOS.listWorkflows"), (3, "DBOS.getStatus")]
