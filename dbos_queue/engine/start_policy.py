"""Starting a workflow under DBOS 3.4's id-reuse and duplication policies.

The policies travel in the INIT parameters (``reuse_policy``, ``duplication_policy``)
and are applied by ``db.sysdb.init_workflow_plan``: "reject" raises
``DBOSWorkflowIDInUseError`` when the id is already in use, "return-existing" (for
duplication) attaches to the workflow holding the deduplication id. A child started
under one of them is recorded in its parent after the insert, not before: the parent's
step then holds what really happened (the error, or the workflow attached to), so a
replay of the parent raises the same error or returns the same handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbos_queue.engine import core as _core
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.error import DBOSWorkflowIDInUseError
from dbos_queue.model import serialization as ser

if TYPE_CHECKING:
    from dbos_queue.engine.host import Host

POLICY_KEYS = ("reuse_policy", "duplication_policy")


def has_policy(params: dict[str, Any]) -> bool:
    """Whether a start asks for a policy other than the default attach-or-reject."""
    return (
        params.get("reuse_policy") == "reject"
        or params.get("duplication_policy") == "return-existing"
    )


async def init_workflow(
    rt: Host,
    params: dict[str, Any],
    parent: WorkflowContext | None,
    parent_fid: int,
    name: str,
) -> tuple[bool, WorkflowContext | None]:
    """``core.init_workflow`` honouring the policies in ``params``; ``params["id"]`` is
    the workflow the caller gets (the holder, when attached by deduplication)."""
    if parent is None or not has_policy(params):
        return await _core.init_workflow(rt, params, parent, parent_fid, name)
    recorded = parent.recorded.get(parent_fid) if not parent.fresh else None
    if recorded is not None:
        # A replay: the parent's step says what the first run did (its id is the child).
        done, _ = _core.step_replay(parent, parent_fid, name)  # raises a recorded error
        assert done
        for key in POLICY_KEYS:
            params.pop(key, None)
        return await _core.init_workflow(rt, params, parent, parent_fid, name)
    try:
        res = await rt.sysdb.init_workflow(params)
    except DBOSWorkflowIDInUseError as e:
        rec = rt.sysdb.operation_params(
            parent.workflow_id, parent.owner, parent_fid, name, error=ser.serialize_exception(e)
        )
        await rt.sysdb.record_operation(rec)
        raise
    child = res.holder if res.holder is not None else params["id"]
    rec = rt.sysdb.operation_params(parent.workflow_id, parent.owner, parent_fid, name, child=child)
    await rt.sysdb.record_operation(rec)  # refused => parent fenced; it finds out next write
    return await _core.attach(rt, params, res, name)
