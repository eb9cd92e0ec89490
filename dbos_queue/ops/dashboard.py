"""The admin dashboard: one server-rendered HTML page, no JavaScript, no build step.

``GET /dashboard`` shows the queues (depth, delayed, running, oldest age, limits),
the most recent workflows (filterable by status, name and queue) and the failed
ones, each with its last steps, and Cancel / Resume buttons. The buttons are
plain HTML forms posting to the JSON API's ``/workflows/{id}/cancel`` and
``/resume``; for a form post the server answers 303 back here with the outcome
(see ``_admin``). Everything taken from the database or the request is
HTML-escaped (and percent-encoded where it goes into a URL).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from dbos_queue.ops.admin import AdminServer, Request

STEPS_PER_WORKFLOW = 20
FAILED_SHOWN = 20
DEFAULT_RECENT = 50
CANCELLABLE = {"PENDING", "ENQUEUED", "DELAYED"}
RESUMABLE = {"CANCELLED", "ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}
FAILED = ["ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:20px;margin:0 0 .3em}h2{font-size:16px;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right}
code{font-size:12px}.muted{color:#777}
.st{padding:1px 5px;border-radius:3px;font-size:12px;background:#eee}
.SUCCESS{background:#d4f4d4}.ERROR,.MAX_RECOVERY_ATTEMPTS_EXCEEDED{background:#f8d0d0}
.PENDING{background:#d8e6ff}.ENQUEUED,.DELAYED{background:#fff2c4}.CANCELLED{background:#e2e2e2}
.notice{background:#e6f6e6;padding:6px 10px;border:1px solid #9c9}
.error{background:#fbe4e4;padding:6px 10px;border:1px solid #d99}
form.inline{display:inline;margin:0}
details{margin:2px 0 4px}details table{width:auto;margin-left:1em}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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


def _limit(value: Any) -> str:
    return "-" if value is None else esc(value)


def _rate(rate: dict[str, Any] | None) -> str:
    if rate is None:
        return "-"
    period = rate["period"]
    period = format(period, "g") if isinstance(period, (int, float)) else period
    return f"{esc(rate['limit'])}/{esc(period)}s"


def _queues_table(queues: list[dict[str, Any]]) -> str:
    if not queues:
        return "<p class='muted'>No queues.</p>"
    rows = []
    for q in queues:
        state = "paused" if q["paused"] else ("active" if q["declared"] else "undeclared")
        rows.append(
            f"<tr data-queue='{esc(q['name'])}'><td><code>{esc(q['name'])}</code></td>"
            f"<td>{esc(state)}</td><td class='num'>{esc(q['depth'])}</td>"
            f"<td class='num'>{esc(q['delayed'])}</td><td class='num'>{esc(q['running'])}</td>"
            f"<td class='num'>{_age(q['oldest_age_s'])}</td>"
            f"<td class='num'>{_limit(q['concurrency'])}</td>"
            f"<td class='num'>{_limit(q['worker_concurrency'])}</td><td>{_rate(q['rate'])}</td>"
            f"<td class='num'>{_limit(q['partition_concurrency'])}</td>"
            f"<td>{esc(q['source'] or '-')}</td></tr>"
        )
    return (
        "<table id='queues'><tr><th>queue</th><th>state</th><th>depth</th><th>delayed</th>"
        "<th>running</th><th>oldest waiting</th><th>concurrency</th><th>per worker</th>"
        "<th>rate</th><th>per partition</th><th>limits from</th></tr>" + "".join(rows) + "</table>"
    )


def _action(wf_id: str, verb: str, next_page: str) -> str:
    return (
        f"<form class='inline' method='post' action='/workflows/{esc(quote(wf_id, safe=''))}"
        f"/{verb}' data-action='{verb}' data-workflow='{esc(wf_id)}'>"
        f"<input type='hidden' name='next' value='{esc(next_page)}'>"
        f"<button type='submit'>{verb.capitalize()}</button></form>"
    )


def _steps(steps: list[dict[str, Any]], total: int) -> str:
    if not steps:
        return ""
    rows = "".join(
        f"<tr><td class='num'>{esc(s['function_id'])}</td><td><code>{esc(s['function_name'])}"
        f"</code></td><td>{_ts(s['started_at_epoch_ms'])}</td>"
        f"<td class='num'>{_duration(s['started_at_epoch_ms'], s['completed_at_epoch_ms'])}</td>"
        f"<td>{esc(s['child_workflow_id'] or '')}</td><td>{esc(s['error'] or '')}</td></tr>"
        for s in steps
    )
    shown = f"last {len(steps)} of {total} steps" if total > len(steps) else f"{total} steps"
    return (
        f"<details><summary>{shown}</summary><table><tr><th>#</th><th>step</th>"
        f"<th>started</th><th>took</th><th>child</th><th>error</th></tr>{rows}</table>"
        "</details>"
    )


def _duration(start: int | None, end: int | None) -> str:
    if not start or not end:
        return "-"
    return f"{(end - start) / 1000:.3f}s"


def _workflows_table(
    table_id: str, workflows: Iterable[Any], steps: dict[str, Any], next_page: str, show_error: bool
) -> str:
    rows = []
    for w in workflows:
        actions = []
        if w.status in CANCELLABLE:
            actions.append(_action(w.workflow_id, "cancel", next_page))
        if w.status in RESUMABLE:
            actions.append(_action(w.workflow_id, "resume", next_page))
        wf_steps, total = steps.get(w.workflow_id, ([], 0))
        detail = ""
        if show_error and w.error is not None:
            detail = f"<div class='muted'>{esc(type(w.error).__name__)}: {esc(w.error)}</div>"
        rows.append(
            f"<tr data-workflow='{esc(w.workflow_id)}' data-status='{esc(w.status)}'>"
            f"<td><code>{esc(w.workflow_id)}</code>{detail}{_steps(wf_steps, total)}</td>"
            f"<td><code>{esc(w.name)}</code></td>"
            f"<td><span class='st {esc(w.status)}'>{esc(w.status)}</span></td>"
            f"<td>{esc(w.queue_name or '-')}</td><td>{_ts(w.created_at)}</td>"
            f"<td>{_ts(w.updated_at)}</td><td class='num'>{esc(w.recovery_attempts)}</td>"
            f"<td>{' '.join(actions)}</td></tr>"
        )
    if not rows:
        return f"<p class='muted' id='{esc(table_id)}'>None.</p>"
    return (
        f"<table id='{esc(table_id)}'><tr><th>workflow</th><th>name</th><th>status</th>"
        "<th>queue</th><th>created</th><th>updated</th><th>attempts</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _load_steps(server: AdminServer, ids: list[str]) -> dict[str, Any]:
    from dbos_queue.db import sql as _sql
    from dbos_queue.model import serialization as ser

    out: dict[str, Any] = {}
    if not ids:
        return out
    rows = server.rt.engine.run(
        server.rt.sysdb.fetchall(
            _sql.LIST_RECENT_STEPS_MANY, {"ids": ids, "per": STEPS_PER_WORKFLOW}
        ),
        timeout=30,
    )
    for wf_id, fid, fname, error, child, started, completed, total in rows:
        err = None
        if error is not None:
            try:
                exc = ser.deserialize_exception(error)
                err = f"{type(exc).__name__}: {exc}"
            except Exception:
                err = "(undecodable error)"
        steps, _ = out.setdefault(wf_id, ([], total))
        steps.append(
            {
                "function_id": fid,
                "function_name": fname,
                "error": err,
                "child_workflow_id": child,
                "started_at_epoch_ms": started,
                "completed_at_epoch_ms": completed,
            }
        )
    return out


def _filter_form(status: str, name: str, queue: str, limit: int) -> str:
    return (
        "<form method='get' action='/dashboard'>"
        f"status <input name='status' value='{esc(status)}' size='18' "
        "placeholder='e.g. ERROR,CANCELLED'> "
        f"name <input name='name' value='{esc(name)}' size='16'> "
        f"queue <input name='queue' value='{esc(queue)}' size='12'> "
        f"rows <input name='limit' value='{esc(limit)}' size='4'> "
        "<button type='submit'>Filter</button> <a href='/dashboard'>clear</a></form>"
    )


def render(server: AdminServer, req: Request) -> str:
    from dbos_queue.ops import management as mgmt
    from dbos_queue.ops.admin import STATUSES, HTTPError, queue_rows

    rt = server.rt
    statuses = req.args("status")
    bad = [s for s in statuses or [] if s not in STATUSES]
    if bad:
        raise HTTPError(400, f"unknown status {bad[0]!r}; one of {list(STATUSES)}")
    names, queues_filter = req.args("name"), req.args("queue")
    limit = req.int_arg("limit", DEFAULT_RECENT, 1, 500)
    kept = [(k, req.arg(k)) for k in ("status", "name", "queue", "limit") if req.arg(k)]
    next_page = "/dashboard" + ("?" + urlencode(kept) if kept else "")

    started = time.perf_counter()
    queues = queue_rows(rt)
    recent = rt.engine.run(
        mgmt.list_workflows(
            rt,
            sort_desc=True,
            load_input=False,
            load_output=False,
            status=statuses,
            name=names,
            queue_name=queues_filter,
            limit=limit,
        ),
        timeout=30,
    )
    failed = rt.engine.run(
        mgmt.list_workflows(
            rt,
            sort_desc=True,
            load_input=False,
            load_output=True,
            status=FAILED,
            limit=FAILED_SHOWN,
        ),
        timeout=30,
    )
    ids = list(dict.fromkeys([w.workflow_id for w in recent] + [w.workflow_id for w in failed]))
    steps = _load_steps(server, ids)
    took = time.perf_counter() - started

    banner = ""
    if req.arg("notice"):
        banner += f"<p class='notice' id='notice'>{esc(req.arg('notice'))}</p>"
    if req.arg("error"):
        banner += f"<p class='error' id='error'>{esc(req.arg('error'))}</p>"
    filters = _filter_form(
        req.arg("status") or "", req.arg("name") or "", req.arg("queue") or "", limit
    )
    filtered = " (filtered)" if kept and any(k != "limit" for k, _ in kept) else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>dbos_queue: {esc(rt.settings.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>dbos_queue dashboard: {esc(rt.settings.name)}</h1>"
        f"<p class='muted'>executor <code>{esc(rt.executor_id)}</code>, app version "
        f"<code>{esc(rt.app_version)}</code>, rendered {_ts(int(time.time() * 1000))} in "
        f"{took * 1000:.0f} ms. <a href='{esc(next_page)}'>Refresh</a> · "
        "<a href='/openapi.json'>API (OpenAPI)</a></p>"
        f"{banner}"
        f"<h2>Queues</h2>{_queues_table(queues)}"
        f"<h2>Failed workflows</h2>"
        f"{_workflows_table('failed', failed, steps, next_page, show_error=True)}"
        f"<h2>Recent workflows{filtered}</h2>"
        f"{filters}"
        f"{_workflows_table('recent', recent, steps, next_page, show_error=False)}"
        "</body></html>"
    )
