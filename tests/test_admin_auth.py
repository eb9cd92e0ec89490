"""Who may call what on the admin server: the 401/403 matrix (loopback or not, token or
not), the browser cookie, cross-site refusal and dashboard forms, tokens kept out of logs."""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from tests.admin_client import (
    TOKEN,
    Api,
    admin,
    paused_queue_with_work,
    start_admin,
)


@pytest.fixture
def config(config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**config, **getattr(request, "param", {})}


@pytest.fixture
def api(dbos: Any) -> Iterator[Api]:
    yield start_admin(_rt().settings.admin_token)


# --- auth: the 401/403 matrix ---------------------------------------------------------------

READS = (
    "/dbos-perf",
    "/workflows",
    "/workflows/x",
    "/workflows/x/steps",
    "/queues",
    "/queues/x",
    "/openapi.json",
    "/dashboard",
)


def _writes(wf_id: str, queue: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", f"/workflows/{wf_id}/cancel", None),
        ("POST", f"/workflows/{wf_id}/resume", None),
        ("POST", f"/workflows/{wf_id}/fork", {"new_workflow_id": f"{wf_id}-fork"}),
        ("PATCH", f"/queues/{queue}", {"paused": False}),
    ]


def _unchanged(api: Api, wf_id: str, queue: str) -> None:
    """Nothing the refused writes would have done happened."""
    assert api.get(f"/workflows/{wf_id}", token=api.token)["status"] == "ENQUEUED"
    assert api.call("GET", f"/workflows/{wf_id}-fork", token=api.token)[0] == 404
    assert api.get(f"/queues/{queue}", token=api.token)["paused"] is True


def test_loopback_without_token_allows_everything(dbos: Any, api: Api) -> None:
    assert api.token is None and admin().guard.loopback
    for path in READS:
        assert api.call("GET", path)[0] in (200, 404), path
    code, page, headers = api.call("GET", "/dashboard")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'id="readonly"' not in page
    paused_queue_with_work(api, "lb", "lb-1")
    for method, path, body in _writes("lb-1", "lb")[:1]:
        assert api.call(method, path, body)[0] == 200
    assert api.get("/workflows/lb-1")["status"] == "CANCELLED"
    # A page reaching the loopback server through DNS rebinding names another host.
    rebound = {"Host": "evil.example:3001"}
    for method, path in (("GET", "/workflows"), ("POST", "/workflows/lb-1/resume")):
        code, payload, _ = api.call(method, path, headers=rebound)
        assert code == 403 and "loopback" in payload["error"], payload
    assert api.get("/workflows/lb-1")["status"] == "CANCELLED"
    assert api.get("/dbos-healthz", headers=rebound)["status"] == "healthy"
    assert api.call("GET", "/workflows", headers={"Host": "localhost:1"})[0] == 200


def test_non_loopback_without_token_refuses_writes(dbos: Any) -> None:
    api = start_admin(None, host="0.0.0.0")
    guard = admin().guard
    assert not guard.loopback and not guard.has_token
    paused_queue_with_work(api, "guarded", "g-1")
    for method, path, body in _writes("g-1", "guarded"):
        code, payload, _ = api.call(method, path, body)
        assert code == 403 and "admin_token" in payload["error"], (path, payload)
        assert "DBOS_QUEUE_ADMIN_TOKEN" in payload["error"]
    # The dashboard's buttons too (a form post), and a bogus bearer changes nothing either.
    code, _, _ = api.call(
        "POST",
        "/workflows/g-1/cancel",
        raw=b"next=%2Fdashboard",
        ctype="application/x-www-form-urlencoded",
    )
    assert code == 403
    assert api.call("POST", "/workflows/g-1/cancel", token="guess")[0] == 403
    _unchanged(api, "g-1", "guarded")
    # Probes, reads and DBOS's recovery stay open.
    assert api.get("/dbos-healthz")["status"] == "healthy"
    assert "dbos_queue_depth" in api.get("/metrics")
    assert api.ok("POST", "/dbos-workflow-recovery", ["nobody"]) == []
    for path in READS:
        assert api.call("GET", path)[0] in (200, 404), path
    page = api.get("/dashboard")
    assert 'id="readonly"' in page and "admin_token" in page
    assert re.search(r'data-workflow="g-1".*?<button type="submit" disabled', page, re.S)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
