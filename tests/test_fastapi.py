"""The FastAPI integration, ``DBOS(fastapi=app)``, against the test's own database.

Every test serves its app with a real uvicorn server on 127.0.0.1 (port chosen by
the OS) in a thread, lifespan included, and talks to it over HTTP with httpx.
(``starlette.testclient`` is avoided: with httpx instead of httpx2 installed,
Starlette 1.x warns on importing it, and warnings are errors in this suite.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from dbos_queue import DBOS, DBOSContextSetAuth, Queue, SetEnqueueOptions
from dbos_queue.error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSConflictingWorkflowError,
    DBOSException,
    DBOSNonExistentWorkflowError,
    DBOSNotAuthorizedError,
    DBOSQueueDeduplicatedError,
    DBOSWorkflowConflictIDError,
)
from dbos_queue.integrations.fastapi import (
    DBOSMiddleware,
    get_request,
    idempotency_key,
    setup_fastapi,
    status_code_for,
)
from tests.plugins.checks import must
from tests.plugins.waiting import wait_until


@pytest.fixture
def app(config: dict[str, Any]) -> Iterator[FastAPI]:
    """A FastAPI app with DBOS configured on it (not launched: the lifespan launches it)."""
    DBOS.destroy(destroy_registry=True)
    application = FastAPI()
    DBOS(fastapi=application, config=config)
    yield application
    DBOS.destroy(destroy_registry=True)


def _not_launched() -> bool:
    try:
        DBOS.get_workflow_status("nothing")
    except DBOSException as exc:
        return "not launched" in str(exc)
    return False


class _Server:
    """uvicorn serving ``app`` on 127.0.0.1 (port chosen by the OS) in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, lifespan="on", log_level="warning", ws="none", http="h11", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.exit_code: Any = None
        self.thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except SystemExit as exc:  # uvicorn exits with 3 when the app's startup fails
            self.exit_code = exc.code

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Server:
        self.thread.start()

        def started() -> bool:
            if self.server.started:
                return True
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn stopped during startup ({self.exit_code})")
            return False

        try:
            wait_until(started, 30, "uvicorn to start", every=0.02)
        except BaseException:
            self.__exit__()
            raise
        return self

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    """Serve ``app`` (its lifespan launches and destroys DBOS); yield a client for it."""
    with _Server(app) as server, server.client() as client:
        yield client


def test_idempotency_key_concurrent_requests_run_workflow_once_and_lifespan_manages_dbos(app):
    runs = []
    gate = threading.Event()

    @DBOS.step()
    def charge(order: str) -> str:
        gate.wait(10)
        return f"charged-{order}"

    @DBOS.workflow()
    def checkout(order: str) -> dict[str, Any]:
        runs.append(DBOS.workflow_id)
        return {"receipt": charge(order), "workflow_id": DBOS.workflow_id}

    @app.post("/checkout/{order}")
    def checkout_endpoint(order: str) -> dict[str, Any]:
        return checkout(order)

    assert _not_launched()
    with _Server(app) as server:
        assert not _not_launched()  # the lifespan launched DBOS
        headers = {"dbos-idempotency-key": "order-42-key"}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # The same key twice at once, then once more: one execution, one result.
            with ThreadPoolExecutor(2) as pool:
                futures = [
                    pool.submit(client.post, "/checkout/42", headers=headers) for _ in range(2)
                ]
                # Nothing marks the second request's arrival: a short pause lets both be in
                # flight before the first one's step may finish.
                time.sleep(0.3)
                gate.set()
                first, second = [f.result(timeout=30) for f in futures]
            third = client.post("/checkout/42", headers=headers)
            other = client.post("/checkout/43")
        expected = {"receipt": "charged-42", "workflow_id": "order-42-key"}
        assert first.status_code == second.status_code == third.status_code == 200
        assert first.json() == second.json() == third.json() == expected
        assert runs == ["order-42-key", other.json()["workflow_id"]]
        assert other.json()["workflow_id"] != "order-42-key"
        status = DBOS.get_workflow_status("order-42-key")
        assert status is not None and status.status == "SUCCESS"
        assert status.output == expected
    assert _not_launched()  # the lifespan destroyed DBOS at shutdown


def test_same_key_twice_returns_recorded_result_and_id_is_the_key(app):
    runs = []

    @DBOS.workflow()
    def double(x: int) -> int:
        runs.append(x)
        return 2 * x

    @app.post("/double/{x}")
    def double_endpoint(x: int) -> dict[str, Any]:
        return {"result": double(x), "started": DBOS.get_workflow_status("k-1") is not None}

    with serving(app) as client:
        r1 = client.post("/double/21", headers={"dbos-idempotency-key": "k-1"})
        r2 = client.post("/double/21", headers={"dbos-idempotency-key": "k-1"})
        assert r1.status_code == r2.status_code == 200
        assert r1.json() == r2.json() == {"result": 42, "started": True}
        assert runs == [21]
        status = must(DBOS.get_workflow_status("k-1"))
        assert status.workflow_id == "k-1" and status.status == "SUCCESS" and status.output == 42
        # Without a key each request is a new workflow.
        assert client.post("/double/1").json()["result"] == 2
        assert client.post("/double/1").json()["result"] == 2
        assert runs == [21, 1, 1]


