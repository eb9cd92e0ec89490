"""A dequeued workflow whose function this process does not register.

In a mixed fleet (a rolling deploy, workers built from different code) the worker that
happens to claim a workflow may lack its function. It then leaves the workflow for a
process that has it: while another live process lists the name in ``dbos.executors``,
the claim is undone (the row goes back to its queue, DELAYED for a moment so this
process does not take it straight back). While no live process registers it, the
workflow keeps waiting for one to appear, re-checked every few seconds, and ends
``ERROR`` naming the function once ``unknown_workflow_wait_sec`` (default 60 s) has
passed since the first worker found nobody able to run it.

The claim stamped this process's application version on the row, and processes of one
version run the same code, so a handed-back row never keeps it: it goes back unversioned
when a capable process runs the latest version (which dequeues unversioned rows), else
under a capable process's own version, so that process may claim it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import now_ms
from dbos_queue.engine import core as _core
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.error import DBOSWorkflowFunctionNotFoundError
from dbos_queue.model import serialization as ser
from dbos_queue.model.jitter import jitter
from dbos_queue.queue.wakeup import DELAYED_SIGNAL

if TYPE_CHECKING:
    from dbos_queue.queue.host import QueueHost

HAND_BACK_MS = 200  # how long a handed-back workflow stays invisible (jittered)
RECHECK_MS = 2000  # while nobody registers the function: how often one is looked for


async def announce_workflows(rt: QueueHost) -> None:
    """Record in ``dbos.executors`` which workflow names this process can run."""
    names = sorted(rt.registry.workflows)
    await rt.sysdb.execute(_sql.SET_EXECUTOR_WORKFLOWS, (names, rt.process_id))


async def leave_or_fail(
    rt: QueueHost,
    wf_id: str,
    owner: str,
    name: str,
    exc: DBOSWorkflowFunctionNotFoundError,
    queues: Any = None,
) -> str:
    """Hand the claimed workflow back or, after the wait, end it ERROR.

    ``queues`` is this process's queue service (its delayed-work timer). Returns what
    happened: ``"handed back"``, ``"waiting"`` or ``"error"``.
    """
    now = now_ms()
    params = {
        "now": now,
        "process_id": rt.process_id,
        "name": name,
        "id": wf_id,
        "app_name": getattr(rt.settings, "name", None),
    }
    row = await rt.sysdb.fetchone(_sql.UNRUNNABLE_STATE, params)
    someone = row is not None and bool(row.runnable_elsewhere)
    version: str | None = row.application_version if row is not None else None
    since: int | None = row.no_executor_since_epoch_ms if row is not None else None
    wait_ms = int(rt.settings.unknown_workflow_wait_sec * 1000)
    if someone:
        until = now + int(HAND_BACK_MS * jitter(0.5, 1.5))
        await _hand_back(rt, wf_id, owner, now, until, None, version)
        # Only the others' timers: ours would promote it here first and take it back.
        rt.engine.publish("queue", DELAYED_SIGNAL)
        return "handed back"
    since = now if since is None else since
    if now - since < wait_ms:
        until = min(since + wait_ms, now + RECHECK_MS)
        await _hand_back(rt, wf_id, owner, now, until, since, None)
        rt.engine.publish("queue", DELAYED_SIGNAL)
        if queues is not None:
            queues.wake_delayed()  # we may be alone: look again when it is due
        return "waiting"
    waited = (now - since) / 1000
    error = DBOSWorkflowFunctionNotFoundError(
        wf_id,
        f"no live worker registers workflow {name!r} (waited {waited:.0f}s for one, "
        "unknown_workflow_wait_sec); check the name, or start workers whose code defines it",
    )
    error.__cause__ = exc
    await _core.complete(
        rt, WorkflowContext(wf_id, owner), "ERROR", None, ser.serialize_exception(error)
    )
    return "error"


async def _hand_back(
    rt: QueueHost,
    wf_id: str,
    owner: str,
    now: int,
    until: int,
    since: int | None,
    version: str | None,
) -> None:
    params = {
        "id": wf_id,
        "owner": owner,
        "now": now,
        "until": until,
        "since": since,
        "version": version,
    }
    await rt.sysdb.execute(_sql.HAND_BACK_UNRUNNABLE, params)
