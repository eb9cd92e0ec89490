"""The admin HTTP server (default port 3001): health, metrics, recovery.

A small threaded ``http.server`` on its own thread; handlers hand database work
to the engine, so a scrape never runs on the claim loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from ._runtime import Runtime

logger = logging.getLogger("dbos_queue")
Route = Callable[["AdminServer", Dict[str, Any]], Tuple[int, Any]]


class AdminServer:
    """Serves the admin API for one runtime."""

    def __init__(self, rt: "Runtime", host: str, port: int, token: Optional[str] = None) -> None:
        self.rt = rt
        self.token = token
        self.routes: Dict[Tuple[str, str], Route] = {
            ("GET", "/dbos-healthz"): AdminServer.healthz,
            ("GET", "/dbos-perf"): AdminServer.perf,
            ("POST", "/dbos-workflow-recovery"): AdminServer.recovery,
        }
        self.public = {"/dbos-healthz", "/metrics"}
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="dbos-admin",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()
        logger.info("admin server on port %d", self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- routes ----------------------------------------------------------------------

    def healthz(self, _body: Dict[str, Any]) -> Tuple[int, Any]:
        if not self.rt.engine.listener_connected.is_set():
            return 503, {"status": "unhealthy", "reason": "no connection to the system database"}
        return 200, {"status": "healthy"}

    def perf(self, _body: Dict[str, Any]) -> Tuple[int, Any]:
        """Engine loop responsiveness: how long a no-op takes to run on it."""
        start = time.perf_counter()

        async def nop() -> None:
            return None

        self.rt.engine.run(nop(), timeout=5)
        return 200, {"engine_loop_lag_seconds": time.perf_counter() - start,
                     "running_workflows": len(self.rt.running),
                     "queued_running": dict(self.rt.queues.running)}

    def recovery(self, body: Any) -> Tuple[int, Any]:
        if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
            return 400, {"error": "POST a JSON list of executor ids"}
        return 200, self.rt.recover_executors(body)

    # --- plumbing ----------------------------------------------------------------------

    def _handler_class(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                logger.debug("admin: " + fmt, *args)

            def _send(self, code: int, payload: Any, ctype: str = "application/json") -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                if server.token and path not in server.public:
                    if self.headers.get("Authorization") != f"Bearer {server.token}":
                        self._send(401, {"error": "missing or wrong bearer token"})
                        return
                if method == "GET" and path == "/metrics":
                    self._send(200, server.rt.metrics.exposition(), CONTENT_TYPE_LATEST)
                    return
                route = server.routes.get((method, path))
                if route is None:
                    self._send(404, {"error": f"no route {method} {path}"})
                    return
                body: Any = {}
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    try:
                        body = json.loads(self.rfile.read(length))
                    except ValueError:
                        self._send(400, {"error": "body is not valid JSON"})
                        return
                try:
                    code, payload = route(server, body)
                except Exception as exc:  # noqa: BLE001 - report, keep serving
                    logger.exception("admin route %s failed", path)
                    code, payload = 500, {"error": str(exc)}
                self._send(code, payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                self._dispatch("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._dispatch("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._dispatch("PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                self._dispatch("DELETE")

        return Handler
