"""The admin API's request and response shapes, as pydantic models.

These models are the single definition of the API: the server validates query
strings and bodies with them, passes every JSON response through them, and the
OpenAPI document (``openapi.py``) is generated from them. A field's ``x-expect``
phrase ends the error message a client gets for a bad value ("start_step must be
an integer >= 1, got 0").
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from pydantic_core import ErrorDetails

from dbos_queue.model.status import WorkflowStatusString

STATUSES: tuple[str, ...] = tuple(s.value for s in WorkflowStatusString)
Status = Literal[
    "DELAYED",
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
]
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000


def expect(default: Any, phrase: str, description: str, **kw: Any) -> Any:
    """A field documented by ``description`` whose bad values are told "must be ``phrase``"."""
    return Field(default, description=description, json_schema_extra={"x-expect": phrase}, **kw)


class Strict(BaseModel):
    """A JSON body: exact JSON types (no "3" for 3), unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """A query string: text converted to the field's type, unknown parameters refused."""

    model_config = ConfigDict(extra="forbid")


# --- errors ---------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error answer: what was wrong and what to do."""

    error: str = Field(description="What was wrong, and what to do about it.")
    status: Status | None = Field(
        None, description="The workflow's status, when a 409 refuses to act on it."
    )


class Redirect(BaseModel):
    """A 303 answer (dashboard forms and the token hand-off); the Location header repeats it."""

    location: str


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _expected(model: type[BaseModel], name: str) -> str | None:
    info = model.model_fields.get(name)
    extra = info.json_schema_extra if info is not None else None
    if not isinstance(extra, dict):
        return None
    phrase = cast(dict[str, Any], extra).get("x-expect")
    return phrase if isinstance(phrase, str) else None


def _one(e: ErrorDetails, model: type[BaseModel]) -> str:
    loc, got = e["loc"], f", got {_shown(e.get('input'))}"
    if not loc:
        kind = "a JSON list" if issubclass(model, RootModel) else "a JSON object"
        return f"the body must be {kind}{got}"
    name = str(loc[0])
    phrase = _expected(model, name)
    if len(loc) > 1:
        inner = ".".join(str(p) for p in loc)
        got = "" if e["type"] == "missing" else got
        return f"{name} must be {phrase or 'valid'} ({inner}: {e['msg']}{got})"
    if e["type"] == "missing":
        return f"{name} is required: {phrase or e['msg']}"
    return f"{name} must be {phrase or e['msg']}{got}"


