"""The admin API as a Starlette application, built from ``spec.ENDPOINTS``.

Per request: route (404/405 as JSON), guard (``auth.Guard``), validate the query
and body with the route's pydantic models (400 naming what was wrong), run the
handler, and pass a JSON answer through the route's response model. Path
parameters are matched on the raw path and then percent-decoded, so a workflow id
containing "/" is addressed as %2F.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import types
import typing
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dbos_queue.ops.admin import handlers, models
from dbos_queue.ops.admin.handlers import ApiError, Call, Ctx
from dbos_queue.ops.admin.samples import sample_forever
from dbos_queue.ops.admin.spec import Endpoint, by_path

logger = logging.getLogger("dbos_queue")
MAX_BODY = 1 << 20
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
FORM = "application/x-www-form-urlencoded"
NEXT_PAGE = re.compile(r"/dashboard(\?[^\s\\]*)?")


class RawPathRouting:
    """Route on the still percent-encoded path (``%2F`` inside an id stays one segment)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: hand the request on with its raw path as ``path``."""
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw:
            scope = {**scope, "decoded_path": scope["path"], "path": raw.decode("latin-1")}
        await self.app(scope, receive, send)


def _error(code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=code, headers=headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        path = request.scope.get("decoded_path", request.url.path)
        return _error(404, f"no route {request.method} {path}")
    return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))


@functools.cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


@functools.cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    """The query fields that take several values (``list[...] | None``)."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        kinds: list[Any] = [info.annotation]
        if isinstance(info.annotation, types.UnionType) or typing.get_origin(info.annotation) in (
            typing.Union,
        ):
            kinds = list(typing.get_args(info.annotation))
        if any(typing.get_origin(k) is list for k in kinds):
            out.add(name)
    return frozenset(out)


def _query(ep: Endpoint, request: Request) -> Any:
    if ep.query is None:
        return None
    listed = _list_fields(ep.query)
    raw: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key == "token":
            continue  # the admin token, already checked by the guard
        if key in listed:
            parts = [p.strip() for p in value.split(",") if p.strip()]
            raw.setdefault(key, []).extend(parts)
        else:
            raw[key] = value
    raw = {k: v for k, v in raw.items() if v not in ("", [])}
    try:
        return ep.query.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(400, models.explain(exc, ep.query, "query parameter")) from None


async def _read(request: Request) -> bytes:
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise ApiError(400, "bad Content-Length") from None
    if length > MAX_BODY:
        raise ApiError(413, f"body larger than {MAX_BODY} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise ApiError(413, f"body larger than {MAX_BODY} bytes")
    return bytes(data)


def _is_list(model: type[BaseModel]) -> bool:
    return issubclass(model, models.RootModel)


async def _body(ep: Endpoint, request: Request) -> tuple[Any, str | None]:
    """(the validated body, the dashboard page to go back to when it was a form post)."""
    model = ep.body
    if model is None:
        return None, None
    raw = await _read(request)
    text = raw.strip()
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    back = None
    # A dashboard form (never empty: it carries 'next'). Elsewhere, and for JSON sent
    # with a form content type (urllib's and curl -d's default), the body is JSON.
    if ep.form and ctype == FORM and text and text[:1] not in (b"{", b"["):
        try:
            fields = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            raise ApiError(400, "form body is not UTF-8") from None
        candidate = fields.pop("next", "")
        back = candidate if NEXT_PAGE.fullmatch(candidate) else "/dashboard"
        value: Any = fields
    elif not text:
        value = None if _is_list(model) else {}
    else:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(value), back
    except ValidationError as exc:
        raise ApiError(400, models.explain(exc, model)) from None


def _json(ep: Endpoint, code: int, payload: Any) -> Response:
    reply = ep.responses.get(code)
    model = reply.model if reply is not None and reply.model is not None else None
    if code >= 400 and model is None:
        model = models.ErrorBody
    if model is None:
        return JSONResponse(payload, status_code=code)
    adapter = _adapter(model)
    try:
        data = adapter.dump_python(
            adapter.validate_python(payload), mode="json", exclude_unset=True
        )
    except ValidationError:
        logger.exception("admin route %s %s: answer does not fit its model", ep.method, ep.path)
        return _error(500, f"{ep.name} produced an answer that does not fit its schema")
    return JSONResponse(data, status_code=code)


def _back(page: str, call_path: str, params: dict[str, str], code: int, payload: Any) -> Response:
    """A dashboard form's answer: 303 back to the page, with the outcome to show."""
    if code < 400:
        verb = call_path.rstrip("/").rsplit("/", 1)[-1]
        now = payload.get("status") or (
            f"forked as {payload['workflow_id']}" if "forked_from" in payload else "done"
        )
        outcome = ("notice", f"{verb}: {params.get('workflow_id', '')} is now {now}")
    else:
        outcome = ("error", str(payload.get("error", code)))
    location = page + ("&" if "?" in page else "?") + urlencode([outcome])
    return JSONResponse({"location": location}, status_code=303, headers={"Location": location})


async def _run(ctx: Ctx, ep: Endpoint, request: Request) -> Response:
    params = {k: unquote(v) for k, v in request.path_params.items()}
    back = None
    try:
        call = Call(request, params, query=_query(ep, request))
        call.body, back = await _body(ep, request)
        call.form = back is not None
        code, payload = await getattr(handlers, ep.name)(ctx, call)
    except ApiError as exc:
        code, payload = exc.code, exc.payload
    except Exception as exc:
        logger.exception("admin route %s %s failed", ep.method, ep.path)
        code, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
    if back is not None:
        return _back(back, request.scope.get("decoded_path", ""), params, code, payload)
    if isinstance(payload, Response):
        return payload
    return _json(ep, code, payload)


def _endpoint(ctx: Ctx | None, methods: dict[str, Endpoint]) -> Any:
    allow = ", ".join(sorted(methods))

    async def endpoint(request: Request) -> Response:
        ep = methods.get(request.method)
        if ep is None:
            path = request.scope.get("decoded_path", request.url.path)
            return _error(
                405, f"{request.method} is not allowed on {path}; use {allow}", {"Allow": allow}
            )
        assert ctx is not None, "app built without a context"
        query_token = request.query_params.getlist("token")[-1:] or [None]
        denied = ctx.guard.check(request, ep.access, query_token[0])
        if denied is not None:
            return denied
        if ep.name == "dashboard":
            handoff = ctx.guard.cookie_handoff(request, query_token[0])
            if handoff is not None:
                return handoff
        return await _run(ctx, ep, request)

    return endpoint


def build_app(ctx: Ctx | None) -> Starlette:
    """The application; ``ctx`` None builds the routing table only (for inspection)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncGenerator[None]:
        task = None
        if ctx is not None:
            task = asyncio.create_task(
                sample_forever(ctx.rt.engine, ctx.rt.sysdb, ctx.samples), name="dbos-admin-samples"
            )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    routes = [
        Route(path, _endpoint(ctx, methods), methods=METHODS, name=path)
        for path, methods in by_path().items()
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RawPathRouting)],
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    return app
