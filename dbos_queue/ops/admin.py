"""The admin HTTP server (default port 3001).

Health, metrics and recovery; a JSON API to list, inspect, cancel, resume and fork
workflows and to inspect and re-limit queues; its OpenAPI document
(``GET /openapi.json``, from ``_openapi.py``); and a server-rendered dashboard
(``GET /dashboard``, from ``_dashboard.py``).

A small threaded ``http.server`` on its own thread; handlers hand database work
to the engine, so a scrape never runs on the claim loop. Every route is one row
of :data:`ROUTES`; the OpenAPI test checks that table against the document.

Auth: with ``admin_token`` set, every route but ``/dbos-healthz`` and
``/metrics`` needs the token, as ``Authorization: Bearer <token>``, as a
``?token=`` query parameter, or in the ``dbos_admin_token`` cookie that
``GET /dashboard?token=...`` sets (HttpOnly, SameSite=Strict) so the browser can
use the dashboard's forms. Without a token the whole server is open: bind it to
a private address (``admin_host``). Requests that change state are refused when
a browser says they come from another site (``Origin``/``Sec-Fetch-Site``).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import hmac
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from dbos_queue.error import DBOSException, DBOSNonExistentWorkflowError

if TYPE_CHECKING:
    from dbos_queue.ops.host import OpsHost

logger = logging.getLogger("dbos_queue")

# (method, path template, handler method name): the single routing table. ``{name}``
# matches one path segment (percent-decoded, so ids containing "/" arrive as %2F).
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/dbos-healthz", "healthz"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/dbos-perf", "perf"),
    ("POST", "/dbos-workflow-recovery", "recovery"),
    ("GET", "/workflows", "list_workflows"),
    ("GET", "/workflows/{workflow_id}", "get_workflow"),
    ("GET", "/workflows/{workflow_id}/steps", "workflow_steps"),
    ("POST", "/workflows/{workflow_id}/cancel", "cancel_workflow"),
    ("POST", "/workflows/{workflow_id}/resume", "resume_workflow"),
    ("POST", "/workflows/{workflow_id}/fork", "fork_workflow"),
    ("GET", "/queues", "list_queues"),
    ("GET", "/queues/{queue_name}", "get_queue"),
    ("PATCH", "/queues/{queue_name}", "patch_queue"),
    ("GET", "/openapi.json", "openapi"),
    ("GET", "/dashboard", "dashboard"),
)
PUBLIC = frozenset({"/dbos-healthz", "/metrics"})
TOKEN_COOKIE = "dbos_admin_token"
MAX_BODY = 1 << 20
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
STATUSES = (
    "DELAYED",
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
)
# Query parameters of GET /workflows (also described in the OpenAPI document).
WORKFLOW_LIST_PARAMS = (
    "status",
    "name",
    "queue",
    "workflow_id",
    "workflow_id_prefix",
    "executor_id",
    "app_version",
    "start_time",
    "end_time",
    "limit",
    "offset",
    "sort_desc",
    "load_input",
    "load_output",
)
QUEUE_PATCH_KEYS = ("concurrency", "worker_concurrency", "rate", "paused")
# Routes the dashboard's HTML forms post to (form bodies elsewhere are refused).
FORM_ROUTES = frozenset({"/workflows/{workflow_id}/cancel", "/workflows/{workflow_id}/resume"})


class HTTPError(Exception):
    """Ends a request with ``code`` and ``{"error": message, **extra}``."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.payload = {"error": message, **extra}


