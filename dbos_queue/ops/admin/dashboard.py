"""The dashboard: one server-rendered page from a Jinja2 template, no JavaScript.

``GET /dashboard`` shows queue depth and throughput over the last minutes (inline
SVG drawn from the server's samples), the queues (depth, delayed, running, oldest
age, limits), the failed workflows and the most recent ones (filterable), each with
its last steps and Cancel / Resume buttons: plain HTML forms posting to the JSON
API, answered with a 303 back here. The template environment autoescapes, so every
value taken from the database or the request is HTML-escaped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from dbos_queue.ops import management as mgmt
from dbos_queue.ops.admin import models as m
from dbos_queue.ops.admin.auth import Guard
from dbos_queue.ops.admin.samples import SampleRing, sparkline
from dbos_queue.ops.admin.views import jsonable, queue_rows, recent_steps

STEPS_PER_WORKFLOW = 20
FAILED_SHOWN = 20
CANCELLABLE = frozenset({"PENDING", "ENQUEUED", "DELAYED"})
# As DBOS's resume_workflow: a failed (ERROR) workflow is not resumed but can be forked.
RESUMABLE = frozenset({"CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
FORKABLE = frozenset({"ERROR"})
FAILED = ["ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]


def _ts(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _took(start: int | None, end: int | None) -> str:
    return f"{(end - start) / 1000:.3f}s" if start and end else "-"


def _rate(rate: dict[str, Any] | None) -> str:
    if rate is None:
        return "-"
    return f"{rate['limit']}/{format(rate['period'], 'g')}s"


def _short(value: Any, limit: int = 160) -> str:
    """A value as compact JSON, cut to ``limit`` characters."""
    if value is None:
        return ""
    text = json.dumps(jsonable(value), separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _errtext(exc: BaseException | None) -> str:
    return "" if exc is None else f"{type(exc).__name__}: {exc}"


def _urlpart(value: Any) -> str:
    return quote(str(value), safe="")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dbos_queue.ops.admin", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped unless marked safe (none is)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(  # pyright: ignore[reportUnknownMemberType]
        ts=_ts,
        age=_age,
        rate=_rate,
        short=_short,
        errtext=_errtext,
        urlpart=_urlpart,
    )
    env.globals.update(  # pyright: ignore[reportUnknownMemberType]
        took=_took, CANCELLABLE=CANCELLABLE, RESUMABLE=RESUMABLE, FORKABLE=FORKABLE
    )
    return env


ENV = _environment()


def charts(ring: SampleRing) -> dict[str, Any]:
    """Depth and throughput series (total and per queue) from the samples, oldest first."""
    samples = ring.snapshot()
    names = sorted({n for s in samples for n in s.depth})
    seconds = (samples[-1].at_ms - samples[0].at_ms) / 1000 if len(samples) > 1 else 0.0
    return {
        "interval": ring.interval,
        "count": len(samples),
        "span": f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.1f} minutes",
        "depth": sparkline([float(s.total_depth()) for s in samples], 480, 80),
        "rate": sparkline([round(s.rate(), 2) for s in samples], 480, 80),
        "queues": {
            n: {
                "depth": sparkline([float(s.depth.get(n, 0)) for s in samples], 120, 20),
                "rate": sparkline([round(s.rate(n), 2) for s in samples], 120, 20),
            }
            for n in names
        },
    }


async def render(
    rt: Any,
    guard: Guard,
    ring: SampleRing,
    q: m.DashboardQuery,
    db: Callable[[Any], Awaitable[Any]],
) -> str:
    """The page for the query ``q`` (filters, banner)."""
    started = time.perf_counter()
    queues = await db(queue_rows(rt.sysdb))
    recent = await db(
        mgmt.list_workflows(
            rt,
            sort_desc=True,
            load_input=True,
            load_output=True,
            status=q.status,
            name=q.name,
            queue_name=q.queue,
            limit=q.limit,
        )
    )
    failed = await db(
        mgmt.list_workflows(rt, sort_desc=True, load_input=True, status=FAILED, limit=FAILED_SHOWN)
    )
    ids = list(dict.fromkeys([w.workflow_id for w in recent] + [w.workflow_id for w in failed]))
    steps = await db(recent_steps(rt.sysdb, ids, STEPS_PER_WORKFLOW))
    kept = [
        ("status", ",".join(q.status or [])),
        ("name", ",".join(q.name or [])),
        ("queue", ",".join(q.queue or [])),
        (
            "limit",
            str(q.limit) if q.limit != m.DashboardQuery.model_fields["limit"].default else "",
        ),
        ("refresh", str(q.refresh) if q.refresh else ""),
    ]
    kept = [(k, v) for k, v in kept if v]
    return ENV.get_template("dashboard.html").render(
        app=rt.settings.name,
        executor_id=rt.executor_id,
        app_version=rt.app_version,
        now_ms=int(time.time() * 1000),
        took_ms=(time.perf_counter() - started) * 1000,
        q=q,
        filtered=any(k not in ("limit", "refresh") for k, _ in kept),
        page="/dashboard" + ("?" + urlencode(kept) if kept else ""),
        queues=queues,
        recent=recent,
        failed=failed,
        steps=steps,
        charts=charts(ring),
        writes_open=guard.writes_open or guard.has_token,
        where=guard.where,
    )
