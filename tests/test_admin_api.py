"""The admin HTTP API against a launched DBOS, over real HTTP (urllib).

Every response a test receives is checked against the OpenAPI document: its status
code must be described for that operation, and a JSON body must match the schema.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.ops import admin as _admin
from dbos_queue.ops.openapi import SPEC

TOKEN = "s3cret-token/+="
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


# --- a tiny JSON-schema checker for the subset the document uses -------------------------


def _resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = SPEC
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _type_ok(kind: str, value: Any) -> bool:
    return {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]


def check_schema(schema: dict[str, Any], value: Any, where: str = "$") -> None:
    if "$ref" in schema:
        check_schema(_resolve(schema["$ref"]), value, where)
        return
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        assert any(_type_ok(k, value) for k in kinds), f"{where}: {value!r} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            assert value >= schema["minimum"], where
        if "maximum" in schema:
            assert value <= schema["maximum"], where
        if "exclusiveMinimum" in schema:
            assert value > schema["exclusiveMinimum"], where
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                check_schema(props[key], item, f"{where}.{key}")
            elif extra is False:
                raise AssertionError(f"{where}: unexpected {key!r}")
            elif isinstance(extra, dict):
                check_schema(extra, item, f"{where}.{key}")
        assert len(value) >= schema.get("minProperties", 0), where
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(schema["items"], item, f"{where}[{i}]")


def check_against_spec(method: str, path: str, code: int, ctype: str, payload: Any) -> None:
    methods, _params = _admin.match_route(path)
    if method not in methods:
        return  # 404/405 for unrouted requests: not an operation of the document
    template = methods[method][0]
    op = SPEC["paths"][template][method.lower()]
    assert str(code) in op["responses"], f"{method} {template} answered {code}, not described"
    response = op["responses"][str(code)]
    if "$ref" in response:
        response = _resolve(response["$ref"])
    content = response.get("content")
    if content is None:
        return
    media = ctype.split(";")[0].strip()
    assert media in content, f"{method} {template} {code}: {media} not in {list(content)}"
    if media == "application/json":
        check_schema(content[media]["schema"], payload, f"{method} {template} {code}")


# --- the HTTP client ----------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class Api:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: Any = "default",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        ctype: str = "application/json",
    ) -> tuple[int, Any, Any]:
        token = self.token if token == "default" else token
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            hdrs["Content-Type"] = ctype
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with _opener.open(req, timeout=30) as resp:
                code, rh, content = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                code, rh, content = exc.code, exc.headers, exc.read()
        ct = rh.get("Content-Type", "")
        is_json = ct.startswith("application/json")
        payload: Any = json.loads(content) if is_json else content.decode()
        check_against_spec(method, path.split("?")[0], code, ct, payload)
        return code, payload, rh

    def get(self, path: str, **kw: Any) -> Any:
        code, payload, _ = self.call("GET", path, **kw)
        assert code == 200, (path, code, payload)
        return payload

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        code, payload, _ = self.call(method, path, body, **kw)
        assert code == 200, (method, path, code, payload)
        return payload


def start_admin(token: str | None = None) -> Api:
    # admin_port must be >= 1 in the config, so tests start the server on port 0 themselves.
    rt = _rt()
    rt.start_admin("127.0.0.1", 0)
    assert rt.admin is not None
    return Api(rt.admin.port, token)


@pytest.fixture
def config(config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**config, **getattr(request, "param", {})}


@pytest.fixture
def api(dbos: Any) -> Iterator[Api]:
    yield start_admin(_rt().settings.admin_token)


def wait_status(api: Api, wf_id: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wf = api.get(f"/workflows/{wf_id}")
        if wf["status"] == wanted:
            return wf
        assert time.monotonic() < deadline, f"{wf_id} stayed {wf['status']}, wanted {wanted}"
        time.sleep(0.05)


# --- health, perf, metrics, recovery, routing ---------------------------------------------


def test_health_perf_metrics_recovery(api: Api) -> None:
    assert api.get("/dbos-healthz") == {"status": "healthy"}
    perf = api.get("/dbos-perf")
    assert perf["engine_loop_lag_seconds"] >= 0 and perf["running_workflows"] >= 0
    assert "dbos_queue_depth" in api.get("/metrics")
    assert api.ok("POST", "/dbos-workflow-recovery", ["nobody"]) == []
    assert api.call("POST", "/dbos-workflow-recovery", {"a": 1})[0] == 400
    code, payload, _ = api.call("POST", "/dbos-workflow-recovery", raw=b"[not json")
    assert code == 400 and "not valid JSON" in payload["error"]


def test_unknown_routes_and_methods(api: Api) -> None:
    code, payload, _ = api.call("GET", "/nope")
    assert code == 404 and "no route" in payload["error"]
    code, payload, headers = api.call("DELETE", "/workflows/x")
    assert code == 405 and headers["Allow"] == "GET"
    code, _, headers = api.call("POST", "/queues/q")
    assert code == 405 and headers["Allow"] == "GET, PATCH"


# --- workflows ----------------------------------------------------------------------------


def test_list_get_and_steps(dbos: Any, api: Api) -> None:
    @DBOS.step()
    def add(a: int, b: int) -> int:
        return a + b

    @DBOS.workflow()
    def adder(n: int) -> dict[str, Any]:
        return {"sum": add(n, 1), "pair": (n, n), "set": {n}, "raw": b"\x00\x01"}

    @DBOS.workflow()
    def broken(why: str) -> None:
        add(1, 1)
        raise ValueError(why)

    for i in range(3):
        with SetWorkflowID(f"ok-{i}"):
            adder(i)
    with SetWorkflowID("bad-0"), pytest.raises(ValueError):
        broken("nope")

    all_ = api.get("/workflows")
    assert [w["workflow_id"] for w in all_] == ["ok-0", "ok-1", "ok-2", "bad-0"]
    ok0 = all_[0]
    assert ok0["status"] == "SUCCESS" and ok0["name"] == adder.__qualname__
    assert ok0["input"] == {"args": [0], "kwargs": {}}
    assert ok0["output"] == {"sum": 1, "pair": [0, 0], "set": [0], "raw": "AAE="}
    bad = api.get("/workflows/bad-0")
    assert bad["status"] == "ERROR" and bad["output"] is None
    assert bad["error"] == {"type": "ValueError", "message": "nope"}

    ids = lambda q: [w["workflow_id"] for w in api.get("/workflows?" + q)]  # noqa: E731
    assert ids("status=ERROR") == ["bad-0"]
    assert ids("status=ERROR,SUCCESS&limit=2&offset=1") == ["ok-1", "ok-2"]
    assert ids("status=ERROR&status=SUCCESS&sort_desc=true&limit=2") == ["bad-0", "ok-2"]
    assert ids(f"name={broken.__qualname__}") == ["bad-0"]
    assert ids("workflow_id=ok-1,ok-2") == ["ok-1", "ok-2"]
    assert ids("workflow_id_prefix=ok-&sort_desc=1&limit=1") == ["ok-2"]
    assert ids("queue=nowhere") == []
    assert ids("start_time=2000-01-01T00:00:00Z&end_time=946771200000") == []
    assert ids(f"start_time={int(time.time() * 1000) - 600_000}")[:1] == ["ok-0"]
    slim = api.get("/workflows?workflow_id=ok-0&load_input=false&load_output=false")[0]
    assert slim["input"] is None and slim["output"] is None
    for q, needle in (
        ("status=DONE", "unknown status"),
        ("limit=-1", "limit"),
        ("limit=x", "integer"),
        ("sort_desc=maybe", "true or false"),
        ("colour=red", "unknown query parameter"),
        ("start_time=yesterday", "yesterday"),
    ):
        code, payload, _ = api.call("GET", "/workflows?" + q)
        assert code == 400 and needle in payload["error"], (q, payload)

    steps = api.get("/workflows/ok-1/steps")
    assert [(s["function_id"], s["function_name"], s["output"]) for s in steps] == [
        (1, add.__qualname__, 2)
    ]
    assert steps[0]["completed_at_epoch_ms"] >= steps[0]["started_at_epoch_ms"]
    assert api.get("/workflows/bad-0/steps")[0]["error"] is None
    for path in ("/workflows/missing", "/workflows/missing/steps"):
        code, payload, _ = api.call("GET", path)
        assert code == 404 and "missing" in payload["error"]


def test_cancel_resume_fork(dbos: Any, api: Api) -> None:
    held = Queue("held")
    runs: list[int] = []

    @DBOS.step()
    def one() -> int:
        runs.append(1)
        return 1

    @DBOS.step()
    def two() -> int:
        runs.append(2)
        return 2

    @DBOS.workflow()
    def pair() -> list[int]:
        return [one(), two()]

    assert api.ok("PATCH", "/queues/held", {"paused": True})["paused"] is True
    with SetWorkflowID("w/1"):  # ids may hold '/': percent-encoded in the path
        held.enqueue(pair)
    assert api.get("/workflows/w%2F1")["status"] == "ENQUEUED"
    out = api.ok("POST", "/workflows/w%2F1/cancel")
    assert out == {"workflow_id": "w/1", "status": "CANCELLED", "cancelled": ["w/1"]}
    assert api.ok("POST", "/workflows/w%2F1/cancel", {"cancel_children": True})["cancelled"] == []
    assert runs == []
    resumed = api.ok("POST", "/workflows/w%2F1/resume")
    assert resumed["workflow_id"] == "w/1" and resumed["status"] in (
        "ENQUEUED",
        "PENDING",
        "SUCCESS",
    )
    done = wait_status(api, "w%2F1", "SUCCESS")
    assert done["output"] == [1, 2] and done["queue_name"] == "_dbos_internal_queue"
    assert runs == [1, 2]

    code, payload, _ = api.call("POST", "/workflows/w%2F1/cancel")
    assert code == 409 and payload["status"] == "SUCCESS"
    code, payload, _ = api.call("POST", "/workflows/w%2F1/resume")
    assert code == 409 and payload["status"] == "SUCCESS"

    forked = api.ok("POST", "/workflows/w%2F1/fork", {"start_step": 2, "new_workflow_id": "f1"})
    assert forked == {"workflow_id": "f1", "forked_from": "w/1"}
    assert wait_status(api, "f1", "SUCCESS")["output"] == [1, 2]
    assert runs == [1, 2, 2]  # step 1 was copied, step 2 ran again
    default_fork = api.ok("POST", "/workflows/w%2F1/fork")["workflow_id"]
    assert wait_status(api, default_fork, "SUCCESS")["forked_from"] == "w/1"

    for method, path, body, code_, needle in (
        ("POST", "/workflows/w%2F1/fork", {"start_step": 0}, 400, "start_step"),
        ("POST", "/workflows/w%2F1/fork", {"start_step": True}, 400, "start_step"),
        ("POST", "/workflows/w%2F1/fork", {"new_workflow_id": "f1"}, 409, "already exists"),
        ("POST", "/workflows/w%2F1/fork", {"step": 2}, 400, "unknown field"),
        ("POST", "/workflows/w%2F1/fork", [2], 400, "JSON object"),
        ("POST", "/workflows/nope/fork", {}, 404, "nope"),
        ("POST", "/workflows/nope/cancel", None, 404, "nope"),
        ("POST", "/workflows/nope/resume", None, 404, "nope"),
        ("POST", "/workflows/w%2F1/cancel", {"cancel_children": "yes"}, 400, "true or false"),
        ("POST", "/workflows/w%2F1/resume", {"queue_name": 5}, 400, "queue_name"),
    ):
        code, payload, _ = api.call(method, path, body)
        assert code == code_ and needle in payload["error"], (path, body, payload)


# --- queues -------------------------------------------------------------------------------


def test_queue_list_and_limits(dbos: Any, api: Api) -> None:
    q = Queue("jobs", concurrency=4, limiter={"limit": 10, "period": 2.0}, worker_concurrency=2)

    @DBOS.workflow()
    def job(n: int) -> int:
        return n

    queues = {x["name"]: x for x in api.get("/queues")}
    jobs = queues["jobs"]
    assert (
        jobs["concurrency"],
        jobs["worker_concurrency"],
        jobs["rate"],
        jobs["paused"],
        jobs["source"],
        jobs["depth"],
        jobs["declared"],
    ) == (4, 2, {"limit": 10, "period": 2.0}, False, "code", 0, True)

    api.ok("PATCH", "/queues/jobs", {"paused": True})
    for i in range(2):
        q.enqueue(job, i)
    time.sleep(0.05)
    jobs = api.get("/queues/jobs")
    assert jobs["depth"] == 2 and jobs["running"] == 0 and jobs["paused"] is True
    assert jobs["oldest_enqueued_at"] is not None and jobs["oldest_age_s"] >= 0

    after = api.ok(
        "PATCH",
        "/queues/jobs",
        {"concurrency": 8, "worker_concurrency": None, "rate": {"limit": 5, "period": 1}},
    )
    assert (after["concurrency"], after["worker_concurrency"], after["rate"], after["source"]) == (
        8,
        None,
        {"limit": 5, "period": 1.0},
        "runtime",
    )
    assert api.ok("PATCH", "/queues/jobs", {"rate": None})["rate"] is None
    assert api.ok("PATCH", "/queues/jobs", {"paused": False})["paused"] is False
    deadline = time.monotonic() + 30
    while api.get("/queues/jobs")["depth"] or api.get("/queues/jobs")["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    for body, needle in (
        ({}, "nothing to change"),
        ({"concurrency": 0}, "positive"),
        ({"concurrency": "3"}, "positive"),
        ({"paused": "yes"}, "true or false"),
        ({"rate": {"limit": 5}}, "rate must be"),
        ({"rate": {"limit": 5, "period": -1}}, "period"),
        ({"global_concurrency": 3}, "unknown field"),
        ([1], "JSON object"),
    ):
        code, payload, _ = api.call("PATCH", "/queues/jobs", body)
        assert code == 400 and needle in payload["error"], (body, payload)
    assert api.call("PATCH", "/queues/nope", {"paused": True})[0] == 404
    assert api.call("GET", "/queues/nope")[0] == 404


def test_undeclared_queues_holding_work_are_listed(dbos: Any, api: Api) -> None:
    @DBOS.workflow()
    def quick() -> int:
        return 1

    with SetWorkflowID("q-1"):
        quick()
    # Forked onto a queue nobody declared (so nobody serves it): it waits there.
    forked = api.ok("POST", "/workflows/q-1/fork", {"queue_name": "limbo"})["workflow_id"]
    limbo = api.get("/queues/limbo")
    assert (limbo["declared"], limbo["depth"], limbo["concurrency"], limbo["source"]) == (
        False,
        1,
        None,
        None,
    )
    assert "limbo" in [x["name"] for x in api.get("/queues")]
    assert api.call("PATCH", "/queues/limbo", {"paused": True})[0] == 404  # not declared
    resumed = api.ok("POST", f"/workflows/{forked}/resume", {"queue_name": None})
    assert resumed["workflow_id"] == forked
    assert wait_status(api, forked, "SUCCESS")["queue_name"] == "_dbos_internal_queue"
    assert api.call("GET", "/queues/limbo")[0] == 404


# --- auth, CSRF, forms ---------------------------------------------------------------------


@pytest.mark.parametrize("config", [{"admin_token": TOKEN}], indirect=True)
def test_token_auth(api: Api) -> None:
    assert api.token == TOKEN
    assert api.get("/dbos-healthz", token=None)["status"] == "healthy"  # public
    assert "dbos_queue_depth" in api.get("/metrics", token=None)  # public
    for path in (
        "/dbos-perf",
        "/workflows",
        "/queues",
        "/openapi.json",
        "/dashboard",
        "/workflows/x/steps",
    ):
        for token in (None, "wrong", TOKEN + "x"):
            code, payload, headers = api.call("GET", path, token=token)
            assert code == 401 and "token" in payload["error"], (path, token)
            assert headers["WWW-Authenticate"].startswith("Bearer")
        assert api.call("GET", path)[0] in (200, 404)
    assert api.call("POST", "/workflows/x/cancel", token=None)[0] == 401
    assert api.call("PATCH", "/queues/x", {"paused": True}, token=None)[0] == 401
    quoted = urllib.request.quote(TOKEN, safe="")
    assert api.get(f"/queues?token={quoted}", token=None) == []
    assert api.call("GET", "/queues?token=nope", token=None)[0] == 401

    # The browser's way in: ?token= once, then an HttpOnly SameSite=Strict cookie.
    code, _, headers = api.call("GET", f"/dashboard?status=ERROR&token={quoted}", token=None)
    assert code == 303 and headers["Location"] == "/dashboard?status=ERROR"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    pair = cookie.split(";")[0]
    code, page, _ = api.call("GET", "/dashboard", token=None, headers={"Cookie": pair})
    assert code == 200 and "<h2>Queues</h2>" in page
    code, _, _ = api.call(
        "GET", "/queues", token=None, headers={"Cookie": "other=1; " + pair + "; more=2"}
    )
    assert code == 200
    assert (
        api.call("GET", "/queues", token=None, headers={"Cookie": "dbos_admin_token=wrong"})[0]
        == 401
    )


def test_no_token_means_open(api: Api) -> None:
    assert api.token is None
    for path in ("/dbos-perf", "/workflows", "/queues", "/openapi.json"):
        assert api.call("GET", path, token=None)[0] == 200
    code, page, headers = api.call("GET", "/dashboard", token=None)
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_cross_site_posts_are_refused_and_forms_redirect(dbos: Any, api: Api) -> None:
    q = Queue("formq")

    @DBOS.workflow()
    def noop() -> None:
        return None

    api.ok("PATCH", "/queues/formq", {"paused": True})
    with SetWorkflowID("form-1"):
        q.enqueue(noop)
    evil = {"Origin": "http://evil.example"}
    assert api.call("POST", "/workflows/form-1/cancel", headers=evil)[0] == 403
    assert (
        api.call("POST", "/workflows/form-1/cancel", headers={"Sec-Fetch-Site": "cross-site"})[0]
        == 403
    )
    assert api.call("PATCH", "/queues/formq", {"paused": False}, headers=evil)[0] == 403
    assert api.get("/workflows/form-1")["status"] == "ENQUEUED"

    same = {"Origin": api.base}
    form = b"next=%2Fdashboard%3Fstatus%3DCANCELLED"
    code, _, headers = api.call(
        "POST",
        "/workflows/form-1/cancel",
        raw=form,
        headers=same,
        ctype="application/x-www-form-urlencoded",
    )
    assert code == 303
    assert headers["Location"] == (
        "/dashboard?status=CANCELLED&notice=cancel%3A+form-1+is+now+CANCELLED"
    )
    # An error goes back too; a 'next' outside the dashboard is ignored.
    code, _, headers = api.call(
        "POST",
        "/workflows/form-1/cancel",
        raw=b"next=http://evil/",
        ctype="application/x-www-form-urlencoded",
    )
    assert code == 303
    assert headers["Location"] == "/dashboard?notice=cancel%3A+form-1+is+now+CANCELLED"
    # Form bodies only where the dashboard's forms post.
    code, payload, _ = api.call(
        "POST",
        "/workflows/form-1/fork",
        raw=b"start_step=1",
        ctype="application/x-www-form-urlencoded",
    )
    assert code == 400 and "not valid JSON" in payload["error"]
    code, _, headers = api.call(
        "POST", "/workflows/zzz/resume", raw=b"next=", ctype="application/x-www-form-urlencoded"
    )
    assert code == 303 and headers["Location"].startswith("/dashboard?error=no+workflow")
    # JSON sent with a form content type (urllib's and curl -d's default) is JSON.
    code, payload, _ = api.call(
        "POST",
        "/workflows/zzz/resume",
        raw=b'{"queue_name": null}',
        ctype="application/x-www-form-urlencoded",
    )
    assert code == 404
    assert (
        api.ok(
            "POST",
            "/dbos-workflow-recovery",
            raw=b'["x"]',
            ctype="application/x-www-form-urlencoded",
        )
        == []
    )


# --- dashboard content (the browser test is tests/test_dashboard.py) ----------------------


def test_dashboard_escapes_and_shows_queues_and_failures(dbos: Any, api: Api) -> None:
    Queue("q<i>")

    @DBOS.step()
    def fails() -> None:
        raise RuntimeError("<img src=x onerror=alert(1)>")

    @DBOS.workflow()
    def evil_wf() -> None:
        fails()

    wf_id = "<script>alert('x')</script>&\""
    with SetWorkflowID(wf_id), pytest.raises(RuntimeError):
        evil_wf()
    page = api.get("/dashboard")
    assert "<script>" not in page and "<img" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;" in page
    assert "q&lt;i&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the error, in the failed list and steps
    assert "action='/workflows/%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%26%22/resume'" in page
    assert re.search(r"<table id='failed'>.*data-status='ERROR'", page, re.S)
    filtered = api.get("/dashboard?status=SUCCESS&name=x&queue=y&limit=5")
    assert "data-workflow" not in filtered.split("<h2>Recent workflows")[1]
    code, payload, _ = api.call("GET", "/dashboard?status=BOGUS")
    assert code == 400 and "BOGUS" in payload["error"]
    page = api.get("/dashboard?notice=%3Cb%3Ehi&error=%3Cu%3Eoops")
    assert "&lt;b&gt;hi" in page and "&lt;u&gt;oops" in page


# --- configuration --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _free_port()


@pytest.mark.parametrize(
    "config",
    [
        {
            "run_admin_server": True,
            "admin_host": "127.0.0.1",
            "admin_port": PORT,
            "admin_token": TOKEN,
        }
    ],
    indirect=True,
)
def test_config_starts_the_server(dbos: Any) -> None:
    rt = _rt()
    assert rt.admin is not None and rt.admin.port == PORT
    assert rt.admin.httpd.server_address[0] == "127.0.0.1"
    api = Api(PORT, TOKEN)
    assert api.get("/dbos-healthz", token=None)["status"] == "healthy"
    assert api.call("GET", "/queues", token=None)[0] == 401
    assert isinstance(api.get("/queues"), list)


# --- the OpenAPI document -----------------------------------------------------------------


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_openapi_document_structure() -> None:
    doc = json.loads(json.dumps(SPEC))  # plain JSON
    assert re.fullmatch(r"3\.[01]\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc) <= {
        "openapi",
        "info",
        "servers",
        "paths",
        "components",
        "security",
        "tags",
        "externalDocs",
        "webhooks",
        "jsonSchemaDialect",
    }
    schemes = doc["components"]["securitySchemes"]
    op_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        templated = set(re.findall(r"{([^}]+)}", path))
        assert item and set(item) <= METHODS, path
        for method, op in item.items():
            op_ids.append(op["operationId"])
            assert op["responses"], (path, method)
            for code, resp in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", code), code
                resp = _resolve(resp["$ref"]) if "$ref" in resp else resp
                assert resp["description"], (path, method, code)
                for media in resp.get("content", {}).values():
                    assert "schema" in media
            params = op.get("parameters", [])
            assert len({(p["name"], p["in"]) for p in params}) == len(params)
            for p in params:
                assert p["in"] in ("query", "header", "path", "cookie") and "schema" in p
                if p["in"] == "path":
                    assert p["required"] is True
            assert {p["name"] for p in params if p["in"] == "path"} == templated, path
            if "requestBody" in op:
                assert op["requestBody"]["content"]
            for requirement in op.get("security", doc.get("security", [])):
                assert set(requirement) <= set(schemes)
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"
    for node in _walk(doc):
        if isinstance(node, dict) and "$ref" in node:
            _resolve(node["$ref"])  # every reference resolves
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(doc)  # pragma: no cover - only where the validator is installed


def test_openapi_matches_the_routing_table() -> None:
    routed = {(m, path) for m, path, _ in _admin.ROUTES}
    described = {(m.upper(), path) for path, item in SPEC["paths"].items() for m in item}
    assert routed == described
    for _m, _path, handler in _admin.ROUTES:
        assert callable(getattr(_admin.AdminServer, handler))
    public = {
        path
        for path, item in SPEC["paths"].items()
        if all(op.get("security") == [] for op in item.values())
    }
    assert public == set(_admin.PUBLIC)
    list_params = {p["name"] for p in SPEC["paths"]["/workflows"]["get"]["parameters"]}
    assert list_params == set(_admin.WORKFLOW_LIST_PARAMS)
    patch = SPEC["components"]["schemas"]["QueuePatch"]["properties"]
    assert set(patch) == set(_admin.QUEUE_PATCH_KEYS)
    assert SPEC["components"]["schemas"]["Workflow"]["properties"]["status"]["enum"] == list(
        _admin.STATUSES
    )


def test_openapi_is_served(api: Api) -> None:
    assert api.get("/openapi.json") == json.loads(json.dumps(SPEC))