@pytest.mark.parametrize("config", [{"admin_token": TOKEN}], indirect=True)
def test_token_auth(dbos: Any, host: str) -> None:
    api = start_admin(TOKEN, host=host)
    paused_queue_with_work(api, "tq", "t-1")
    assert api.get("/dbos-healthz", token=None)["status"] == "healthy"  # probes stay open
    assert "dbos_queue_depth" in api.get("/metrics", token=None)
    for path in READS:
        for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
            code, payload, headers = api.call("GET", path, token=token)
            assert code == 401 and "admin_token" in payload["error"], (path, token)
            assert headers["WWW-Authenticate"].startswith("Bearer")
            assert TOKEN not in json.dumps(payload)
        assert api.call("GET", path)[0] in (200, 404)
    for token in (None, "wrong"):
        for method, path, body in _writes("t-1", "tq"):
            assert api.call(method, path, body, token=token)[0] == 401, (path, token)
        assert api.call("POST", "/dbos-workflow-recovery", ["nobody"], token=token)[0] == 401
        assert (
            api.call("GET", "/queues", token=None, headers={"Authorization": token or ""})[0] == 401
        )
    _unchanged(api, "t-1", "tq")
    assert api.ok("POST", "/dbos-workflow-recovery", ["nobody"]) == []
    assert api.ok("POST", "/workflows/t-1/fork", {"new_workflow_id": "t-1-f"})["workflow_id"]
    assert api.ok("POST", "/workflows/t-1/cancel")["status"] == "CANCELLED"
    assert api.ok("PATCH", "/queues/tq", {"paused": False})["paused"] is False
    assert api.get("/queues", token=None, headers={"Authorization": f"bearer {TOKEN}"}) != []
    quoted = urllib.parse.quote(TOKEN, safe="")
    assert api.get(f"/queues?token={quoted}", token=None) != []
    assert api.call("GET", "/queues?token=nope", token=None)[0] == 401

    # The browser's way in: ?token= once, then an HttpOnly SameSite=Strict cookie.
    code, _, headers = api.call("GET", f"/dashboard?status=ERROR&token={quoted}", token=None)
    assert code == 303 and headers["Location"] == "/dashboard?status=ERROR"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    pair = cookie.split(";")[0]
    code, page, _ = api.call("GET", "/dashboard", token=None, headers={"Cookie": pair})
    assert code == 200 and "<h2>Queues</h2>" in page and TOKEN not in page
    code, _, _ = api.call(
        "GET", "/queues", token=None, headers={"Cookie": "other=1; " + pair + "; more=2"}
    )
    assert code == 200
    bad_cookie = {"Cookie": "dbos_admin_token=wrong"}
    assert api.call("GET", "/queues", token=None, headers=bad_cookie)[0] == 401


@pytest.mark.parametrize("config", [{"admin_token": TOKEN}], indirect=True)
def test_token_is_never_logged(dbos: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, uvicorn's access log included
    api = start_admin(TOKEN)
    quoted = urllib.parse.quote(TOKEN, safe="")
    api.get(f"/workflows?token={quoted}", token=None)
    api.call("GET", f"/dashboard?token={quoted}", token=None)
    api.call("GET", "/workflows?token=wrong-guess", token=None)
    api.call("GET", "/queues", token="another-guess")
    assert api.call("GET", "/nope?token=third-guess")[0] == 404
    admin().stop()
    for secret in (TOKEN, quoted, "wrong-guess", "another-guess", "third-guess"):
        assert secret not in caplog.text
    assert any("admin server on" in r.getMessage() for r in caplog.records)


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
    assert api.get("/queues/formq")["paused"] is True

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
    # A 'next' outside the dashboard is ignored.
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
        "PATCH",
        "/queues/formq",
        raw=b"paused=false",
        ctype="application/x-www-form-urlencoded",
    )
    assert code == 400 and "not valid JSON" in payload["error"]
    # An error goes back to the page too.
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