def explain(exc: ValidationError, model: type[BaseModel], what: str = "field") -> str:
    """One readable message for a failed validation of ``model`` (one clause per field)."""
    errors = exc.errors()
    top_extra = [e for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    parts: list[str] = []
    if top_extra:
        unknown = sorted(str(e["loc"][0]) for e in top_extra)
        parts.append(f"unknown {what}(s) {unknown}; allowed: {list(model.model_fields)}")
    seen: set[str] = set()
    for e in errors:
        if any(e is x for x in top_extra):
            continue
        field = str(e["loc"][0]) if e["loc"] else ""
        if field not in seen:
            seen.add(field)
            parts.append(_one(e, model))
    return "; ".join(parts)


# --- health, perf, recovery -----------------------------------------------------------------


class Health(BaseModel):
    """``GET /dbos-healthz``."""

    status: Literal["healthy", "unhealthy"]
    reason: str | None = Field(None, description="Why the process is unhealthy.")


class Perf(BaseModel):
    """``GET /dbos-perf``: how responsive the engine loop is."""

    engine_loop_lag_seconds: float = Field(ge=0, description="Time a no-op took on the loop.")
    running_workflows: int = Field(ge=0, description="Workflows executing in this process.")
    queued_running: dict[str, int] = Field(description="Running queued workflows per queue.")


class ExecutorIds(RootModel[list[str]]):
    """``POST /dbos-workflow-recovery``: the executor ids whose workflows to recover now."""

    model_config = ConfigDict(strict=True)


class WorkflowIds(RootModel[list[str]]):
    """Workflow ids."""


# --- workflows ------------------------------------------------------------------------------


class ErrorInfo(BaseModel):
    """A recorded exception."""

    type: str = Field(description="The exception's class name.")
    message: str


class Workflow(BaseModel):
    """A workflow's status (``DBOS.get_workflow_status``'s fields)."""

    workflow_id: str
    status: Status
    name: str
    class_name: str | None
    config_name: str | None
    authenticated_user: str | None
    assumed_role: str | None
    authenticated_roles: list[str] | None
    input: Any = Field(description='{"args": [...], "kwargs": {...}}, or null when not loaded.')
    output: Any = Field(description="The return value (JSON-ready), or null.")
    error: ErrorInfo | None
    created_at: int | None = Field(description="Epoch milliseconds.")
    updated_at: int | None = Field(description="Epoch milliseconds.")
    queue_name: str | None
    executor_id: str | None
    app_version: str | None
    app_id: str | None
    recovery_attempts: int | None
    workflow_timeout_ms: int | None
    workflow_deadline_epoch_ms: int | None
    deduplication_id: str | None
    priority: int | None
    queue_partition_key: str | None
    forked_from: str | None
    dequeued_at: int | None = Field(description="Epoch milliseconds.")


class Step(BaseModel):
    """One recorded step (``DBOS.list_workflow_steps``'s fields)."""

    function_id: int
    function_name: str
    output: Any
    error: ErrorInfo | None
    child_workflow_id: str | None
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None


_LISTED = "Repeat the parameter or separate values with commas."


class WorkflowListQuery(Query):
    """The filters of ``GET /workflows`` (``DBOS.list_workflows``'s)."""

    status: list[Status] | None = expect(
        None, f"one or more of {list(STATUSES)}", f"Statuses to include. {_LISTED}"
    )
    name: list[str] | None = expect(None, "workflow names", f"Workflow names. {_LISTED}")
    queue: list[str] | None = expect(None, "queue names", f"Queue names. {_LISTED}")
    workflow_id: list[str] | None = expect(None, "workflow ids", f"Workflow ids. {_LISTED}")
    workflow_id_prefix: str | None = expect(None, "text", "Ids starting with this.")
    executor_id: list[str] | None = expect(None, "executor ids", f"Executor ids. {_LISTED}")
    app_version: list[str] | None = expect(None, "versions", f"Application versions. {_LISTED}")
    start_time: str | None = expect(
        None, "ISO-8601 or epoch ms", "Created at or after (ISO-8601 or epoch milliseconds)."
    )
    end_time: str | None = expect(
        None, "ISO-8601 or epoch ms", "Created at or before (ISO-8601 or epoch milliseconds)."
    )
    limit: int = expect(
        DEFAULT_LIST_LIMIT,
        f"an integer between 0 and {MAX_LIST_LIMIT}",
        "At most this many workflows.",
        ge=0,
        le=MAX_LIST_LIMIT,
    )
    offset: int = expect(0, "an integer >= 0", "Skip this many.", ge=0, le=2**62)
    sort_desc: bool = expect(False, "true or false", "Newest first.")
    load_input: bool = expect(True, "true or false", "Include the inputs.")
    load_output: bool = expect(True, "true or false", "Include outputs and errors.")


class CancelBody(Strict):
    """``POST /workflows/{workflow_id}/cancel``."""

    cancel_children: bool = expect(False, "true or false", "Also cancel its child workflows.")


class CancelResult(BaseModel):
    """The outcome of a cancel."""

    workflow_id: str
    status: Status
    cancelled: list[str] = Field(description="The workflows this request cancelled.")


class ResumeBody(Strict):
    """``POST /workflows/{workflow_id}/resume``."""

    queue_name: str | None = expect(
        None,
        "a queue name or null",
        "Queue to resume on (default: the internal queue).",
        min_length=1,
    )


class ResumeResult(BaseModel):
    """The outcome of a resume."""

    workflow_id: str
    status: Status


class ForkBody(Strict):
    """``POST /workflows/{workflow_id}/fork``."""

    start_step: int = expect(
        1, "an integer >= 1", "First step to run again; earlier steps are copied.", ge=1
    )
    new_workflow_id: str | None = expect(
        None,
        "a non-empty string or null",
        "Id of the new workflow (default: a UUID).",
        min_length=1,
    )
    application_version: str | None = expect(
        None, "a non-empty string or null", "Application version to run it on.", min_length=1
    )
    queue_name: str | None = expect(
        None,
        "a non-empty string or null",
        "Queue to run it on (default: the internal queue).",
        min_length=1,
    )


class ForkResult(BaseModel):
    """The new workflow."""

    workflow_id: str
    forked_from: str


# --- queues ---------------------------------------------------------------------------------


class Rate(Strict):
    """A rate limit: at most ``limit`` starts per ``period`` seconds."""

    limit: int = Field(gt=0)
    period: float = Field(gt=0, description="Seconds.")


class QueueInfo(BaseModel):
    """A queue's limits and live counts."""

    name: str
    declared: bool = Field(description="False for queues that hold work but were never declared.")
    concurrency: int | None = Field(description="Fleet-wide concurrency limit.")
    worker_concurrency: int | None = Field(description="Per-process concurrency limit.")
    rate: Rate | None
    partition_concurrency: int | None
    partition_worker_concurrency: int | None
    partition_rate: Rate | None
    polling_interval_sec: float | None
    paused: bool
    source: str | None = Field(description='Where the limits come from ("code" or "runtime").')
    depth: int = Field(ge=0, description="ENQUEUED workflows.")
    running: int = Field(ge=0, description="PENDING workflows, fleet-wide.")
    delayed: int = Field(ge=0, description="DELAYED workflows.")
    oldest_enqueued_at: int | None = Field(description="Epoch ms of the oldest ENQUEUED one.")
    oldest_age_s: float | None = Field(description="Its age in seconds.")


_RATE = '{"limit": integer, "period": seconds} or null'


class QueuePatch(Strict):
    """``PATCH /queues/{queue_name}``: only the keys sent change."""

    concurrency: int | None = expect(
        None, "a positive integer or null", "Fleet-wide concurrency (null: no limit).", ge=1
    )
    worker_concurrency: int | None = expect(
        None, "a positive integer or null", "Per-process concurrency (null: no limit).", ge=1
    )
    rate: Rate | None = expect(None, _RATE, "Rate limit (null: none).")
    paused: bool | None = expect(
        None, "true or false", "Stop (true) or restart (false) dequeuing; null leaves it."
    )


# --- the dashboard ----------------------------------------------------------------------------


class DashboardQuery(Query):
    """The dashboard's filters and the outcome banner of a form post."""

    model_config = ConfigDict(extra="ignore")

    status: list[Status] | None = expect(
        None, f"one or more of {list(STATUSES)}", f"Statuses of the recent list. {_LISTED}"
    )
    name: list[str] | None = expect(None, "workflow names", "Workflow names of the recent list.")
    queue: list[str] | None = expect(None, "queue names", "Queues of the recent list.")
    limit: int = expect(50, "an integer between 1 and 500", "Recent rows shown.", ge=1, le=500)
    refresh: int = expect(
        0,
        "an integer between 0 and 3600",
        "Reload every this many seconds (0: never).",
        ge=0,
        le=3600,
    )
    notice: str | None = expect(None, "text", "A message shown in the page.")
    error: str | None = expect(None, "text", "An error shown in the page.")