@dataclass
class Raw:
    """A non-JSON response body."""

    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    route: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None
    form: bool = False
    headers: Any = None

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def args(self, name: str) -> list[str] | None:
        """Repeated and/or comma-separated values (``?status=ERROR,CANCELLED&status=...``)."""
        values = [v.strip() for raw in self.query.get(name, []) for v in raw.split(",")]
        values = [v for v in values if v]
        return values or None

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        text = self.arg(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise HTTPError(400, f"{name} must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise HTTPError(400, f"{name} must be between {low} and {high}, got {value}")
        return value

    def bool_arg(self, name: str, default: bool) -> bool:
        text = self.arg(name)
        if text is None or text == "":
            return default
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise HTTPError(400, f"{name} must be true or false, got {text!r}")

    def json_object(self, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The body as an object with only ``allowed`` keys (an empty body is ``{}``)."""
        body = {} if self.body is None else self.body
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be a JSON object")
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise HTTPError(400, f"unknown field(s) {unknown}; allowed: {list(allowed)}")
        return body


Handler = Callable[["AdminServer", Request], tuple[int, Any]]


def _compile(template: str) -> re.Pattern[str]:
    parts = []
    for seg in template.strip("/").split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            parts.append(f"(?P<{seg[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(seg))
    return re.compile("^/" + "/".join(parts) + "$")


_COMPILED = [(method, template, _compile(template), name) for method, template, name in ROUTES]


def match_route(path: str) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """({method: (template, handler name)}, path params) of the routes matching ``path``."""
    methods: dict[str, tuple[str, str]] = {}
    params: dict[str, str] = {}
    for method, template, rx, name in _COMPILED:
        m = rx.match(path)
        if m is not None and method not in methods:
            methods[method] = (template, name)
            params = {k: unquote(v) for k, v in m.groupdict().items()}
    return methods, params


# --- JSON views of the records ----------------------------------------------------------


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of a deserialized workflow value (inputs, outputs, step results)."""
    if depth > 50:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, depth + 1) for v in value]
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
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": str(exc)}


def workflow_json(s: Any) -> dict[str, Any]:
    """A ``WorkflowStatus`` as JSON (DBOS's field names)."""
    return {
        "workflow_id": s.workflow_id,
        "status": s.status,
        "name": s.name,
        "class_name": s.class_name,
        "config_name": s.config_name,
        "authenticated_user": s.authenticated_user,
        "assumed_role": s.assumed_role,
        "authenticated_roles": s.authenticated_roles,
        "input": jsonable(s.input),
        "output": jsonable(s.output),
        "error": error_json(s.error),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "queue_name": s.queue_name,
        "executor_id": s.executor_id,
        "app_version": s.app_version,
        "app_id": s.app_id,
        "recovery_attempts": s.recovery_attempts,
        "workflow_timeout_ms": s.workflow_timeout_ms,
        "workflow_deadline_epoch_ms": s.workflow_deadline_epoch_ms,
        "deduplication_id": s.deduplication_id,
        "priority": s.priority,
        "queue_partition_key": s.queue_partition_key,
        "forked_from": s.forked_from,
        "dequeued_at": s.dequeued_at,
    }


def step_json(row: tuple) -> dict[str, Any]:
    """One ``_sql.LIST_STEPS`` row as JSON (``DBOS.list_workflow_steps``'s fields)."""
    from dbos_queue.model.status import step_dict as _step_dict

    try:
        d = _step_dict(row)
    except Exception:
        d = {
            "function_id": row[0],
            "function_name": row[1],
            "output": None,
            "error": None,
            "child_workflow_id": row[4],
            "started_at_epoch_ms": row[5],
            "completed_at_epoch_ms": row[6],
        }
    d["output"] = jsonable(d["output"])
    d["error"] = error_json(d["error"])
    return d


def _rate(limit: Any, period: Any) -> dict[str, Any] | None:
    return None if limit is None else {"limit": limit, "period": period}


def queue_rows(rt: OpsHost) -> list[dict[str, Any]]:
    """Declared queues (limits) joined with live counts; undeclared queues that hold
    workflows (such as the internal queue of resumed and forked ones) are listed too."""
    from dbos_queue.db import sql as _sql

    stats = {r[0]: r for r in rt.engine.run(rt.sysdb.fetchall(_sql.QUEUE_STATS))}
    declared = rt.engine.run(rt.sysdb.fetchall(_sql.LIST_QUEUES))
    now = time.time()
    rows = []
    undeclared = sorted(set(stats) - {q[0] for q in declared})
    for q in declared + [(n,) + (None,) * 11 for n in undeclared]:
        st = stats.get(q[0], (q[0], 0, 0, 0, None))
        rows.append(
            {
                "name": q[0],
                "declared": q[11] is not None,
                "concurrency": q[1],
                "worker_concurrency": q[2],
                "rate": _rate(q[3], q[4]),
                "partition_concurrency": q[5],
                "partition_worker_concurrency": q[6],
                "partition_rate": _rate(q[7], q[8]),
                "polling_interval_sec": q[9],
                "paused": bool(q[10]),
                "source": q[11],
                "depth": st[1],
                "running": st[2],
                "delayed": st[3],
                "oldest_enqueued_at": st[4],
                "oldest_age_s": round(max(0.0, now - st[4] / 1000), 3) if st[4] else None,
            }
        )
    return rows


# --- the server ---------------------------------------------------------------------------


class AdminServer:
    """Serves the admin API and dashboard for one runtime."""

    def __init__(self, rt: OpsHost, host: str, port: int, token: str | None = None) -> None:
        self.rt = rt
        self.token = token or None
        self.routes: dict[tuple[str, str], Handler] = {
            (method, template): getattr(AdminServer, name) for method, template, name in ROUTES
        }
        self.public = set(PUBLIC)
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="dbos-admin", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        logger.info("admin server on port %d", self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return self.rt.engine.run(coro, timeout=timeout)

    def _status_row(self, workflow_id: str) -> tuple:
        row = self._run(self.rt.sysdb.get_status_row(workflow_id))
        if row is None:
            raise HTTPError(404, f"no workflow {workflow_id!r}")
        return row

    # --- health, metrics, recovery ----------------------------------------------------

    def healthz(self, _req: Request) -> tuple[int, Any]:
        if not self.rt.engine.listener_connected.is_set():
            return 503, {"status": "unhealthy", "reason": "no connection to the system database"}
        return 200, {"status": "healthy"}

    def metrics(self, _req: Request) -> tuple[int, Any]:
        return 200, Raw(self.rt.metrics.exposition(), CONTENT_TYPE_LATEST)

    def perf(self, _req: Request) -> tuple[int, Any]:
        """Engine loop responsiveness: how long a no-op takes to run on it."""
        start = time.perf_counter()

        async def nop() -> None:
            return None

        self.rt.engine.run(nop(), timeout=5)
        return 200, {
            "engine_loop_lag_seconds": time.perf_counter() - start,
            "running_workflows": len(self.rt.running),
            "queued_running": dict(self.rt.queues.running),
        }

    def recovery(self, req: Request) -> tuple[int, Any]:
        body = req.body
        if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
            return 400, {"error": "POST a JSON list of executor ids"}
        return 200, self.rt.recover_executors(body)

    # --- workflows ----------------------------------------------------------------------

    def list_workflows(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.ops import management as mgmt

        unknown = sorted(set(req.query) - set(WORKFLOW_LIST_PARAMS))
        if unknown:
            raise HTTPError(
                400, f"unknown query parameter(s) {unknown}; allowed: {list(WORKFLOW_LIST_PARAMS)}"
            )
        statuses = req.args("status")
        bad = [s for s in statuses or [] if s not in STATUSES]
        if bad:
            raise HTTPError(400, f"unknown status {bad[0]!r}; one of {list(STATUSES)}")
        filters: dict[str, Any] = {
            "status": statuses,
            "name": req.args("name"),
            "queue_name": req.args("queue"),
            "workflow_ids": req.args("workflow_id"),
            "executor_id": req.args("executor_id"),
            "app_version": req.args("app_version"),
            "workflow_id_prefix": req.arg("workflow_id_prefix") or None,
            "limit": req.int_arg("limit", DEFAULT_LIST_LIMIT, 0, MAX_LIST_LIMIT),
            "offset": req.int_arg("offset", 0, 0, 2**62),
        }
        for key in ("start_time", "end_time"):
            text = req.arg(key)
            if text:
                filters[key] = int(text) if text.isdigit() else text
        try:
            found = self._run(
                mgmt.list_workflows(
                    self.rt,
                    sort_desc=req.bool_arg("sort_desc", False),
                    load_input=req.bool_arg("load_input", True),
                    load_output=req.bool_arg("load_output", True),
                    **filters,
                )
            )
        except (DBOSException, ValueError) as exc:
            raise HTTPError(400, str(exc)) from None
        return 200, [workflow_json(s) for s in found]

    def get_workflow(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.model.status import status_from_row

        return 200, workflow_json(status_from_row(self._status_row(req.params["workflow_id"])))

    def workflow_steps(self, req: Request) -> tuple[int, Any]:
        wf_id = req.params["workflow_id"]
        self._status_row(wf_id)
        return 200, [step_json(r) for r in self._run(self.rt.sysdb.list_steps(wf_id))]

    def cancel_workflow(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.ops import management as mgmt

        wf_id = req.params["workflow_id"]
        body = req.json_object(("cancel_children",))
        children = body.get("cancel_children", False)
        if not isinstance(children, bool):
            raise HTTPError(400, "cancel_children must be true or false")
        self._status_row(wf_id)
        cancelled = self._run(mgmt.cancel(self.rt, [wf_id], children))
        status = self._status_row(wf_id)[1]
        if wf_id not in cancelled and status != "CANCELLED":
            raise HTTPError(
                409,
                f"workflow {wf_id!r} is {status}: only PENDING, ENQUEUED or "
                "DELAYED workflows can be cancelled",
                status=status,
            )
        return 200, {"workflow_id": wf_id, "status": status, "cancelled": cancelled}

    def resume_workflow(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.ops import management as mgmt

        wf_id = req.params["workflow_id"]
        body = req.json_object(("queue_name",))
        queue = body.get("queue_name")
        if queue is not None and (not isinstance(queue, str) or not queue):
            raise HTTPError(400, "queue_name must be a queue name or null")
        try:
            resumed = self._run(mgmt.resume(self.rt, wf_id, queue))
        except DBOSNonExistentWorkflowError:
            raise HTTPError(404, f"no workflow {wf_id!r}") from None
        status = self._status_row(wf_id)[1]
        if not resumed:
            raise HTTPError(
                409,
                f"workflow {wf_id!r} is {status}: only CANCELLED, ERROR, "
                "MAX_RECOVERY_ATTEMPTS_EXCEEDED or waiting workflows can be "
                "resumed",
                status=status,
            )
        return 200, {"workflow_id": wf_id, "status": status}

    def fork_workflow(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.ops import management as mgmt

        wf_id = req.params["workflow_id"]
        body = req.json_object(
            ("start_step", "new_workflow_id", "application_version", "queue_name")
        )
        start_step = body.get("start_step", 1)
        if not isinstance(start_step, int) or isinstance(start_step, bool) or start_step < 1:
            raise HTTPError(400, f"start_step must be an integer >= 1, got {start_step!r}")
        for key in ("new_workflow_id", "application_version", "queue_name"):
            if body.get(key) is not None and (not isinstance(body[key], str) or not body[key]):
                raise HTTPError(400, f"{key} must be a non-empty string or null")
        new_id = body.get("new_workflow_id")
        if new_id is not None and self._run(self.rt.sysdb.get_status_row(new_id)) is not None:
            raise HTTPError(409, f"workflow {new_id!r} already exists")
        try:
            forked = self._run(
                mgmt.fork(
                    self.rt,
                    wf_id,
                    start_step,
                    new_id=new_id,
                    app_version=body.get("application_version"),
                    queue_name=body.get("queue_name"),
                )
            )
        except DBOSNonExistentWorkflowError:
            raise HTTPError(404, f"no workflow {wf_id!r}") from None
        except DBOSException as exc:
            raise HTTPError(400, str(exc)) from None
        return 200, {"workflow_id": forked, "forked_from": wf_id}

    # --- queues -------------------------------------------------------------------------

    def list_queues(self, _req: Request) -> tuple[int, Any]:
        return 200, queue_rows(self.rt)

    def _queue(self, name: str) -> dict[str, Any]:
        for q in queue_rows(self.rt):
            if q["name"] == name:
                return q
        raise HTTPError(404, f"no queue {name!r}")

    def get_queue(self, req: Request) -> tuple[int, Any]:
        return 200, self._queue(req.params["queue_name"])

    def patch_queue(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.queue.claim import set_queue_limits

        name = req.params["queue_name"]
        body = req.json_object(QUEUE_PATCH_KEYS)
        if not body:
            raise HTTPError(400, f"nothing to change; send any of {list(QUEUE_PATCH_KEYS)}")
        changes: dict[str, Any] = {}
        for key, arg in (
            ("concurrency", "global_concurrency"),
            ("worker_concurrency", "worker_concurrency"),
        ):
            if key in body:
                value = body[key]
                if value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 1
                ):
                    raise HTTPError(400, f"{key} must be a positive integer or null, got {value!r}")
                changes[arg] = value
        if "rate" in body:
            rate = body["rate"]
            if rate is not None and not (
                isinstance(rate, dict)
                and set(rate) == {"limit", "period"}
                and isinstance(rate["limit"], int)
                and not isinstance(rate["limit"], bool)
                and isinstance(rate["period"], (int, float))
                and not isinstance(rate["period"], bool)
            ):
                raise HTTPError(400, 'rate must be {"limit": integer, "period": seconds} or null')
            changes["limiter"] = rate
        if "paused" in body:
            if not isinstance(body["paused"], bool):
                raise HTTPError(400, "paused must be true or false")
            changes["paused"] = body["paused"]
        try:
            found = self._run(set_queue_limits(self.rt.sysdb, name, **changes))
        except DBOSException as exc:
            raise HTTPError(400, str(exc)) from None
        if not found:
            raise HTTPError(404, f"no declared queue {name!r}")
        return 200, self._queue(name)

    # --- documents ----------------------------------------------------------------------

    def openapi(self, _req: Request) -> tuple[int, Any]:
        from dbos_queue.ops.openapi import SPEC

        return 200, SPEC

    def dashboard(self, req: Request) -> tuple[int, Any]:
        from dbos_queue.ops.dashboard import render

        return 200, Raw(
            render(self, req).encode(),
            "text/html; charset=utf-8",
            {
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                " form-action 'self'; frame-ancestors 'none'",
            },
        )

    # --- plumbing -----------------------------------------------------------------------

    def check_token(self, given: str | None) -> bool:
        return (
            self.token is not None
            and given is not None
            and hmac.compare_digest(given.encode(), self.token.encode())
        )

    def _handler_class(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "dbos-queue-admin"

            def log_message(self, fmt: str, *args: Any) -> None:
                logger.debug("admin: " + fmt, *args)

            def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                extra = dict(headers or {})
                if isinstance(payload, Raw):
                    data, ctype = payload.body, payload.content_type
                    extra.update(payload.headers)
                else:
                    data, ctype = json.dumps(payload, default=str).encode(), "application/json"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _cookie_token(self) -> str | None:
                for part in (self.headers.get("Cookie") or "").split(";"):
                    key, _, value = part.strip().partition("=")
                    if key == TOKEN_COOKIE:
                        return unquote(value)
                return None

            def _cross_site(self) -> bool:
                """A browser request from another site (CSRF), for state-changing methods."""
                if (self.headers.get("Sec-Fetch-Site") or "").lower() == "cross-site":
                    return True
                origin = self.headers.get("Origin")
                if origin is None:
                    return False
                host = self.headers.get("Host") or ""
                return origin == "null" or urlsplit(origin).netloc != host

            def _authorized(
                self,
                method: str,
                path: str,
                query: dict[str, list[str]],
                query_token: str | None,
            ) -> bool:
                """True to go on; False when a response (401, or the cookie hand-off) was sent."""
                if not server.token or path in server.public:
                    return True
                auth = self.headers.get("Authorization") or ""
                given = auth[7:] if auth.startswith("Bearer ") else None
                if not (
                    server.check_token(given)
                    or server.check_token(self._cookie_token())
                    or server.check_token(query_token)
                ):
                    self._send(
                        401,
                        {
                            "error": "missing or wrong bearer token (in a browser, "
                            "open /dashboard?token=<admin_token>)"
                        },
                        {"WWW-Authenticate": 'Bearer realm="dbos-admin"'},
                    )
                    return False
                if method == "GET" and path == "/dashboard" and server.check_token(query_token):
                    # The browser's way in: swap the token in the URL for a cookie, keeping
                    # it out of the address bar, history and Referer.
                    rest = urlencode([(k, v) for k, vs in query.items() for v in vs])
                    location = "/dashboard" + (f"?{rest}" if rest else "")
                    cookie = (
                        f"{TOKEN_COOKIE}={quote(server.token, safe='')}; Path=/; "
                        "HttpOnly; SameSite=Strict"
                    )
                    self._send(
                        303,
                        {"location": location},
                        {"Location": location, "Set-Cookie": cookie, "Cache-Control": "no-store"},
                    )
                    return False
                return True

            def _dispatch(self, method: str) -> None:
                split = urlsplit(self.path)
                path = split.path or "/"
                query = parse_qs(split.query, keep_blank_values=True)
                query_token = query.pop("token", [None])[-1]
                if not self._authorized(method, path, query, query_token):
                    return
                methods, params = match_route(path)
                if not methods:
                    self._send(404, {"error": f"no route {method} {path}"})
                    return
                if method not in methods:
                    allow = ", ".join(sorted(methods))
                    self._send(
                        405,
                        {"error": f"{method} is not allowed on {path}; use {allow}"},
                        {"Allow": allow},
                    )
                    return
                if method != "GET" and self._cross_site():
                    self._send(403, {"error": "cross-site request refused"})
                    return
                template, _name = methods[method]
                handler = server.routes[(method, template)]
                req = Request(method, path, template, params, query, headers=self.headers)
                try:
                    self._read_body(req)
                except HTTPError as exc:
                    self._send(exc.code, exc.payload)
                    return
                next_page = "/dashboard"
                if req.form:
                    candidate = req.body.pop("next", next_page)
                    if re.fullmatch(r"/dashboard(\?[^\s\\]*)?", candidate):
                        next_page = candidate
                try:
                    code, payload = handler(server, req)
                except HTTPError as exc:
                    code, payload = exc.code, exc.payload
                except Exception as exc:
                    logger.exception("admin route %s failed", path)
                    code, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
                if req.form:
                    self._back_to_dashboard(next_page, req, code, payload)
                else:
                    self._send(code, payload)

            def _back_to_dashboard(self, page: str, req: Request, code: int, payload: Any) -> None:
                """A dashboard form's answer: 303 back to the page, with the outcome to show."""
                if code < 400:
                    verb = req.path.rsplit("/", 1)[-1]
                    outcome = (
                        "notice",
                        f"{verb}: {req.params.get('workflow_id', '')} is now "
                        f"{payload.get('status', 'done')}",
                    )
                else:
                    outcome = ("error", str(payload.get("error", code)))
                location = page + ("&" if "?" in page else "?") + urlencode([outcome])
                self._send(303, {"location": location}, {"Location": location})

            def _read_body(self, req: Request) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise HTTPError(400, "bad Content-Length") from None
                if length < 0:
                    raise HTTPError(400, "bad Content-Length")
                if length > MAX_BODY:
                    raise HTTPError(413, f"body larger than {MAX_BODY} bytes")
                raw = self.rfile.read(length) if length else b""
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                text = raw.strip()
                # A dashboard form (never empty: it carries 'next'). Elsewhere, and for JSON
                # sent with a form content type (urllib's and curl -d's default), parse JSON.
                if (
                    ctype == "application/x-www-form-urlencoded"
                    and req.route in FORM_ROUTES
                    and text
                    and text[:1] not in (b"{", b"[")
                ):
                    req.form = True
                    try:
                        fields = parse_qs(raw.decode(), keep_blank_values=True)
                    except UnicodeDecodeError:
                        raise HTTPError(400, "form body is not UTF-8") from None
                    req.body = {k: v[-1] for k, v in fields.items()}
                    return
                if not text:
                    req.body = None
                    return
                try:
                    req.body = json.loads(raw)
                except ValueError as exc:
                    raise HTTPError(400, f"body is not valid JSON: {exc}") from None

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        return Handler
