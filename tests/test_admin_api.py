"""The admin API's routes against a launched DBOS: health, metrics, recovery, routing,
workflows, queues, configuration. The client (tests/admin_client.py) checks every
answer against the OpenAPI document."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.ops.admin import models as _models
from tests.admin_client import (
    TOKEN,
    Api,
    admin,
    check_against_spec,
    start_admin,
    wait_status,
)
from tests.plugins.waiting import wait_until


@pytest.fixture
def config(config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**config, **getattr(request, "param", {})}


@pytest.fixture
def api(dbos: Any) -> Iterator[Api]:
    yield start_admin(_rt().settings.admin_token)


# --- health, perf, metrics, recovery, routing ---------------------------------------------


def test_health_perf_metrics_recovery(api: Api) -> None:
    assert api.get("/dbos-healthz") == {"status": "healthy"}
    perf = api.get("/dbos-perf")
    assert perf["engine_loop_lag_seconds"] >= 0 and perf["running_workflows"] >= 0
    code, text, headers = api.call("GET", "/metrics")
    assert code == 200 and "dbos_queue_depth" in text
    assert headers["Content-Type"].startswith("text/plain")
    assert api.ok("POST", "/dbos-workflow-recovery", ["nobody"]) == []
    code, payload, _ = api.call("POST", "/dbos-workflow-recovery", {"a": 1})
    assert code == 400 and "JSON list" in payload["error"]
    code, payload, _ = api.call("POST", "/dbos-workflow-recovery", [1])
    assert code == 400 and "string" in payload["error"], payload
    code, payload, _ = api.call("POST", "/dbos-workflow-recovery", raw=b"[not json")
    assert code == 400 and "not valid JSON" in payload["error"]
    # A body over 1 MiB is refused from its Content-Length, before it is read.
    conn = http.client.HTTPConnection("127.0.0.1", admin().port, timeout=30)
    conn.putrequest("POST", "/dbos-workflow-recovery")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 << 20))
    conn.endheaders()
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    assert resp.status == 413 and "larger than" in payload["error"]
    check_against_spec("POST", "/dbos-workflow-recovery", 413, "application/json", payload)


def test_unknown_routes_and_methods(api: Api) -> None:
    code, payload, _ = api.call("GET", "/nope")
    assert code == 404 and payload["error"] == "no route GET /nope"
    code, payload, _ = api.call("GET", "/workflows/")  # no slash redirects
    assert code == 404
    code, payload, headers = api.call("DELETE", "/workflows/x")
    assert code == 405 and headers["Allow"] == "GET" and "DELETE" in payload["error"]
    code, _, headers = api.call("POST", "/queues/q")
    assert code == 405 and headers["Allow"] == "GET, PATCH"


def test_uvicorn_leaves_signals_alone_and_stops(dbos: Any) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    api = start_admin()
    server = admin()
    assert server.thread.is_alive() and server.thread is not threading.main_thread()
    assert api.get("/dbos-healthz")["status"] == "healthy"
    assert {s: signal.getsignal(s) for s in before} == before
    server.stop()
    assert not server.thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(api.base + "/dbos-healthz", timeout=5)
    server.stop()  # idempotent


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
    assert set(ok0) == set(_models.Workflow.model_fields)
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
    assert ids("status=&limit=") == ["ok-0", "ok-1", "ok-2", "bad-0"]  # empty = default
    assert ids("start_time=2000-01-01T00:00:00Z&end_time=946771200000") == []
    assert ids(f"start_time={int(time.time() * 1000) - 600_000}")[:1] == ["ok-0"]
    slim = api.get("/workflows?workflow_id=ok-0&load_input=false&load_output=false")[0]
    assert slim["input"] is None and slim["output"] is None
    for q, needle in (
        ("status=DONE", "status must be one or more of"),
        ("limit=-1", "limit must be an integer between 0 and 10000, got '-1'"),
        ("limit=10001", "limit must be"),
        ("limit=x", "integer"),
        ("sort_desc=maybe", "sort_desc must be true or false, got 'maybe'"),
        ("colour=red", "unknown query parameter(s) ['colour']"),
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
        ("POST", "/workflows/w%2F1/fork", {"start_step": 0}, 400, "start_step must be an integer"),
        ("POST", "/workflows/w%2F1/fork", {"start_step": True}, 400, "got True"),
        ("POST", "/workflows/w%2F1/fork", {"start_step": "2"}, 400, "start_step"),
        ("POST", "/workflows/w%2F1/fork", {"new_workflow_id": ""}, 400, "non-empty"),
        ("POST", "/workflows/w%2F1/fork", {"new_workflow_id": "f1"}, 409, "already exists"),
        ("POST", "/workflows/w%2F1/fork", {"step": 2}, 400, "unknown field(s) ['step']"),
        ("POST", "/workflows/w%2F1/fork", [2], 400, "JSON object"),
        ("POST", "/workflows/nope/fork", {}, 404, "nope"),
        ("POST", "/workflows/nope/cancel", None, 404, "nope"),
        ("POST", "/workflows/nope/resume", None, 404, "nope"),
        ("POST", "/workflows/w%2F1/cancel", {"cancel_children": "yes"}, 400, "true or false"),
        ("POST", "/workflows/w%2F1/resume", {"queue_name": 5}, 400, "queue_name"),
    ):
        code, payload, _ = api.call(method, path, body)
        assert code == code_ and needle in payload["error"], (path, body, payload)
    assert runs == [1, 2, 2, 1, 2]  # the refused requests ran nothing


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
    assert set(jobs) == set(_models.QueueInfo.model_fields)

    api.ok("PATCH", "/queues/jobs", {"paused": True})
    for i in range(2):
        q.enqueue(job, i)
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
    assert after["paused"] is True  # keys not sent are left alone
    assert api.ok("PATCH", "/queues/jobs", {"rate": None})["rate"] is None
    assert api.ok("PATCH", "/queues/jobs", {"paused": False})["paused"] is False
    wait_until(
        lambda: not (api.get("/queues/jobs")["depth"] or api.get("/queues/jobs")["running"]),
        30,
        "the jobs queue to drain",
        every=0.05,
    )

    for body, needle in (
        ({}, "nothing to change"),
        ({"paused": None}, "nothing to change"),
        ({"concurrency": 0}, "concurrency must be a positive integer or null, got 0"),
        ({"concurrency": "3"}, "positive"),
        ({"paused": "yes"}, "paused must be true or false"),
        ({"rate": {"limit": 5}}, "rate must be"),
        ({"rate": {"limit": 5, "period": -1}}, "rate.period"),
        ({"rate": {"limit": 5, "period": 1, "burst": 2}}, "rate.burst"),
        ({"global_concurrency": 3}, "unknown field"),
        ([1], "JSON object"),
    ):
        code, payload, _ = api.call("PATCH", "/queues/jobs", body)
        assert code == 400 and needle in payload["error"], (body, payload)
    final = api.get("/queues/jobs")
    assert (final["concurrency"], final["rate"], final["paused"]) == (8, None, False)
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
    assert (admin().host, admin().port) == ("127.0.0.1", PORT)
    api = Api(PORT, TOKEN)
    assert api.get("/dbos-healthz", token=None)["status"] == "healthy"
    assert api.call("GET", "/queues", token=None)[0] == 401
    assert isinstance(api.get("/queues"), list)


def test_busy_port_is_reported_not_fatal(dbos: Any, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        _rt().start_admin("127.0.0.1", port)
    assert _rt().admin is None
    assert f"admin server not started on 127.0.0.1:{port}" in caplog.text