def test_idempotency_key_header_alias_and_first_workflow_only(app):
    @DBOS.workflow()
    def ident() -> str:
        return must(DBOS.workflow_id)

    @app.post("/two")
    def two() -> dict[str, Any]:
        first = DBOS.start_workflow(ident)
        second = DBOS.start_workflow(ident)
        return {"first": first.get_result(), "second": second.get_result()}

    with serving(app) as client:
        body = client.post("/two", headers={"Idempotency-Key": "alias-key"}).json()
        assert body["first"] == "alias-key" and body["second"] != "alias-key"
        # DBOS's own header wins over the alias.
        body = client.post(
            "/two", headers={"Idempotency-Key": "ignored", "DBOS-Idempotency-Key": "dbos-key"}
        ).json()
        assert body["first"] == "dbos-key"
        assert DBOS.get_workflow_status("ignored") is None


def test_async_handler_and_async_workflow_use_the_key(app):
    runs = []

    @DBOS.workflow()
    async def greet(name: str) -> str:
        runs.append(name)
        return f"hello {name} from {DBOS.workflow_id}"

    @app.get("/greet/{name}")
    async def greet_endpoint(name: str) -> dict[str, Any]:
        handle = await DBOS.start_workflow_async(greet, name)
        return {"result": await handle.get_result()}

    with serving(app) as client:
        for _ in range(2):
            r = client.get("/greet/ann", headers={"dbos-idempotency-key": "greet-ann"})
            assert r.status_code == 200
            assert r.json() == {"result": "hello ann from greet-ann"}
        assert runs == ["ann"]


def test_required_roles_without_auth_is_403(app):
    @DBOS.required_roles(["admin"])
    @DBOS.workflow()
    def admin_only() -> str:
        return "secret"

    @app.get("/admin")
    def admin(request: Request) -> dict[str, Any]:
        role = request.headers.get("x-role")
        if role is None:
            return {"result": admin_only()}
        with DBOSContextSetAuth("alice", [role]):
            return {"result": admin_only()}

    with serving(app) as client:
        r = client.get("/admin")
        assert r.status_code == 403
        body = r.json()
        assert body["error"] == body["dbos_error"] == "DBOSNotAuthorizedError"
        assert "requires a role" in body["message"]
        assert body["dbos_error_code"] == "8"
        assert client.get("/admin", headers={"x-role": "guest"}).status_code == 403
        ok = client.get("/admin", headers={"x-role": "admin"})
        assert ok.status_code == 200 and ok.json() == {"result": "secret"}


def test_unknown_workflow_is_404_and_other_errors_map(app):
    @DBOS.workflow()
    def wf_a() -> str:
        return "a"

    @DBOS.workflow()
    def wf_b() -> str:
        return "b"

    later = Queue("fastapi-later")

    @DBOS.workflow()
    def never_runs() -> None:
        raise AssertionError("a delayed workflow ran")

    @app.get("/workflows/{wid}")
    def get_workflow(wid: str) -> dict[str, Any]:
        return {"status": DBOS.retrieve_workflow(wid).get_status().status}

    @app.post("/a")
    def run_a() -> str:
        return wf_a()

    @app.post("/b")
    def run_b() -> str:
        return wf_b()

    @app.post("/cancelled")
    def cancelled() -> Any:
        # Delayed, then cancelled: it never runs (no workflow is left running at shutdown).
        with SetEnqueueOptions(delay_seconds=600):
            handle = later.enqueue(never_runs)
        DBOS.cancel_workflow(handle.workflow_id)
        return handle.get_result()

    @app.post("/dedup")
    def dedup() -> str:
        with SetEnqueueOptions(delay_seconds=600, deduplication_id="once"):
            return later.enqueue(never_runs).workflow_id

    @app.get("/conflict-id")
    def conflict_id() -> None:
        raise DBOSWorkflowConflictIDError("wf-x")  # a BaseException: handled by the middleware

    @app.get("/broken")
    def broken() -> None:
        raise DBOSException("something broke")

    with serving(app) as client:
        r = client.get("/workflows/no-such-workflow")
        assert r.status_code == 404
        assert r.json()["error"] == "DBOSNonExistentWorkflowError"
        assert client.post("/a", headers={"dbos-idempotency-key": "shared"}).json() == "a"
        assert client.get("/workflows/shared").json() == {"status": "SUCCESS"}
        r = client.post("/b", headers={"dbos-idempotency-key": "shared"})
        assert r.status_code == 409 and r.json()["error"] == "DBOSConflictingWorkflowError"
        r = client.post("/cancelled")
        assert r.status_code == 409 and r.json()["error"] == "DBOSAwaitedWorkflowCancelledError"
        assert client.post("/dedup").status_code == 200
        r = client.post("/dedup")
        assert r.status_code == 409 and r.json()["error"] == "DBOSQueueDeduplicatedError"
        r = client.get("/conflict-id")
        assert r.status_code == 409 and r.json()["error"] == "DBOSWorkflowConflictIDError"
        r = client.get("/broken")
        assert r.status_code == 500
        assert r.json() == {
            "error": "DBOSException",
            "message": "something broke",
            "dbos_error": "DBOSException",
            "dbos_error_code": None,
        }


