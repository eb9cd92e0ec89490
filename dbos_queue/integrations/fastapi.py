"""Optional FastAPI integration: ``DBOS(fastapi=app)``.

``DBOS.__init__`` imports this module only when ``fastapi=`` is passed, so
dbos_queue itself never needs fastapi; FastAPI/Starlette are imported lazily
here as well, which keeps this module importable without them.

What ``setup_fastapi`` adds to the app:

* an ASGI middleware that, for every HTTP request, runs the first workflow the
  handler starts (called directly, through ``DBOS.start_workflow[_async]`` or a
  queue) under the request's idempotency key as its workflow id. The key is read
  from the ``dbos-idempotency-key`` header (DBOS's name) or, failing that, from
  ``Idempotency-Key``. A repeated request with the same key therefore returns the
  recorded result instead of running the workflow again. It is the same
  mechanism as ``with SetWorkflowID(key):`` around the handler.
* :func:`get_request` — the current ``starlette.requests.Request`` (headers, url,
  client, ...), readable from the handler and from workflows it runs inline.
* an exception handler turning DBOS errors into JSON responses
  ``{"error": name, "message": ..., "dbos_error": name, "dbos_error_code": code}``
  with these status codes (see :func:`status_code_for`):

  ===============================================  ======
  DBOSNotAuthorizedError                           403
  DBOSNonExistentWorkflowError                     404
  DBOSConflictingWorkflowError,                    409
  DBOSWorkflowConflictIDError, DBOSWorkflowIDInUseError,
  DBOSQueueDeduplicatedError
  DBOSAwaitedWorkflowCancelledError,               409 (the request conflicts with the
  DBOSWorkflowCancelledError                           workflow's state: it was cancelled)
  any other DBOS error                             500
  ===============================================  ======

  An error carrying its own ``status_code`` attribute keeps it. Errors deriving
  from ``BaseException`` (the conflict-id and cancellation errors), which
  Starlette's exception handlers never see, are converted by the middleware. An
  application handler registered for ``DBOSException`` before ``DBOS(fastapi=app)``
  is kept.
* lifespan hooks, as in DBOS Python: when the app has finished its own startup
  (``lifespan.startup.complete``), ``DBOS.launch()`` runs unless DBOS is already
  launched (so an app that launches itself, before serving or inside its own
  lifespan, is left alone); when the app has finished its shutdown,
  ``DBOS.destroy()`` runs (a no-op if the app already destroyed DBOS). A launch
  failure fails the server's startup.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from dbos_queue.engine.context import SetWorkflowID
from dbos_queue.error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSBaseException,
    DBOSConflictingWorkflowError,
    DBOSException,
    DBOSNonExistentWorkflowError,
    DBOSNotAuthorizedError,
    DBOSQueueDeduplicatedError,
    DBOSWorkflowCancelledError,
    DBOSWorkflowConflictIDError,
    DBOSWorkflowIDInUseError,
)

if TYPE_CHECKING:  # pragma: no cover
    from starlette.requests import Request
    from starlette.responses import JSONResponse


logger = logging.getLogger("dbos_queue")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

#: Request headers whose value becomes the workflow id, in order of precedence
#: (ASGI header names are lower case).
IDEMPOTENCY_HEADERS = ("dbos-idempotency-key", "idempotency-key")

_STATUS_CODES: tuple[tuple[type, int], ...] = (
    (DBOSNotAuthorizedError, 403),
    (DBOSNonExistentWorkflowError, 404),
    (DBOSConflictingWorkflowError, 409),
    (DBOSWorkflowConflictIDError, 409),
    (DBOSWorkflowIDInUseError, 409),
    (DBOSQueueDeduplicatedError, 409),
    (DBOSAwaitedWorkflowCancelledError, 409),
    (DBOSWorkflowCancelledError, 409),
)

_current_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "dbos_queue_http_request", default=None
)

_INTEGRATED = "_dbos_queue_fastapi"


def get_request() -> Request | None:
    """The HTTP request being handled here (a ``starlette.requests.Request``), else None.

    Its body cannot be read through this object; the handler owns the body.
    """
    return _current_request.get()


def idempotency_key(headers: Any) -> str | None:
    """The request's idempotency key from ASGI ``scope["headers"]`` (empty values ignored)."""
    found: dict[str, str] = {}
    for name, value in headers or ():
        lname = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name).lower()
        if lname in IDEMPOTENCY_HEADERS and lname not in found:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            if text.strip():
                found[lname] = text.strip()
    for name in IDEMPOTENCY_HEADERS:
        if name in found:
            return found[name]
    return None


def status_code_for(exc: BaseException) -> int:
    """The HTTP status code a DBOS error maps to."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    for cls, status in _STATUS_CODES:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON response for a DBOS error (logged when it is a server error)."""
    from starlette.responses import JSONResponse

    status = status_code_for(exc)
    name = type(exc).__name__
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        message = str(exc)
    code = getattr(exc, "dbos_error_code", None)
    if status >= 500:
        logger.error("request failed with %s: %s", name, message, exc_info=exc)
    return JSONResponse(
        status_code=status,
        content={
            "error": name,
            "message": message,
            "dbos_error": name,
            "dbos_error_code": str(code) if code is not None else None,
        },
    )


async def _dbos_exception_handler(request: Any, exc: Exception) -> JSONResponse:
    return error_response(exc)


class DBOSMiddleware:
    """Pure ASGI middleware (no extra task, so context variables flow to the handler)."""

    def __init__(self, app: Any, launch: Callable[[], None], destroy: Callable[[], None]) -> None:
        self.app = app
        self.launch = launch
        self.destroy = destroy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: lifespan launches/destroys DBOS, HTTP requests get DBOS context."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.requests import Request

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        key = idempotency_key(scope.get("headers"))
        request_token = _current_request.set(Request(scope))
        try:
            try:
                if key is not None:
                    with SetWorkflowID(key):
                        await self.app(scope, receive, tracking_send)
                else:
                    await self.app(scope, receive, tracking_send)
            except DBOSBaseException as exc:
                # Not an Exception: Starlette's exception handlers never see these.
                if started:
                    raise
                await error_response(exc)(scope, receive, send)
        finally:
            _current_request.reset(request_token)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.concurrency import run_in_threadpool

        async def lifespan_send(message: Message) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                # After the app's own startup, as DBOS does: an app that launched DBOS
                # there (or before serving) is already launched and launch() is a no-op.
                # A failure propagates: Starlette then reports lifespan.startup.failed.
                await run_in_threadpool(self.launch)
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                try:
                    await run_in_threadpool(self.destroy)
                except Exception:
                    logger.exception("DBOS.destroy() failed at application shutdown")
                    if kind == "lifespan.shutdown.complete":
                        message = {
                            "type": "lifespan.shutdown.failed",
                            "message": traceback.format_exc(),
                        }
            await send(message)

        await self.app(scope, receive, lifespan_send)


def setup_fastapi(app: Any, *, launch: Callable[[], None], destroy: Callable[[], None]) -> None:
    """Install the middleware, DBOS error handlers and lifespan hooks on ``app`` (once).

    ``launch`` and ``destroy`` are the facade's ``DBOS.launch``/``DBOS.destroy``, handed in
    so that this module does not depend on the facade.
    """
    from dbos_queue.error import DBOSInitializationError

    if getattr(app, _INTEGRATED, False):
        return  # DBOS(fastapi=app) again, e.g. after DBOS.destroy(): already set up
    if not (hasattr(app, "add_middleware") and hasattr(app, "exception_handlers")):
        raise DBOSInitializationError(
            f"DBOS(fastapi=...) needs a FastAPI application, got {type(app).__name__}"
        )
    try:
        app.add_middleware(DBOSMiddleware, launch=launch, destroy=destroy)
    except RuntimeError as exc:
        raise DBOSInitializationError(
            f"Cannot set up the FastAPI integration: {exc}. Call DBOS(fastapi=app, ...) "
            "before the application starts serving."
        ) from exc
    app.exception_handlers.setdefault(DBOSException, _dbos_exception_handler)
    setattr(app, _INTEGRATED, True)


__all__ = [
    "IDEMPOTENCY_HEADERS",
    "DBOSMiddleware",
    "error_response",
    "get_request",
    "idempotency_key",
    "setup_fastapi",
    "status_code_for",
]
