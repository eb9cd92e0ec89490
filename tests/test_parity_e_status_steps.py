"""DBOS 3.4: from a workflow, ``retrieve_workflow``'s existence check, a DBOS handle's
``get_status`` and the status read after ``fork_workflow`` are each a recorded
"DBOS.getStatus" step, and a DBOS handle's ``get_result`` a "DBOS.getResult" step (sync
and async), so the step ids of the steps after them are DBOS's; a DBOSClient's handles
record nothing."""

from __future__ import annotations

import asyncio

import pytest

from dbos_queue import DBOS, DBOSClient, SetWorkflowID
from dbos_queue.error import DBOSNonExistentWorkflowError


def _steps(wf_id: str) -> list[str]:
    names = [s["function_name"] for s in DBOS.list_workflow_steps(wf_id)]
    return [n.rsplit(".", 1)[-1] if "<locals>" in n else n for n in names]


def test_status_reads_of_handles_retrieval_and_fork_are_steps(
    dbos: type[DBOS], db_url: str
) -> None:
    @DBOS.step()
    def one() -> int:
        return 1

    @DBOS.workflow()
    def target() -> int:
        return one()

    @DBOS.workflow()
    def inspector(wf_id: str) -> str:
        h = DBOS.retrieve_workflow(wf_id)  # 1: DBOS.getStatus
        status = h.get_status().status  # 2: DBOS.getStatus
        fork = DBOS.fork_workflow(wf_id, 1)  # 3: DBOS.forkWorkflow, 4: DBOS.getStatus
        fork.get_result()  # 5: DBOS.getResult
        unchecked = DBOS.retrieve_workflow("nobody", existing_workflow=False)  # no step
        one()  # 6
        return f"{status}:{unchecked.workflow_id}"

    with SetWorkflowID("t1"):
        assert target() == 1
    with SetWorkflowID("i1"):
        assert inspector("t1") == "SUCCESS:nobody"
    assert _steps("i1") == [
        "DBOS.getStatus",
        "DBOS.getStatus",
        "DBOS.forkWorkflow",
        "DBOS.getStatus",
        "DBOS.getResult",
        "one",
    ]
    with DBOSClient(system_database_url=db_url) as client:
        assert client.retrieve_workflow("i1").get_status().status == "SUCCESS"
    assert len(_steps("i1")) == 6  # a client read records nothing


def test_async_twins_record_the_same_steps(dbos: type[DBOS]) -> None:
    @DBOS.step()
    async def one() -> int:
        return 1

    @DBOS.workflow()
    async def target() -> int:
        return await one()

    @DBOS.workflow()
    async def inspector(wf_id: str) -> str:
        h = await DBOS.retrieve_workflow_async(wf_id)
        status = (await h.get_status()).status
        fork = await DBOS.fork_workflow_async(wf_id, 1)
        await fork.get_result()
        with pytest.raises(DBOSNonExistentWorkflowError):
            await DBOS.retrieve_workflow_async("nobody")  # a recorded read of nothing
        return status

    async def main() -> str:
        with SetWorkflowID("t2"):
            await target()
        with SetWorkflowID("i2"):
            return await inspector("t2")

    assert asyncio.run(main()) == "SUCCESS"
    assert _steps("i2") == [
        "DBOS.getStatus",
        "DBOS.getStatus",
        "DBOS.forkWorkflow",
        "DBOS.getStatus",
        "DBOS.getResult",
        "DBOS.getStatus",
    ]
