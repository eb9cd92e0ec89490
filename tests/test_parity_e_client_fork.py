"""DBOSClient.fork_workflow (sync and async) names the fork by SetWorkflowID, as in DBOS."""

from __future__ import annotations

import asyncio

from dbos_queue import DBOS, DBOSClient, SetWorkflowID


def test_client_fork_takes_its_id_from_set_workflow_id(dbos: type[DBOS], db_url: str) -> None:
    calls: list[int] = []

    @DBOS.step()
    def count(x: int) -> int:
        calls.append(x)
        return x + 1

    @DBOS.workflow()
    def twice(x: int) -> int:
        return count(count(x))

    with SetWorkflowID("original"):
        assert twice(1) == 3
    with DBOSClient(system_database_url=db_url) as client:
        with SetWorkflowID("fork-by-client"):
            handle = client.fork_workflow("original", 2)
        assert handle.workflow_id == "fork-by-client"
        assert handle.get_result() == 3

        async def fork_async() -> str:
            with SetWorkflowID("fork-by-client-async"):
                h = await client.fork_workflow_async("original", 1)
            assert await h.get_result() == 3
            return h.workflow_id

        assert asyncio.run(fork_async()) == "fork-by-client-async"
        unnamed = client.fork_workflow("original", 2)  # no SetWorkflowID: a fresh id
        assert unnamed.workflow_id not in ("original", "fork-by-client", "fork-by-client-async")
        assert unnamed.get_result() == 3
    assert calls == [1, 2, 2, 1, 2, 2]  # each fork re-ran from its step on
