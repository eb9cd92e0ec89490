"""The admin API's routing table: every route once, with its models and answers.

The server (``app.py``) routes, guards and validates from this table; the OpenAPI
document (``openapi.py``) is generated from it. ``name`` is the handler's name in
``handlers.py`` and the operation's ``operationId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbos_queue.ops.admin import models as m
from dbos_queue.ops.admin.auth import Access

JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain"


@dataclass(frozen=True)
class Reply:
    """One documented answer: its description and body (a model, or None for no body)."""

    description: str
    model: Any = None
    media: str = JSON


@dataclass(frozen=True)
class Endpoint:
    """One route."""

    method: str
    path: str
    name: str
    summary: str
    tag: str
    access: Access
    responses: Mapping[int, Reply]
    query: type[m.BaseModel] | None = None
    body: type[m.BaseModel] | None = None  # the model of the JSON body, if any
    form: bool = False  # the dashboard's HTML forms post here (answered with a 303)
    description: str = ""


def _err(description: str) -> Reply:
    return Reply(description, m.ErrorBody)


NOT_FOUND = _err("No such workflow")
CONFLICT = _err("The workflow is in a status that does not allow this")
INVALID = _err("Invalid parameters or body")
FORM_BACK = Reply("A dashboard form: back to the dashboard with the outcome", m.Redirect)
WF = "workflows"
QUEUES = "queues"
OPS = "operations"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/dbos-healthz",
        "healthz",
        "Liveness and readiness",
        OPS,
        Access.PROBE,
        {
            200: Reply("Connected to the system database", m.Health),
            503: Reply("No connection to the system database", m.Health),
        },
    ),
    Endpoint(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus metrics of this process",
        OPS,
        Access.PROBE,
        {200: Reply("Prometheus text exposition format", str, TEXT)},
    ),
    Endpoint(
        "GET",
        "/dbos-perf",
        "perf",
        "Engine loop responsiveness",
        OPS,
        Access.READ,
        {200: Reply("Measured now", m.Perf)},
    ),
    Endpoint(
        "POST",
        "/dbos-workflow-recovery",
        "recovery",
        "Recover the workflows of the named executors now",
        OPS,
        Access.RECOVERY,
        {200: Reply("The workflow ids recovered", m.WorkflowIds), 400: INVALID},
        body=m.ExecutorIds,
        description="DBOS's recovery endpoint: expires the executors' leases and takes "
        "over their PENDING workflows without waiting for the leases to run out.",
    ),
    Endpoint(
        "GET",
        "/workflows",
        "list_workflows",
        "List workflows",
        WF,
        Access.READ,
        {
            200: Reply("Matching workflows, oldest first unless sort_desc", list[m.Workflow]),
            400: INVALID,
        },
        query=m.WorkflowListQuery,
    ),
    Endpoint(
        "GET",
        "/workflows/{workflow_id}",
        "get_workflow",
        "A workflow's status, inputs and outcome",
        WF,
        Access.READ,
        {200: Reply("The workflow", m.Workflow), 404: NOT_FOUND},
    ),
    Endpoint(
        "GET",
        "/workflows/{workflow_id}/steps",
        "workflow_steps",
        "A workflow's recorded steps",
        WF,
        Access.READ,
        {200: Reply("Its steps in order", list[m.Step]), 404: NOT_FOUND},
    ),
    Endpoint(
        "POST",
        "/workflows/{workflow_id}/cancel",
        "cancel_workflow",
        "Cancel a workflow (a running one stops at its next step)",
        WF,
        Access.WRITE,
        {
            200: Reply("Cancelled (or already cancelled)", m.CancelResult),
            303: FORM_BACK,
            400: INVALID,
            404: NOT_FOUND,
            409: CONFLICT,
        },
        body=m.CancelBody,
        form=True,
    ),
    Endpoint(
        "POST",
        "/workflows/{workflow_id}/resume",
        "resume_workflow",
        "Resume a cancelled or dead-lettered workflow from its last recorded step",
        WF,
        Access.WRITE,
        {
            200: Reply("Resumed", m.ResumeResult),
            303: FORM_BACK,
            400: INVALID,
            404: NOT_FOUND,
            409: CONFLICT,
        },
        body=m.ResumeBody,
        form=True,
    ),
    Endpoint(
        "POST",
        "/workflows/{workflow_id}/fork",
        "fork_workflow",
        "Start a new workflow with the same inputs, re-running from a step",
        WF,
        Access.WRITE,
        {
            200: Reply("The new workflow", m.ForkResult),
            303: FORM_BACK,
            400: INVALID,
            404: NOT_FOUND,
            409: _err("new_workflow_id already exists"),
        },
        body=m.ForkBody,
        form=True,
        description="The steps before start_step are copied; the rest run again, side "
        "effects included. The dashboard offers it for failed workflows, which (as in "
        "DBOS) resume does not restart.",
    ),
    Endpoint(
        "GET",
        "/queues",
        "list_queues",
        "Queues: limits and live counts",
        QUEUES,
        Access.READ,
        {200: Reply("Declared queues, and undeclared ones that hold work", list[m.QueueInfo])},
    ),
    Endpoint(
        "GET",
        "/queues/{queue_name}",
        "get_queue",
        "One queue",
        QUEUES,
        Access.READ,
        {200: Reply("The queue", m.QueueInfo), 404: _err("No such queue")},
    ),
    Endpoint(
        "PATCH",
        "/queues/{queue_name}",
        "patch_queue",
        "Change a queue's limits, or pause it, fleet-wide",
        QUEUES,
        Access.WRITE,
        {
            200: Reply("The queue after the change", m.QueueInfo),
            400: INVALID,
            404: _err("No such declared queue"),
        },
        body=m.QueuePatch,
        description="Stored in dbos.queues; every worker applies it at its next claim.",
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        "openapi",
        "This document",
        OPS,
        Access.READ,
        {200: Reply("The OpenAPI document", dict[str, Any])},
    ),
    Endpoint(
        "GET",
        "/dashboard",
        "dashboard",
        "The dashboard (HTML)",
        OPS,
        Access.READ,
        {
            200: Reply("The page", str, HTML),
            303: Reply(
                "?token= was given: the cookie is set and the browser sent on without it",
                m.Redirect,
            ),
            400: INVALID,
        },
        query=m.DashboardQuery,
    ),
)

PUBLIC = frozenset(e.path for e in ENDPOINTS if e.access is Access.PROBE)


def by_path() -> dict[str, dict[str, Endpoint]]:
    """{path template: {method: endpoint}}, in table order."""
    out: dict[str, dict[str, Endpoint]] = {}
    for e in ENDPOINTS:
        out.setdefault(e.path, {})[e.method] = e
    return out
