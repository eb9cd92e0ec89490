"""A workflow body does not see its caller's start options (DBOS 3.4 clears them at
workflow entry): ``SetWorkflowTimeout`` and ``SetEnqueueOptions`` applied to the workflow
started in the block, not to the children its body starts. A child inherits the
parent's deadline instead, and enqueues in the body get the queue's defaults."""

from __future__ import annotations

from dbos_queue import DBOS, Queue, SetEnqueueOptions, SetWorkflowID, SetWorkflowTimeout


def test_children_inherit_the_parents_deadline_not_the_callers_timeout(dbos: type[DBOS]) -> None:
    @DBOS.workflow()
    def child() -> str:
        return DBOS.workflow_id or ""

    @DBOS.workflow()
    def parent() -> str:
        return child()

    with SetWorkflowID("scoped-parent"), SetWorkflowTimeout(600):
        child_id = parent()
    p = DBOS.get_workflow_status("scoped-parent")
    c = DBOS.get_workflow_status(child_id)
    assert p is not None and c is not None
    assert p.workflow_timeout_ms == 600_000 and p.workflow_deadline_epoch_ms is not None
    # The child's deadline is the parent's, not a fresh 600 s from the child's own start.
    assert c.workflow_deadline_epoch_ms == p.workflow_deadline_epoch_ms
    assert c.workflow_timeout_ms is None


def test_enqueue_options_apply_to_the_workflow_in_the_block_not_its_childrens(
    dbos: type[DBOS],
) -> None:
    q = Queue("scoped", priority_enabled=True)

    @DBOS.workflow()
    def leaf() -> int:
        return 1

    @DBOS.workflow()
    def outer() -> str:
        return q.enqueue(leaf).workflow_id

    with SetWorkflowID("scoped-outer"), SetEnqueueOptions(priority=7):
        h = q.enqueue(outer)
    inner_id = h.get_result(timeout=30)
    assert DBOS.retrieve_workflow(inner_id).get_result(timeout=30) == 1
    rows = {w.workflow_id: w for w in DBOS.list_workflows(workflow_ids=["scoped-outer", inner_id])}
    assert rows["scoped-outer"].priority == 7
    assert rows[inner_id].priority == 0


def test_a_direct_call_in_an_enqueue_block_passes_no_options_to_the_body(
    dbos: type[DBOS],
) -> None:
    q = Queue("scoped-direct", priority_enabled=True)

    @DBOS.workflow()
    def leaf() -> int:
        return 2

    @DBOS.workflow()
    def direct() -> str:
        return q.enqueue(leaf).workflow_id

    with SetEnqueueOptions(priority=9):
        inner_id = direct()
    assert DBOS.retrieve_workflow(inner_id).get_result(timeout=30) == 2
    status = DBOS.get_workflow_status(inner_id)
    assert status is not None and status.priority == 0
