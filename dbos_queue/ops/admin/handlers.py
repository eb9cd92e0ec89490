"""The admin API's route handlers, one per ``spec.ENDPOINTS`` row (by name).

Each takes the server's ``Ctx`` and the validated ``Call`` and returns
``(status, payload)``: the app passes a JSON payload through the route's response
model. Database work runs on the engine loop (``Ctx.db``); this module runs on the
admin server's own loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError
from dbos_queue.model.records import Row
from dbos_queue.model.status import status_from_row
from dbos_queue.ops import management as mgmt
from dbos_queue.ops.admin import dashboard as _dashboard
from dbos_queue.ops.admin import models as m
from dbos_queue.ops.admin.auth import Guard
from dbos_queue.ops.admin.samples import SampleRing
from dbos_queue.ops.admin.views import queue_rows, step_json, workflow_json
from dbos_queue.queue.claim import set_queue_limits

if TYPE_CHECKING:
    from dbos_queue.ops.host import OpsHost

DB_TIMEOUT = 30.0


class ApiError(Exception):
    """Ends a request with ``code`` and ``{"error": message, **extra}``."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.payload = {"error": message, **extra}


@dataclass
class Ctx:
    """What the handlers share: the runtime, the guard, the samples, the document."""

    rt: OpsHost
    guard: Guard
    samples: SampleRing
    openapi: dict[str, Any]

    async def db(self, coro: Any, timeout: float = DB_TIMEOUT) -> Any:
        """Run ``coro`` on the engine loop and await it here."""
        return await asyncio.wait_for(self.rt.engine.arun(coro), timeout)

    async def status_row(self, workflow_id: str) -> Row:
        """The workflow's row, or a 404."""
        row: Row | None = await self.db(self.rt.sysdb.get_status_row(workflow_id))
        if row is None:
            raise ApiError(404, f"no workflow {workflow_id!r}")
        return row


@dataclass
class Call:
    """One validated request."""

    request: Request
    params: dict[str, str]
    query: Any = None
    body: Any = None
    form: bool = False


Result = tuple[int, Any]


# --- health, metrics, recovery ----------------------------------------------------------


async def healthz(ctx: Ctx, _call: Call) -> Result:
    """GET /dbos-healthz: 200 while the engine's listening connection is up, else 503."""
    engine = ctx.rt.engine
    if not engine.listener_connected.is_set() and not engine.standby:  # off duty: it polls
        return 503, {"status": "unhealthy", "reason": "no connection to the system database"}
    return 200, {"status": "healthy"}


async def metrics(ctx: Ctx, _call: Call) -> Result:
    """GET /metrics: the Prometheus exposition of this process."""
    body = await run_in_threadpool(ctx.rt.metrics.exposition)
    return 200, Response(body, media_type=CONTENT_TYPE_LATEST)


async def perf(ctx: Ctx, _call: Call) -> Result:
    """Engine loop responsiveness: how long a no-op takes to run on it."""

    async def nop() -> None:
        return None

    start = time.perf_counter()
    await ctx.db(nop(), timeout=5)
    return 200, {
        "engine_loop_lag_seconds": time.perf_counter() - start,
        "running_workflows": len(ctx.rt.running),
        "queued_running": dict(ctx.rt.queues.running),
    }


async def recovery(ctx: Ctx, call: Call) -> Result:
    """POST /dbos-workflow-recovery: recover the pending workflows of these executors."""
    return 200, await run_in_threadpool(ctx.rt.recover_executors, call.body.root)


# --- workflows ------------------------------------------------------------------------------


def _time(text: str | None) -> Any:
    return int(text) if text and text.isdigit() else (text or None)


async def list_workflows(ctx: Ctx, call: Call) -> Result:
    """GET /workflows: workflows matching the query's filters."""
    q: m.WorkflowListQuery = call.query
    try:
        found = await ctx.db(
            mgmt.list_workflows(
                ctx.rt,
                sort_desc=q.sort_desc,
                load_input=q.load_input,
                load_output=q.load_output,
                status=q.status,
                name=q.name,
                queue_name=q.queue,
                workflow_ids=q.workflow_id,
                executor_id=q.executor_id,
                app_version=q.app_version,
                workflow_id_prefix=q.workflow_id_prefix or None,
                start_time=_time(q.start_time),
                end_time=_time(q.end_time),
                limit=q.limit,
                offset=q.offset,
            )
        )
    except (DBOSException, ValueError) as exc:
        raise ApiError(400, str(exc)) from None
    return 200, [workflow_json(s) for s in found]


async def get_workflow(ctx: Ctx, call: Call) -> Result:
    """GET /workflows/{id}: one workflow's status (404 when unknown)."""
    return 200, workflow_json(status_from_row(await ctx.status_row(call.params["workflow_id"])))


