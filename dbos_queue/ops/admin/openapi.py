"""The OpenAPI 3.1 document of the admin API, generated from ``spec.ENDPOINTS``.

Schemas come from the pydantic models in ``models.py`` (request bodies and query
strings in validation mode, answers in serialization mode), so the document
describes exactly what the server validates and sends.
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from typing import Any

from pydantic import TypeAdapter

from dbos_queue.ops.admin import models as m
from dbos_queue.ops.admin.auth import TOKEN_COOKIE, Access
from dbos_queue.ops.admin.spec import ENDPOINTS, JSON, Endpoint, Reply

REF = "#/components/schemas/{model}"
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}, {"queryToken": []}]
INFO = (
    "The admin server of a dbos_queue worker (default port 3001, config admin_port and "
    "admin_host). Errors are JSON objects with an 'error' field.\n\n"
    "Auth: GET /dbos-healthz and GET /metrics are always open. With admin_token set, every "
    "other route needs it (Authorization: Bearer <token>, ?token=, or the dashboard's "
    "cookie) and answers 401 without it. Without admin_token, routes that change state "
    "(x-dbos-access: write) answer 403 unless the server listens on loopback only; reads "
    "and POST /dbos-workflow-recovery stay open."
)
COMMON = {
    401: "admin_token is configured and the request did not carry it (nothing changed)",
    403: "Refused: a state-changing request without admin_token on a non-loopback server, "
    "or a cross-site browser request (nothing changed)",
}


def _version() -> str:
    try:
        return metadata.version("dbos-queue")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


Schemas = dict[tuple[str, str], Any]


def _schemas() -> tuple[Schemas, dict[str, Any]]:
    """Every body and answer schema at once, so shared models get one component each."""
    inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []
    for e in ENDPOINTS:
        if e.body is not None:
            inputs.append(((e.name, "body"), "validation", TypeAdapter(e.body)))
        if e.query is not None:
            inputs.append(((e.name, "query"), "validation", TypeAdapter(e.query)))
        for code, reply in e.responses.items():
            if reply.model is not None:
                key = (e.name, str(code))
                inputs.append((key, "serialization", TypeAdapter(reply.model)))
    inputs.append((("_", "error"), "serialization", TypeAdapter(m.ErrorBody)))
    found, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return {k: v for (k, _mode), v in found.items()}, defs.get("$defs", {})


def _deref(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return components[ref.rsplit("/", 1)[1]] if ref else schema


def _parameters(e: Endpoint, schemas: Schemas, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "Percent-encoded (a '/' in an id is %2F).",
        }
        for name in re.findall(r"{([^}]+)}", e.path)
    ]
    if e.query is not None:
        model = _deref(schemas[(e.name, "query")], components)
        for name, prop in model["properties"].items():
            prop = dict(prop)
            description = prop.pop("description", None)
            param: dict[str, Any] = {"name": name, "in": "query", "required": False}
            if description:
                param["description"] = description
            param["schema"] = prop
            params.append(param)
    return params


def _content(reply: Reply, schema: Any) -> dict[str, Any]:
    return {reply.media: {"schema": schema if schema is not None else {"type": "string"}}}


def _responses(e: Endpoint, schemas: Schemas) -> dict[str, Any]:
    error = {JSON: {"schema": {"$ref": REF.format(model="ErrorBody")}}}
    out: dict[str, Any] = {}
    for code, reply in sorted(e.responses.items()):
        item: dict[str, Any] = {"description": reply.description}
        if reply.model is not None:
            item["content"] = _content(reply, schemas.get((e.name, str(code))))
        out[str(code)] = item
    extra = dict(COMMON) if e.access is not Access.PROBE else {}
    if e.body is not None:
        extra.setdefault(400, "Invalid body")
        extra[413] = "Body larger than 1 MiB"
    extra[500] = "Unexpected failure (logged by the worker)"
    for code, description in extra.items():
        if str(code) not in out:
            out[str(code)] = {"description": description, "content": error}
    return dict(sorted(out.items()))


def _operation(e: Endpoint, schemas: Schemas, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": e.name,
        "summary": e.summary,
        "tags": [e.tag],
        "x-dbos-access": e.access.value,
        "security": [] if e.access is Access.PROBE else SECURITY,
    }
    if e.description:
        op["description"] = e.description
    params = _parameters(e, schemas, components)
    if params:
        op["parameters"] = params
    if e.body is not None:
        content: dict[str, Any] = {JSON: {"schema": schemas[(e.name, "body")]}}
        if e.form:
            content["application/x-www-form-urlencoded"] = {
                "schema": {
                    "type": "object",
                    "properties": {"next": {"type": "string", "description": "Dashboard URL"}},
                }
            }
        op["requestBody"] = {"required": False, "content": content}
    op["responses"] = _responses(e, schemas)
    return op


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once; treat it as read-only)."""
    schemas, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, schemas, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "dbos_queue admin API", "version": _version(), "description": INFO},
        "tags": [
            {"name": "operations", "description": "Health, metrics, recovery, documents"},
            {"name": "workflows", "description": "List, inspect, cancel, resume, fork"},
            {"name": "queues", "description": "Limits and live counts"},
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": TOKEN_COOKIE},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }
