"""Serve the admin app with uvicorn on its own thread and event loop.

The worker process owns its signals (SIGTERM drains), so uvicorn installs no
signal handlers here; nor does it access-log, since a URL may carry ``?token=``.
The listening socket is bound before the thread starts, so a busy port fails the
constructor with ``OSError`` and ``port`` is known at once (0 picks a free one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from dbos_queue.ops.admin.app import build_app
from dbos_queue.ops.admin.auth import Guard
from dbos_queue.ops.admin.handlers import Ctx
from dbos_queue.ops.admin.openapi import document
from dbos_queue.ops.admin.samples import SampleRing

if TYPE_CHECKING:
    from dbos_queue.ops.host import OpsHost

logger = logging.getLogger("dbos_queue")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


class _QuietH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol without access logging (URLs may hold the token)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the process's signals alone and reports startup."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield  # the worker's own handlers (drain on SIGTERM) stay in charge

    def install_signal_handlers(self) -> None:  # older uvicorn releases call this instead
        return None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class AdminServer:
    """The admin API and dashboard of one runtime (see ``dbos_queue.ops.admin``)."""

    def __init__(
        self,
        rt: OpsHost,
        host: str,
        port: int,
        token: str | None = None,
        *,
        sample_interval: float = 5.0,
        sample_keep: int = 120,
    ) -> None:
        self.rt = rt
        self.samples = SampleRing(sample_interval, sample_keep)
        self.sock = bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.guard = Guard(token or None, self.host, self.port)
        self.app = build_app(Ctx(rt, self.guard, self.samples, document()))
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            http=_QuietH11,
            ws="none",
            log_config=None,
            log_level=None,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self.server = _Server(config)
        self.thread = threading.Thread(target=self._serve, name="dbos-admin", daemon=True)

    def _serve(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException:  # SystemExit from a failed startup included
            logger.exception("admin server stopped")
        finally:
            self.server.ready.set()

    def start(self) -> None:
        """Start serving; raises ``RuntimeError`` when uvicorn did not come up."""
        self.thread.start()
        if not self.server.ready.wait(START_TIMEOUT) or not self.server.started:
            self.stop()
            raise RuntimeError(f"admin server did not start on {self.host}:{self.port}")
        mode = (
            "token"
            if self.guard.has_token
            else (
                "no token, loopback: writes open"
                if self.guard.loopback
                else "no token: state-changing routes refused"
            )
        )
        logger.info("admin server on %s:%d (%s)", self.host, self.port, mode)

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(STOP_TIMEOUT)
            if self.thread.is_alive():
                self.server.force_exit = True
                self.thread.join(STOP_TIMEOUT)
        self.sock.close()
