from dbos_queue import DBOS, SetWorkflowID
from tests.plugins.checks import must


def test_one_workflow(dbos):
    calls = []

    @DBOS.step()
    def step_one(x):
        calls.append(x)
        return x + 1

    @DBOS.workflow()
    def wf(x):
        return step_one(x) * 2

    with SetWorkflowID("w1"):
        assert wf(1) == 4
    with SetWorkflowID("w1"):
        assert wf(1) == 4
    assert calls == [1]
    assert must(DBOS.get_workflow_status("w1")).status == "SUCCESS"
