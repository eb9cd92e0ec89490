"""The ``DBOS`` facade: listing workflows and their steps, with DBOS 3.4.0's filters.

Every filter is a named keyword (a misspelt one raises ``TypeError``); the parameters are
``api.specs``' (shared with ``DBOSClient``), the one implementation ``ops.listing``.
Unlike DBOS, a listing made from a workflow is not recorded as a step (it takes no step
id): its rows are read afresh on replay.
"""

from __future__ import annotations

from dbos_queue.api import specs
from dbos_queue.api.facade.recorded import ON_RUNTIME
from dbos_queue.api.twin import twins


class Listing:
    """``DBOS`` class methods: list_workflows, list_queued_workflows, list_workflow_steps."""

    list_workflows, list_workflows_async = twins(specs.list_workflows, ON_RUNTIME)
    list_queued_workflows, list_queued_workflows_async = twins(
        specs.list_queued_workflows, ON_RUNTIME
    )
    list_workflow_steps, list_workflow_steps_async = twins(specs.list_workflow_steps, ON_RUNTIME)
