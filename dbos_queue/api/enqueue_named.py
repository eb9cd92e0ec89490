"""``DBOS.enqueue_workflow_with_options``: enqueue by name from inside the application.

The row is the one ``DBOSClient.enqueue`` writes for the same ``EnqueueOptions``; from
a workflow it is also a recorded child (deterministic id, replayed on recovery). As in
DBOS 3.4.0 what the options leave unset comes from the caller's context: the id (and
its reuse policy) of a ``SetWorkflowID`` block, ``SetEnqueueOptions``' deduplication id,
duplication policy, priority, application version, partition key and delay,
``SetWorkflowTimeout`` (else the calling workflow's deadline), ``SetShardKey``, the
caller's authentication, and ``SetWorkflowAttributes`` merged under the options'
attributes, with a ``PropagateOtelContext`` block's trace. The inputs are written in
``serialization_type``'s format (DEFAULT: the configured one, not the caller's, as
DBOS). The workflow need not be registered here, and an unset ``app_version`` stays
unset: the latest application version runs it.
"""

from __future__ import annotations

from typing import Any, cast

from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import core as _core
from dbos_queue.engine import start_policy as _policy
from dbos_queue.engine import tracing as _tracing
from dbos_queue.engine.context import (
    WorkflowContext,
    next_enqueue,
    next_timeout,
    pending_reuse_policy,
)
from dbos_queue.engine.options import attributes_json, pending_attributes, pending_shard_key

# EnqueueOptions keys a SetEnqueueOptions block fills in when the options leave them unset.
_AMBIENT_KEYS = (
    "deduplication_id",
    "duplication_policy",
    "priority",
    "app_version",
    "queue_partition_key",
    "delay_seconds",
)


def _with_ambient(options: dict[str, Any]) -> dict[str, Any]:
    """The options, completed from the caller's SetEnqueueOptions and SetWorkflowTimeout."""
    ambient = next_enqueue.get()
    out = dict(options)
    if ambient is not None:
        for key in _AMBIENT_KEYS:
            if out.get(key) is None and getattr(ambient, key) is not None:
                out[key] = getattr(ambient, key)
    if out.get("workflow_timeout") is None and next_timeout.get() is not None:
        out["workflow_timeout"] = next_timeout.get()
    return out


def prepare(
    rt: Runtime, options: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[dict[str, Any], WorkflowContext | None, int]:
    """(INIT_WORKFLOW parameters, parent context, parent step id), in the caller's context
    (it consumes SetWorkflowID and the parent's next step id)."""
    import json

    from dbos_queue.api.client import DBOSClient, EnqueueOptions

    options = _with_ambient(options)
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
    params["shard_key"] = params["shard_key"] or pending_shard_key()
    if params["timeout_ms"] is None and parent is not None:
        params["deadline_ms"] = parent.deadline_ms  # the caller's deadline propagates
    ambient = _tracing.with_carrier(pending_attributes())  # PropagateOtelContext's trace too
    if ambient:
        own = _tracing.with_context(options.get("attributes"), options.get("otel_context"))
        params["attributes"] = attributes_json({**ambient, **(own or {})})  # options win
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
