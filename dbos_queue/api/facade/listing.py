"""The ``DBOS`` facade: listing workflows and their steps, with DBOS 3.4.0's filters.

Every filter is a named keyword (a misspelt one raises ``TypeError``); the parameters are
``api.specs``' (shared with ``DBOSClient``), the one implementation ``ops.listing``.
As in DBOS, a listing made from a workflow body is one recorded step ("DBOS.listWorkflows",
"DBOS.listQueuedWorkflows", "DBOS.listWorkflowSteps"): it takes the next step id and its
rows are stored as the step's output, in the configured serializer (not the workflow's
portable format, as DBOS); a replay returns those rows without reading the database. A
serializer that cannot store them (portable JSON as the configured serializer refuses
``WorkflowStatus`` and exceptions) makes the call raise, with nothing recorded, as in
DBOS. Outside a workflow, or inside a step, a listing is not recorded and reads afresh.
"""

from __future__ import annotations

from dbos_queue.api import specs
from dbos_queue.api.facade.recorded import as_step_named
from dbos_queue.api.twin import twins


class Listing:
    """``DBOS`` class methods: list_workflows, list_queued_workflows, list_workflow_steps."""

    list_workflows, list_workflows_async = twins(
        specs.list_workflows, as_step_named("DBOS.listWorkflows")
    )
    list_queued_workflows, list_queued_workflows_async = twins(
        specs.list_queued_workflows, as_step_named("DBOS.listQueuedWorkflows")
    )
    list_workflow_steps, list_workflow_steps_async = twins(
        specs.list_workflow_steps, as_step_named("DBOS.listWorkflowSteps")
    )