async def workflow_steps(ctx: Ctx, call: Call) -> Result:
    """GET /workflows/{id}/steps: the steps a workflow recorded, in order."""
    wf_id = call.params["workflow_id"]
    await ctx.status_row(wf_id)
    return 200, [step_json(r) for r in await ctx.db(ctx.rt.sysdb.list_steps(wf_id))]


async def cancel_workflow(ctx: Ctx, call: Call) -> Result:
    """POST /workflows/{id}/cancel: cancel it (and its children when asked)."""
    wf_id = call.params["workflow_id"]
    await ctx.status_row(wf_id)
    cancelled = await ctx.db(mgmt.cancel(ctx.rt, [wf_id], call.body.cancel_children))
    status = (await ctx.status_row(wf_id)).status
    if wf_id not in cancelled and status != "CANCELLED":
        raise ApiError(
            409,
            f"workflow {wf_id!r} is {status}: only PENDING, ENQUEUED or DELAYED workflows "
            "can be cancelled",
            status=status,
        )
    return 200, {"workflow_id": wf_id, "status": status, "cancelled": cancelled}


async def resume_workflow(ctx: Ctx, call: Call) -> Result:
    """POST /workflows/{id}/resume: put it back on a queue to run again."""
    wf_id = call.params["workflow_id"]
    try:
        resumed = await ctx.db(mgmt.resume(ctx.rt, wf_id, call.body.queue_name))
    except DBOSNonExistentWorkflowError:
        raise ApiError(404, f"no workflow {wf_id!r}") from None
    status = (await ctx.status_row(wf_id)).status
    if not resumed:
        raise ApiError(
            409,
            f"workflow {wf_id!r} is {status}: only CANCELLED, ERROR, "
            "MAX_RECOVERY_ATTEMPTS_EXCEEDED or waiting workflows can be resumed",
            status=status,
        )
    return 200, {"workflow_id": wf_id, "status": status}


async def fork_workflow(ctx: Ctx, call: Call) -> Result:
    """POST /workflows/{id}/fork: a new workflow re-running it from a step (409 on a taken id)."""
    wf_id, body = call.params["workflow_id"], call.body
    new_id = body.new_workflow_id
    if new_id is not None and await ctx.db(ctx.rt.sysdb.get_status_row(new_id)) is not None:
        raise ApiError(409, f"workflow {new_id!r} already exists")
    try:
        forked = await ctx.db(
            mgmt.fork(
                ctx.rt,
                wf_id,
                body.start_step,
                new_id=new_id,
                app_version=body.application_version,
                queue_name=body.queue_name,
            )
        )
    except DBOSNonExistentWorkflowError:
        raise ApiError(404, f"no workflow {wf_id!r}") from None
    except DBOSException as exc:
        raise ApiError(400, str(exc)) from None
    return 200, {"workflow_id": forked, "forked_from": wf_id}


# --- queues -------------------------------------------------------------------------------


async def list_queues(ctx: Ctx, _call: Call) -> Result:
    """GET /queues: every stored queue with its settings and counts."""
    return 200, await ctx.db(queue_rows(ctx.rt.sysdb))


async def _queue(ctx: Ctx, name: str) -> dict[str, Any]:
    for q in await ctx.db(queue_rows(ctx.rt.sysdb)):
        if q["name"] == name:
            return q
    raise ApiError(404, f"no queue {name!r}")


async def get_queue(ctx: Ctx, call: Call) -> Result:
    """GET /queues/{name}: one queue (404 when unknown)."""
    return 200, await _queue(ctx, call.params["queue_name"])


_PATCH_ARGS = {
    "concurrency": "global_concurrency",
    "worker_concurrency": "worker_concurrency",
    "rate": "limiter",
    "paused": "paused",
}


async def patch_queue(ctx: Ctx, call: Call) -> Result:
    """PATCH /queues/{name}: change its limits or pause state at runtime."""
    name, body = call.params["queue_name"], call.body
    sent = body.model_dump(exclude_unset=True)
    if sent.get("paused", False) is None:
        del sent["paused"]  # null leaves the pause state as it is
    if not sent:
        raise ApiError(400, f"nothing to change; send any of {list(m.QueuePatch.model_fields)}")
    changes = {_PATCH_ARGS[k]: v for k, v in sent.items()}
    try:
        found = await ctx.db(set_queue_limits(ctx.rt.sysdb, name, **changes))
    except (DBOSException, ValueError) as exc:
        raise ApiError(400, str(exc)) from None
    if not found:
        raise ApiError(404, f"no declared queue {name!r}")
    return 200, await _queue(ctx, name)


# --- documents ------------------------------------------------------------------------------


async def openapi(ctx: Ctx, _call: Call) -> Result:
    """GET /openapi.json: the admin API's description."""
    return 200, ctx.openapi


async def dashboard(ctx: Ctx, call: Call) -> Result:
    """GET /dashboard: the HTML dashboard page."""
    page = await _dashboard.render(ctx.rt, ctx.guard, ctx.samples, call.query, ctx.db)
    return 200, Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        },
    )