def test_status_code_table():
    assert status_code_for(DBOSNotAuthorizedError("no")) == 403
    assert status_code_for(DBOSNonExistentWorkflowError("x")) == 404
    assert status_code_for(DBOSConflictingWorkflowError("x", "y")) == 409
    assert status_code_for(DBOSWorkflowConflictIDError("x")) == 409
    assert status_code_for(DBOSQueueDeduplicatedError("x", "q", "d")) == 409
    assert status_code_for(DBOSAwaitedWorkflowCancelledError("x")) == 409
    assert status_code_for(DBOSException("x")) == 500
    assert idempotency_key([(b"idempotency-key", b" a "), (b"dbos-idempotency-key", b"b")]) == "b"
    assert idempotency_key([(b"dbos-idempotency-key", b""), (b"idempotency-key", b"a")]) == "a"
    assert idempotency_key([(b"content-type", b"x")]) is None


def test_setup_is_idempotent_and_keeps_the_apps_own_dbos_error_handler():
    application = FastAPI()

    async def mine(request: Any, exc: Exception) -> Any:
        raise NotImplementedError

    application.add_exception_handler(DBOSException, mine)
    setup_fastapi(application, launch=DBOS.launch, destroy=DBOS.destroy)
    setup_fastapi(application, launch=DBOS.launch, destroy=DBOS.destroy)
    assert [m.cls for m in application.user_middleware] == [DBOSMiddleware]
    assert application.exception_handlers[DBOSException] is mine


def test_request_info_is_available_in_handler_and_workflow(app):
    @DBOS.workflow()
    def who() -> dict[str, Any]:
        req = must(get_request())
        return {"path": req.url.path, "agent": req.headers.get("user-agent")}

    @app.get("/who")
    def who_endpoint() -> dict[str, Any]:
        return {"workflow": who(), "method": must(get_request()).method}

    with serving(app) as client:
        body = client.get("/who", headers={"user-agent": "tester/1"}).json()
        assert body == {"workflow": {"path": "/who", "agent": "tester/1"}, "method": "GET"}
    assert get_request() is None


def test_app_that_launches_itself(app, config):
    events = []

    @asynccontextmanager
    async def lifespan(application: FastAPI):
        DBOS.launch()  # the app launches DBOS in its own startup ...
        events.append("started")
        yield
        events.append("stopping")  # ... and DBOS is still usable in its shutdown

    app.router.lifespan_context = lifespan

    @DBOS.workflow()
    def ping() -> str:
        return "pong"

    @app.get("/ping")
    def ping_endpoint() -> str:
        return ping()

    with serving(app) as client:
        assert client.get("/ping", headers={"dbos-idempotency-key": "p"}).json() == "pong"
        assert must(DBOS.get_workflow_status("p")).status == "SUCCESS"
    assert events == ["started", "stopping"]
    assert _not_launched()

    # Launched before serving: the lifespan leaves it launched and serves with it.
    DBOS.destroy(destroy_registry=False)
    DBOS(fastapi=app, config=config)
    DBOS.launch()
    with serving(app) as client:
        assert client.get("/ping").json() == "pong"
        assert must(DBOS.get_workflow_status("p")).status == "SUCCESS"  # same database
    assert _not_launched()


def test_launch_failure_fails_startup(config):
    DBOS.destroy(destroy_registry=True)
    application = FastAPI()
    DBOS(
        fastapi=application,
        config=dict(
            config,
            system_database_url=("postgresql://nobody:wrong@127.0.0.1:1/none?connect_timeout=2"),
        ),
    )
    try:
        with pytest.raises(RuntimeError, match="stopped during startup"):
            with _Server(application):
                pass
        assert _not_launched()
    finally:
        DBOS.destroy(destroy_registry=True)
