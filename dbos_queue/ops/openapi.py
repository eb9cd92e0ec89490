"""The OpenAPI 3.1 description of the admin server (served at ``GET /openapi.json``).

Kept in step with ``_admin.ROUTES`` by tests/test_admin_api.py: every routed
(method, path) is described here and every described one is routed, and the
test checks real responses against these schemas.
"""

from __future__ import annotations

from typing import Any

STATUS_ENUM = [
    "DELAYED",
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(code: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{code}"}


def _op(
    op_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": dict(responses),
    }
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
        op["responses"].setdefault("400", _err("BadRequest"))
        op["responses"].setdefault("413", _err("PayloadTooLarge"))
    if public:
        op["security"] = []
    else:
        op["responses"].setdefault("401", _err("Unauthorized"))
    return op


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


WF_ID = _path("workflow_id", "Workflow id (percent-encode '/' as %2F).")
QUEUE = _path("queue_name", "Queue name.")
_list_of_text = {"type": "array", "items": {"type": "string"}}
_time = {"type": "string", "description": "ISO-8601 time or epoch milliseconds."}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What was wrong."},
            "status": {"type": "string", "description": "Current workflow status (on 409)."},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
            "reason": {"type": "string"},
        },
    },
    "Perf": {
        "type": "object",
        "required": ["engine_loop_lag_seconds", "running_workflows", "queued_running"],
        "properties": {
            "engine_loop_lag_seconds": {"type": "number"},
            "running_workflows": {"type": "integer"},
            "queued_running": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "WorkflowError": {
        "type": ["object", "null"],
        "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
    },
    "Workflow": {
        "type": "object",
        "required": ["workflow_id", "status", "name", "created_at", "queue_name"],
        "properties": {
            "workflow_id": {"type": "string"},
            "status": {"type": "string", "enum": STATUS_ENUM},
            "name": {"type": "string"},
            "class_name": _nullable("string"),
            "config_name": _nullable("string"),
            "authenticated_user": _nullable("string"),
            "assumed_role": _nullable("string"),
            "authenticated_roles": {"type": ["array", "null"], "items": {"type": "string"}},
            "input": {"description": "{'args': [...], 'kwargs': {...}} as JSON, or null"},
            "output": {
                "description": "The result as JSON (values JSON cannot hold are shown as text)."
            },
            "error": _ref("WorkflowError"),
            "created_at": _nullable("integer", description="epoch ms"),
            "updated_at": _nullable("integer", description="epoch ms"),
            "queue_name": _nullable("string"),
            "executor_id": _nullable("string"),
            "app_version": _nullable("string"),
            "app_id": _nullable("string"),
            "recovery_attempts": _nullable("integer"),
            "workflow_timeout_ms": _nullable("integer"),
            "workflow_deadline_epoch_ms": _nullable("integer"),
            "deduplication_id": _nullable("string"),
            "priority": _nullable("integer"),
            "queue_partition_key": _nullable("string"),
            "forked_from": _nullable("string"),
            "dequeued_at": _nullable("integer", description="epoch ms"),
        },
    },
    "Step": {
        "type": "object",
        "required": [
            "function_id",
            "function_name",
            "output",
            "error",
            "child_workflow_id",
            "started_at_epoch_ms",
            "completed_at_epoch_ms",
        ],
        "properties": {
            "function_id": {"type": "integer"},
            "function_name": {"type": "string"},
            "output": {"description": "The step's recorded result as JSON."},
            "error": _ref("WorkflowError"),
            "child_workflow_id": _nullable("string"),
            "started_at_epoch_ms": _nullable("integer"),
            "completed_at_epoch_ms": _nullable("integer"),
        },
    },
    "CancelRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"cancel_children": {"type": "boolean", "default": False}},
    },
    "CancelResult": {
        "type": "object",
        "required": ["workflow_id", "status", "cancelled"],
        "properties": {
            "workflow_id": {"type": "string"},
            "status": {"type": "string", "enum": STATUS_ENUM},
            "cancelled": {
                **_list_of_text,
                "description": "Ids this call cancelled (children too).",
            },
        },
    },
    "ResumeRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "queue_name": {
                **_nullable("string"),
                "description": "Queue to run on (default: the internal queue every worker serves).",
            }
        },
    },
    "ResumeResult": {
        "type": "object",
        "required": ["workflow_id", "status"],
        "properties": {
            "workflow_id": {"type": "string"},
            "status": {"type": "string", "enum": STATUS_ENUM},
        },
    },
    "ForkRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "start_step": {
                "type": "integer",
                "minimum": 1,
                "default": 1,
                "description": "First step to re-run; earlier results are copied.",
            },
            "new_workflow_id": _nullable("string"),
            "application_version": _nullable("string"),
            "queue_name": _nullable("string"),
        },
    },
    "ForkResult": {
        "type": "object",
        "required": ["workflow_id", "forked_from"],
        "properties": {"workflow_id": {"type": "string"}, "forked_from": {"type": "string"}},
    },
    "Rate": {
        "type": ["object", "null"],
        "required": ["limit", "period"],
        "properties": {
            "limit": {"type": "integer", "minimum": 1},
            "period": {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
        },
    },
    "Queue": {
        "type": "object",
        "required": [
            "name",
            "declared",
            "concurrency",
            "worker_concurrency",
            "rate",
            "paused",
            "depth",
            "running",
            "delayed",
            "oldest_enqueued_at",
            "oldest_age_s",
        ],
        "properties": {
            "name": {"type": "string"},
            "declared": {
                "type": "boolean",
                "description": "Has a row in dbos.queues (false: "
                "only holds workflows, e.g. the "
                "internal queue).",
            },
            "concurrency": _nullable("integer", description="fleet-wide limit"),
            "worker_concurrency": _nullable("integer", description="per-process limit"),
            "rate": _ref("Rate"),
            "partition_concurrency": _nullable("integer"),
            "partition_worker_concurrency": _nullable("integer"),
            "partition_rate": _ref("Rate"),
            "polling_interval_sec": _nullable("number"),
            "paused": {"type": "boolean"},
            "source": {
                "type": ["string", "null"],
                "enum": ["code", "runtime", None],
                "description": "'runtime' once an operator changed the limits.",
            },
            "depth": {"type": "integer", "description": "ENQUEUED workflows"},
            "running": {"type": "integer", "description": "PENDING workflows"},
            "delayed": {"type": "integer", "description": "DELAYED workflows"},
            "oldest_enqueued_at": _nullable("integer", description="epoch ms"),
            "oldest_age_s": _nullable("number"),
        },
    },
    "QueuePatch": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "concurrency": {
                **_nullable("integer"),
                "minimum": 1,
                "description": "Fleet-wide concurrency; null removes the limit.",
            },
            "worker_concurrency": {**_nullable("integer"), "minimum": 1},
            "rate": _ref("Rate"),
            "paused": {"type": "boolean"},
        },
    },
}

