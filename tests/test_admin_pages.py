"""What the admin server renders and documents: the dashboard's HTML (escaping, depth
and throughput charts; the browser test is tests/test_dashboard.py) and the OpenAPI
document generated from the routing table."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import Route

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.ops.admin import handlers as _handlers
from dbos_queue.ops.admin import models as _models
from dbos_queue.ops.admin import spec as _spec
from dbos_queue.ops.admin.app import build_app
from tests.admin_client import (
    SPEC,
    Api,
    admin,
    resolve,
    start_admin,
)

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def config(config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**config, **getattr(request, "param", {})}


@pytest.fixture
def api(dbos: Any) -> Iterator[Api]:
    yield start_admin(_rt().settings.admin_token)


# --- dashboard content (the browser test is tests/test_dashboard.py) ----------------------


def test_dashboard_escapes_and_shows_queues_and_failures(dbos: Any, api: Api) -> None:
    Queue("q<i>")

    @DBOS.step()
    def fails(_html: str) -> None:
        raise RuntimeError("<img src=x onerror=alert(1)>")

    @DBOS.workflow(name="<b>evil_wf</b>")
    def evil_wf(payload: str) -> None:
        fails(payload)

    @DBOS.workflow()
    def echo(payload: str) -> str:
        return payload + "<svg onload=alert(2)>"

    wf_id = "<script>alert('x')</script>&\""
    with SetWorkflowID(wf_id), pytest.raises(RuntimeError):
        evil_wf("<script>alert('input')</script>")
    with SetWorkflowID("echo-1"):
        echo("<script>alert('input')</script>")
    page = api.get("/dashboard")
    for raw in ("<script>", "<img", "<i>", "<b>", "<svg onload"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#34;" in page  # the id
    assert "q&lt;i&gt;" in page  # a queue name
    assert "&lt;b&gt;evil_wf&lt;/b&gt;" in page  # a workflow name
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the error, in the failed list and steps
    assert "alert(&#39;input&#39;)&lt;/script&gt;" in page  # an input
    assert "&lt;svg onload=alert(2)&gt;" in page  # an output
    # a failed workflow offers fork (resume leaves failed workflows alone, as in DBOS)
    assert 'action="/workflows/%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%26%22/fork"' in page
    assert re.search(r'<table id="failed">.*data-status="ERROR"', page, re.S)
    filtered = api.get("/dashboard?status=SUCCESS&name=x&queue=y&limit=5")
    assert "data-workflow" not in filtered.split("<h2>Recent workflows")[1]
    code, payload, _ = api.call("GET", "/dashboard?status=BOGUS")
    assert code == 400 and "BOGUS" in payload["error"]
    code, payload, _ = api.call("GET", "/dashboard?limit=0")
    assert code == 400 and "limit" in payload["error"]
    page = api.get("/dashboard?notice=%3Cb%3Ehi&error=%3Cu%3Eoops&refresh=7")
    assert "&lt;b&gt;hi" in page and "&lt;u&gt;oops" in page
    assert '<meta http-equiv="refresh" content="7">' in page


def _spark(page: str, series: str, queue: str | None = None) -> list[float]:
    scope = page
    if queue is not None:
        row = re.search(rf'<tr data-queue="{re.escape(queue)}">(.*?)</tr>', page, re.S)
        assert row, f"no row for queue {queue}"
        scope = row.group(1)
    found = re.search(rf'data-series="{series}" data-values="([^"]*)"', scope)
    assert found, (series, queue)
    return [float(v) for v in found.group(1).split(",") if v]


def test_dashboard_draws_depth_and_throughput(dbos: Any) -> None:
    api = start_admin(sample_interval=0.1)
    ring = admin().samples
    q = Queue("charted")

    @DBOS.workflow()
    def tick(n: int) -> int:
        return n

    from dbos_queue.queue.claim import set_queue_limits

    rt = _rt()
    rt.engine.run(set_queue_limits(rt.sysdb, "charted", paused=True))
    for i in range(5):
        q.enqueue(tick, i)

    def wait_sample(pred: Any, what: str) -> None:
        deadline = time.monotonic() + 30
        with ring.added:
            while not pred(ring._samples):
                left = deadline - time.monotonic()
                assert left > 0, f"no sample with {what}: {list(ring._samples)[-3:]}"
                ring.added.wait(left)

    wait_sample(lambda s: s and s[-1].depth.get("charted") == 5, "depth 5")
    page = api.get("/dashboard")
    assert _spark(page, "depth", "charted")[-1] == 5
    assert _spark(page, "depth")[-1] >= 5  # the total over all queues
    assert re.search(r'<polyline points="[\d., ]+"', page)
    samples = re.search(r'data-samples="(\d+)"', page)
    assert samples is not None and int(samples.group(1)) >= 2

    api.ok("PATCH", "/queues/charted", {"paused": False})
    wait_sample(
        lambda s: (
            s
            and s[-1].depth.get("charted") == 0
            and sum(x.started.get("charted", 0) for x in s) == 5
        ),
        "5 started and depth 0",
    )
    page = api.get("/dashboard")
    rates = _spark(page, "rate", "charted")
    assert max(rates) > 0 and _spark(page, "depth", "charted")[-1] == 0
    assert max(_spark(page, "rate")) > 0


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
            resolve(node["$ref"])  # every reference resolves


def test_openapi_matches_the_routing_table() -> None:
    """Every route the app serves is documented, with its method, access and models."""
    app = build_app(None)
    served_paths = [r.path for r in app.routes if isinstance(r, Route)]
    assert len(served_paths) == len(app.routes)
    table = {(e.method, e.path) for e in _spec.ENDPOINTS}
    described = {(m.upper(), path) for path, item in SPEC["paths"].items() for m in item}
    assert table == described
    assert sorted(served_paths) == sorted({p for _m, p in table})
    for e in _spec.ENDPOINTS:
        assert callable(getattr(_handlers, e.name)), e.name
        op = SPEC["paths"][e.path][e.method.lower()]
        assert op["operationId"] == e.name and op["x-dbos-access"] == e.access.value
        assert {int(c) for c in e.responses} <= {int(c) for c in op["responses"]}
        if e.access.value != "probe":
            assert {"401", "403"} <= set(op["responses"]), e.path
        assert ("requestBody" in op) == (e.body is not None)
    public = {
        path
        for path, item in SPEC["paths"].items()
        if all(op.get("security") == [] for op in item.values())
    }
    assert public == set(_spec.PUBLIC) == {"/dbos-healthz", "/metrics"}
    writes = {
        (m.upper(), path)
        for path, item in SPEC["paths"].items()
        for m, op in item.items()
        if op["x-dbos-access"] == "write"
    }
    assert writes == {
        ("POST", "/workflows/{workflow_id}/cancel"),
        ("POST", "/workflows/{workflow_id}/resume"),
        ("POST", "/workflows/{workflow_id}/fork"),
        ("PATCH", "/queues/{queue_name}"),
    }
    list_params = {p["name"] for p in SPEC["paths"]["/workflows"]["get"]["parameters"]}
    assert list_params == set(_models.WorkflowListQuery.model_fields)
    body = SPEC["paths"]["/queues/{queue_name}"]["patch"]["requestBody"]["content"]
    patch = resolve(body["application/json"]["schema"]["$ref"])["properties"]
    assert set(patch) == {"concurrency", "worker_concurrency", "rate", "paused"}
    workflow = SPEC["components"]["schemas"]["Workflow"]["properties"]
    assert workflow["status"]["enum"] == list(_models.STATUSES)


def test_openapi_is_served(api: Api) -> None:
    assert api.get("/openapi.json") == json.loads(json.dumps(SPEC))
