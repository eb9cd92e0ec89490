"""Listing workflows and steps with DBOS 3.4.0's filters.

``list_workflows`` takes every filter of ``DBOS.list_workflows`` by name (a misspelt
one raises ``TypeError``), turns each into a parameter of the one filter statement
(``_sql.LIST_WORKFLOWS_*``; a NULL parameter disables its condition) and reads the
rows back as ``WorkflowStatus``. Times are ISO-8601 text as in DBOS, or a datetime
or epoch milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from dbos_queue.db import sql as _sql
from dbos_queue.engine.host import app_name_of
from dbos_queue.error import DBOSException
from dbos_queue.model.status import WorkflowStatus, status_from_row, step_dict

Many = str | Sequence[str] | None
QUEUED_STATUSES = ["ENQUEUED", "DELAYED", "PENDING"]


def _many(value: Many) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _epoch_ms(value: Any) -> int | None:
    """ISO-8601 text, datetime, or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DBOSException(f"expected an ISO-8601 time, got {value!r}") from None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    raise DBOSException(f"expected an ISO-8601 time, a datetime or epoch ms, got {value!r}")


def _flag(value: bool | None) -> bool | None:
    return None if value is None else bool(value)


# Statement parameter <- the filter it comes from: filters of one name or many (None or
# an empty list: no condition) ...
_MANY_PARAMS = {
    "names": "name",
    "queues": "queue_name",
    "executors": "executor_id",
    "versions": "app_version",
    "users": "user",
    "forked_from": "forked_from",
    "parents": "parent_workflow_id",
    "schedules": "schedule_name",
    "apps": "application_name",
    "prefixes": "workflow_id_prefix",
}
# ... and times (ISO-8601 text, datetime or epoch ms), to epoch ms.
_TIME_PARAMS = {
    "start": "start_time",
    "end": "end_time",
    "completed_after": "completed_after",
    "completed_before": "completed_before",
    "dequeued_after": "dequeued_after",
    "dequeued_before": "dequeued_before",
}


def list_params(
    *,
    workflow_ids: Sequence[str] | None = None,
    status: Many = None,
    start_time: Any = None,
    end_time: Any = None,
    completed_after: Any = None,
    completed_before: Any = None,
    dequeued_after: Any = None,
    dequeued_before: Any = None,
    name: Many = None,
    app_version: Many = None,
    forked_from: Many = None,
    parent_workflow_id: Many = None,
    user: Many = None,
    queue_name: Many = None,
    limit: int | None = None,
    offset: int | None = None,
    sort_desc: bool = False,
    workflow_id_prefix: Many = None,
    load_input: bool = True,
    load_output: bool = True,
    executor_id: Many = None,
    queues_only: bool = False,
    was_forked_from: bool | None = None,
    is_fork: bool | None = None,
    has_parent: bool | None = None,
    attributes: dict[str, Any] | None = None,
    schedule_name: Many = None,
    application_name: Many = None,
    shard_key: Many = None,
    parent_shard_key: Many = None,
) -> dict[str, Any]:
    """The statement parameters for these filters (plus ``sort_desc``/``load_*`` keys)."""
    given = locals()  # every filter by name, read before another local is bound
    if (limit is not None and limit < 0) or (offset is not None and offset < 0):
        raise DBOSException("limit and offset must not be negative")
    if attributes is not None and not isinstance(cast(object, attributes), dict):  # as given
        raise DBOSException(f"attributes must be a dict, got {attributes!r}")
    statuses = _many(status)
    if queues_only and not statuses:
        statuses = list(QUEUED_STATUSES)  # DBOS: a queue listing shows live work by default
    params: dict[str, Any] = {k: _many(given[arg]) or None for k, arg in _MANY_PARAMS.items()}
    params.update({k: _epoch_ms(given[arg]) for k, arg in _TIME_PARAMS.items()})
    return params | {
        "ids": list(workflow_ids) if workflow_ids else None,
        "statuses": statuses or None,
        "shard_keys": _many(shard_key),
        "parent_shard_keys": _many(parent_shard_key),
        "was_forked_from": _flag(was_forked_from),
        "is_fork": _flag(is_fork),
        "has_parent": _flag(has_parent),
        "attributes": json.dumps(attributes) if attributes else None,
        "queues_only": bool(queues_only),
        "limit": limit or None,  # DBOS: 0 is no limit
        "offset": offset or 0,
        "sort_desc": bool(sort_desc),
        "load_input": bool(load_input),
        "load_output": bool(load_output),
    }


def _own_app_by_default(h: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """DBOS: a listing without ``application_name`` shows the caller's application (and
    unclaimed rows), except one by workflow ids, which are global addresses."""
    if filters.get("application_name") is None and not filters.get("workflow_ids"):
        filters["application_name"] = app_name_of(h)
    return filters


async def list_workflows(h: Any, **filters: Any) -> list[WorkflowStatus]:
    """Workflows matching DBOS's ``list_workflows`` filters (``h``: runtime or client)."""
    params = list_params(**_own_app_by_default(h, filters))
    query = _sql.LIST_WORKFLOWS_DESC if params["sort_desc"] else _sql.LIST_WORKFLOWS_ASC
    rows = await h.sysdb.fetchall(query, params)
    return [status_from_row(r, params["load_input"], params["load_output"]) for r in rows]


async def list_queued_workflows(h: Any, **filters: Any) -> list[WorkflowStatus]:
    """Workflows on a queue; by default those waiting or running (ENQUEUED, DELAYED, PENDING)."""
    filters["queues_only"] = True
    return await list_workflows(h, **filters)


async def list_steps(
    h: Any,
    workflow_id: str,
    *,
    load_output: bool = True,
    limit: int | None = None,
    offset: int | None = None,
) -> list[dict[str, Any]]:
    """The recorded steps of a workflow as ``StepInfo`` dicts, in step order."""
    if (limit is not None and limit < 0) or (offset is not None and offset < 0):
        raise DBOSException("limit and offset must not be negative")
    rows = await h.sysdb.fetchall(_sql.LIST_STEPS_PAGE, (workflow_id, limit, offset or 0))
    return [step_dict(r, load_output) for r in rows]