_list_params = [
    _query(
        "status",
        {"type": "string"},
        "Status, or several comma-separated (or repeat the parameter): " + ", ".join(STATUS_ENUM),
    ),
    _query("name", {"type": "string"}, "Workflow function name(s)."),
    _query("queue", {"type": "string"}, "Queue name(s)."),
    _query("workflow_id", {"type": "string"}, "Workflow id(s)."),
    _query("workflow_id_prefix", {"type": "string"}, "Ids starting with this."),
    _query("executor_id", {"type": "string"}, "Executor id(s)."),
    _query("app_version", {"type": "string"}, "Application version(s)."),
    _query("start_time", _time, "Created at or after."),
    _query("end_time", _time, "Created at or before."),
    _query(
        "limit", {"type": "integer", "minimum": 0, "maximum": 10000, "default": 100}, "Page size."
    ),
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "Rows to skip."),
    _query("sort_desc", {"type": "boolean", "default": False}, "Newest first."),
    _query("load_input", {"type": "boolean", "default": True}, "Include inputs."),
    _query("load_output", {"type": "boolean", "default": True}, "Include outputs and errors."),
]

_wf_responses = {"404": _err("NotFound")}

PATHS: dict[str, Any] = {
    "/dbos-healthz": {
        "get": _op(
            "healthz",
            "Health: is the system database reachable",
            tag="operations",
            public=True,
            responses={
                "200": _json(_ref("Health"), "Healthy."),
                "503": _json(_ref("Health"), "No connection to the system database."),
            },
        )
    },
    "/metrics": {
        "get": _op(
            "metrics",
            "Prometheus metrics",
            tag="operations",
            public=True,
            responses={
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        )
    },
    "/dbos-perf": {
        "get": _op(
            "perf",
            "Engine loop lag and running counts",
            tag="operations",
            responses={"200": _json(_ref("Perf"), "Measurements.")},
        )
    },
    "/dbos-workflow-recovery": {
        "post": _op(
            "recoverExecutors",
            "Recover the workflows of these executors now",
            tag="operations",
            body={"required": True, "content": {"application/json": {"schema": _list_of_text}}},
            responses={
                "200": _json(_list_of_text, "Ids of the recovered workflows."),
                "400": _err("BadRequest"),
            },
        )
    },
    "/workflows": {
        "get": _op(
            "listWorkflows",
            "List workflows",
            tag="workflows",
            params=_list_params,
            responses={
                "200": _json({"type": "array", "items": _ref("Workflow")}, "Workflows."),
                "400": _err("BadRequest"),
            },
        )
    },
    "/workflows/{workflow_id}": {
        "get": _op(
            "getWorkflow",
            "One workflow's status",
            tag="workflows",
            params=[WF_ID],
            responses={"200": _json(_ref("Workflow"), "The workflow."), **_wf_responses},
        )
    },
    "/workflows/{workflow_id}/steps": {
        "get": _op(
            "listWorkflowSteps",
            "The recorded steps of a workflow",
            tag="workflows",
            params=[WF_ID],
            responses={
                "200": _json({"type": "array", "items": _ref("Step")}, "Steps, in order."),
                **_wf_responses,
            },
        )
    },
    "/workflows/{workflow_id}/cancel": {
        "post": _op(
            "cancelWorkflow",
            "Cancel a workflow",
            tag="workflows",
            params=[WF_ID],
            description="A queued workflow never runs; a running one stops at its next step. "
            "Cancelling a CANCELLED workflow again succeeds. A form post "
            "(application/x-www-form-urlencoded, as the dashboard sends) answers "
            "303 back to the dashboard.",
            body={
                "required": False,
                "content": {"application/json": {"schema": _ref("CancelRequest")}},
            },
            responses={
                "200": _json(_ref("CancelResult"), "Cancelled."),
                "303": {"description": "Form post: back to the dashboard."},
                "400": _err("BadRequest"),
                "403": _err("Forbidden"),
                **_wf_responses,
                "409": _err("Conflict"),
            },
        )
    },
    "/workflows/{workflow_id}/resume": {
        "post": _op(
            "resumeWorkflow",
            "Resume a workflow from its last recorded step",
            tag="workflows",
            params=[WF_ID],
            description="For CANCELLED, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED (and still waiting) "
            "workflows. A form post answers 303 back to the dashboard.",
            body={
                "required": False,
                "content": {"application/json": {"schema": _ref("ResumeRequest")}},
            },
            responses={
                "200": _json(_ref("ResumeResult"), "Enqueued to continue."),
                "303": {"description": "Form post: back to the dashboard."},
                "400": _err("BadRequest"),
                "403": _err("Forbidden"),
                **_wf_responses,
                "409": _err("Conflict"),
            },
        )
    },
    "/workflows/{workflow_id}/fork": {
        "post": _op(
            "forkWorkflow",
            "Start a copy that re-runs from a step",
            tag="workflows",
            params=[WF_ID],
            body={
                "required": False,
                "content": {"application/json": {"schema": _ref("ForkRequest")}},
            },
            responses={
                "200": _json(_ref("ForkResult"), "The new workflow."),
                "400": _err("BadRequest"),
                "403": _err("Forbidden"),
                **_wf_responses,
                "409": _err("Conflict"),
            },
        )
    },
    "/queues": {
        "get": _op(
            "listQueues",
            "Queues with limits, depth, running and oldest age",
            tag="queues",
            responses={"200": _json({"type": "array", "items": _ref("Queue")}, "Queues.")},
        )
    },
    "/queues/{queue_name}": {
        "get": _op(
            "getQueue",
            "One queue",
            tag="queues",
            params=[QUEUE],
            responses={"200": _json(_ref("Queue"), "The queue."), "404": _err("NotFound")},
        ),
        "patch": _op(
            "updateQueue",
            "Change a queue's limits at runtime",
            tag="queues",
            params=[QUEUE],
            description="Only the fields sent change; null removes a limit. Running workers "
            "follow within a second.",
            body={
                "required": True,
                "content": {"application/json": {"schema": _ref("QueuePatch")}},
            },
            responses={
                "200": _json(_ref("Queue"), "The queue after the change."),
                "400": _err("BadRequest"),
                "403": _err("Forbidden"),
                "404": _err("NotFound"),
            },
        ),
    },
    "/openapi.json": {
        "get": _op(
            "openapi",
            "This document",
            tag="documents",
            responses={"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
        )
    },
    "/dashboard": {
        "get": _op(
            "dashboard",
            "The HTML dashboard",
            tag="documents",
            description="Queues, recent and failed workflows with their steps, cancel and resume "
            "buttons. With a token configured, open /dashboard?token=<token> once: "
            "it sets an HttpOnly SameSite=Strict cookie and redirects (303).",
            params=[
                _query("status", {"type": "string"}, "Filter the recent list by status(es)."),
                _query("name", {"type": "string"}, "Filter by workflow name."),
                _query("queue", {"type": "string"}, "Filter by queue."),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    "Rows in the recent list.",
                ),
                _query("notice", {"type": "string"}, "Message to show (set by form posts)."),
                _query("error", {"type": "string"}, "Error to show (set by form posts)."),
            ],
            responses={
                "200": {
                    "description": "The page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                "400": _err("BadRequest"),
                "303": {"description": "Token accepted from ?token=: cookie set."},
            },
        )
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "dbos_queue admin API",
        "version": "1.0.0",
        "description": "Served by every process with the admin server on (workers by default, "
        "port 3001). Errors are JSON objects with an 'error' field.",
    },
    "servers": [{"url": "/"}],
    "tags": [{"name": t} for t in ("operations", "workflows", "queues", "documents")],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": {
            "BadRequest": _json(_ref("Error"), "The request was malformed; 'error' says why."),
            "Unauthorized": _json(_ref("Error"), "admin_token is set and was not given."),
            "Forbidden": _json(_ref("Error"), "A browser request from another site."),
            "NotFound": _json(_ref("Error"), "No such workflow or queue."),
            "PayloadTooLarge": _json(_ref("Error"), "The body is over 1 MiB."),
            "Conflict": _json(_ref("Error"), "The workflow's status does not allow this."),
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "admin_token, when configured.",
            },
            "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            "cookieToken": {"type": "apiKey", "in": "cookie", "name": "dbos_admin_token"},
        },
    },
    # Any one of the token forms; {} = no token needed when admin_token is unset.
    "security": [{"bearer": []}, {"queryToken": []}, {"cookieToken": []}, {}],
}
