"""The ``DBOS`` facade: deleting workflows, moving a delayed start, workflow attributes.

Each is one recorded step when called from a workflow (DBOS's step names); the
parameters and ops are ``api.specs``' (shared with ``DBOSClient``).
"""

from __future__ import annotations

from dbos_queue.api import specs
from dbos_queue.api.facade.recorded import as_step_named
from dbos_queue.api.twin import twins

_DELETE = as_step_named("DBOS.deleteWorkflow")


class Attributes:
    """``DBOS`` class methods: delete_workflow(s), set_workflow_delay, attributes."""

    delete_workflow, delete_workflow_async = twins(specs.delete_workflow, _DELETE)
    delete_workflows, delete_workflows_async = twins(specs.delete_workflows, _DELETE)
    set_workflow_delay, set_workflow_delay_async = twins(
        specs.set_workflow_delay, as_step_named("DBOS.setWorkflowDelay")
    )
    update_workflow_attributes, update_workflow_attributes_async = twins(
        specs.update_workflow_attributes, as_step_named("DBOS.updateWorkflowAttributes")
    )
