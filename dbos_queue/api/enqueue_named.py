"""``DBOS.enqueue_workflow_with_options``: enqueue by name from inside the application.

The row is the one ``DBOSClient.enqueue`` writes for the same ``EnqueueOptions``; from
a workflow it is also a recorded child (deterministic id, replayed on recovery) and
inherits the caller's authentication. The workflow need not be registered here, and
an unset ``app_version`` stays unset: the latest application version runs it.
"""

from __future__ import annotations

from typing import Any, cast

from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import core as _core
from dbos_queue.engine import start_policy as _policy
from dbos_queue.engine.context import WorkflowContext, next_enqueue, pending_reuse_policy


def prepare(
    rt: Runtime, options: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[dict[str, Any], WorkflowContext | None, int]:
    """(INIT_WORKFLOW parameters, parent context, parent step id), in the caller's context
    (it consumes SetWorkflowID and the parent's next step id)."""
    import json

    from dbos_queue.api.client import DBOSClient, EnqueueOptions

    ambient = next_enqueue.get()  # SetEnqueueOptions: what the options leave unset
    if ambient is not None and options.get("deduplication_id") is None:
        options = {**options, "deduplication_id": ambient.deduplication_id}
        if options.get("duplication_policy") is None:
            options["duplication_policy"] = ambient.duplication_policy
    params = DBOSClient.enqueue_params(cast("EnqueueOptions", options), args, kwargs)
    reuse = pending_reuse_policy()  # SetWorkflowID's: it goes with that block's id
    wf_id, parent, pfid = _core.resolve_workflow_id(rt)
    replayed = parent is not None and not parent.fresh and pfid in parent.recorded
    if options.get("workflow_id") and not replayed:
        wf_id = options["workflow_id"]
    elif params["reuse_policy"] is None:
        params["reuse_policy"] = reuse
    params["id"] = wf_id
    params["parent_id"] = parent.workflow_id if parent is not None else None
    params["app_name"] = options.get("application_name") or getattr(rt.settings, "name", None)
    if params["user"] is None and params["roles"] is None:
        user, roles = _core.current_auth()
        params["user"] = user
        params["roles"] = json.dumps(roles) if roles is not None else None
    return params, parent, pfid


async def insert(
    rt: Runtime, params: dict[str, Any], parent: WorkflowContext | None, pfid: int
) -> str:
    """Write the row (and the parent's child record); the id (engine loop)."""
    from dbos_queue.api.invoke import named_only, require_stored_queue

    if named_only(params["queue"]):  # refuse a queue no worker declared: nothing is written
        await require_stored_queue(rt, params["queue"])
    await _policy.init_workflow(rt, params, parent, pfid, params["name"])
    if params["status"] == "DELAYED":
        rt.queues.wake_delayed()
    else:
        rt.engine.publish("queue", params["queue"])
    return params["id"]
