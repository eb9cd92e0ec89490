"""JSON views of the stored records, shared by the admin API and the dashboard."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import math
import time
import uuid
from typing import Any, cast

from dbos_queue.db import sql as _sql
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import Row
from dbos_queue.model.status import step_dict


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of a deserialized workflow value (inputs, outputs, step results)."""
    if depth > 50:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        mapping = cast(dict[Any, Any], value)
        return {str(k): jsonable(v, depth + 1) for k, v in mapping.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in cast(list[Any], value)]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, depth + 1) for v in cast(set[Any], value)]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, BaseException):
        return error_json(value)
    return _object_json(value, depth)


def _object_json(value: Any, depth: int) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name, None), depth + 1)
            for f in dataclasses.fields(value)
        }
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), depth + 1)
        except Exception:
            pass
    return repr(value)


def error_json(exc: BaseException | None) -> dict[str, str] | None:
    """A recorded exception as ``{"type", "message"}``."""
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": str(exc)}


def workflow_json(s: Any) -> dict[str, Any]:
    """A ``WorkflowStatus`` as JSON (DBOS's field names)."""
    out = {f: getattr(s, f) for f in _WORKFLOW_FIELDS}
    out["input"] = jsonable(s.input)
    out["output"] = jsonable(s.output)
    out["error"] = error_json(s.error)
    return out


_WORKFLOW_FIELDS = (
    "workflow_id",
    "status",
    "name",
    "class_name",
    "config_name",
    "authenticated_user",
    "assumed_role",
    "authenticated_roles",
    "input",
    "output",
    "error",
    "created_at",
    "updated_at",
    "queue_name",
    "executor_id",
    "app_version",
    "app_id",
    "recovery_attempts",
    "workflow_timeout_ms",
    "workflow_deadline_epoch_ms",
    "deduplication_id",
    "priority",
    "queue_partition_key",
    "forked_from",
    "dequeued_at",
)


def step_json(row: Row) -> dict[str, Any]:
    """One ``sql.LIST_STEPS`` row as JSON; an undecodable output or error reads as null."""
    try:
        d: dict[str, Any] = step_dict(row)
    except Exception:
        d = {
            "function_id": row.function_id,
            "function_name": row.function_name,
            "output": None,
            "error": None,
            "child_workflow_id": row.child_workflow_id,
            "started_at_epoch_ms": row.started_at_epoch_ms,
            "completed_at_epoch_ms": row.completed_at_epoch_ms,
        }
    d["output"] = jsonable(d["output"])
    d["error"] = error_json(d["error"])
    return d


def _rate(limit: Any, period: Any) -> dict[str, Any] | None:
    return None if limit is None else {"limit": limit, "period": period}


async def queue_rows(sysdb: Any) -> list[dict[str, Any]]:
    """Declared queues (limits) joined with live counts; undeclared queues that hold
    workflows (such as the internal queue of resumed and forked ones) are listed too."""
    stats: dict[str, Row] = {r.queue_name: r for r in await sysdb.fetchall(_sql.QUEUE_STATS)}
    declared: list[Row] = await sysdb.fetchall(_sql.LIST_QUEUES)
    now = time.time()
    undeclared = sorted(set(stats) - {q.name for q in declared})
    return [_queue_json(q.name, q, stats.get(q.name), now) for q in declared] + [
        _queue_json(n, None, stats[n], now) for n in undeclared
    ]


def _queue_json(name: str, q: Row | None, st: Row | None, now: float) -> dict[str, Any]:
    """One queue: ``q`` its ``LIST_QUEUES`` row (None: not declared), ``st`` its
    ``QUEUE_STATS`` row (None: it holds no live workflow)."""
    oldest = st.oldest if st is not None else None
    return {
        "name": name,
        "declared": q is not None and q.source is not None,
        "concurrency": q.global_concurrency if q is not None else None,
        "worker_concurrency": q.worker_concurrency if q is not None else None,
        "rate": _rate(q.rate_limit_max, q.rate_limit_period_sec) if q is not None else None,
        "partition_concurrency": q.partition_concurrency if q is not None else None,
        "partition_worker_concurrency": q.partition_worker_concurrency if q is not None else None,
        "partition_rate": (
            _rate(q.partition_rate_limit_max, q.partition_rate_limit_period_sec)
            if q is not None
            else None
        ),
        "polling_interval_sec": q.polling_interval_sec if q is not None else None,
        "paused": bool(q.paused) if q is not None else False,
        "source": q.source if q is not None else None,
        "depth": st.depth if st is not None else 0,
        "running": st.running if st is not None else 0,
        "delayed": st.delayed if st is not None else 0,
        "oldest_enqueued_at": oldest,
        "oldest_age_s": round(max(0.0, now - oldest / 1000), 3) if oldest else None,
    }


Steps = dict[str, tuple[list[dict[str, Any]], int]]


async def recent_steps(sysdb: Any, ids: list[str], per: int) -> Steps:
    """The last ``per`` steps of each workflow, with its step count."""
    out: Steps = {}
    if not ids:
        return out
    rows: list[Row] = await sysdb.fetchall(_sql.LIST_RECENT_STEPS_MANY, {"ids": ids, "per": per})
    for r in rows:
        err = None
        if r.error is not None:
            try:
                exc = ser.deserialize_exception(r.error)
                err = f"{type(exc).__name__}: {exc}"
            except Exception:
                err = "(undecodable error)"
        steps, _ = out.setdefault(r.workflow_uuid, ([], r.total))
        steps.append(
            {
                "function_id": r.function_id,
                "function_name": r.function_name,
                "error": err,
                "child_workflow_id": r.child_workflow_id,
                "started_at_epoch_ms": r.started_at_epoch_ms,
                "completed_at_epoch_ms": r.completed_at_epoch_ms,
            }
        )
    return out
