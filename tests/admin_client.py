"""A client for the admin server in tests: real HTTP (urllib) against a real uvicorn server.

Every response ``Api.call`` receives is checked against the generated OpenAPI
document: its status code must be described for that operation, and a JSON body
must match the schema.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.ops.admin.openapi import document
from dbos_queue.ops.admin.server import AdminServer
from dbos_queue.queue.claim import set_queue_limits
from tests.plugins.waiting import wait_until

SPEC = document()
TOKEN = "s3cret-token/+="

# --- a small JSON-schema checker for the subset pydantic generates ------------------------


def resolve(ref: str) -> Any:
    """The node of the OpenAPI document that ``ref`` (``#/...``) points to."""
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


def _fits(schema: dict[str, Any], value: Any) -> bool:
    try:
        check_schema(schema, value)
    except AssertionError:
        return False
    return True


def _check_number(schema: dict[str, Any], value: Any, where: str) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok in (
            ("minimum", lambda b: value >= b),
            ("maximum", lambda b: value <= b),
            ("exclusiveMinimum", lambda b: value > b),
            ("exclusiveMaximum", lambda b: value < b),
        ):
            if key in schema:
                assert ok(schema[key]), f"{where}: {value} breaks {key} {schema[key]}"
    if isinstance(value, str) and "minLength" in schema:
        assert len(value) >= schema["minLength"], where


def _check_object(schema: dict[str, Any], value: dict[str, Any], where: str) -> None:
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


def check_schema(schema: dict[str, Any], value: Any, where: str = "$") -> None:
    if "$ref" in schema:
        check_schema(resolve(schema["$ref"]), value, where)
    for sub in schema.get("allOf", []):
        check_schema(sub, value, where)
    if "anyOf" in schema:
        assert any(_fits(s, value) for s in schema["anyOf"]), f"{where}: {value!r} fits no anyOf"
    if "oneOf" in schema:
        assert sum(_fits(s, value) for s in schema["oneOf"]) == 1, f"{where}: oneOf"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        assert any(_type_ok(k, value) for k in kinds), f"{where}: {value!r} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    _check_number(schema, value, where)
    if isinstance(value, dict):
        _check_object(schema, value, where)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(schema["items"], item, f"{where}[{i}]")


def _template_rx(template: str) -> re.Pattern[str]:
    parts = [
        "[^/]+" if seg.startswith("{") else re.escape(seg) for seg in template.strip("/").split("/")
    ]
    return re.compile("^/" + "/".join(parts) + "$")


TEMPLATES = [(_template_rx(path), path) for path in SPEC["paths"]]


def template_of(path: str) -> str | None:
    for rx, template in TEMPLATES:
        if rx.match(path):
            return template
    return None


def check_against_spec(method: str, path: str, code: int, ctype: str, payload: Any) -> None:
    template = template_of(path)
    if template is None or method.lower() not in SPEC["paths"][template]:
        return  # 404/405 for unrouted requests: not an operation of the document
    op = SPEC["paths"][template][method.lower()]
    assert str(code) in op["responses"], f"{method} {template} answered {code}, not described"
    content = op["responses"][str(code)].get("content")
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
        payload: Any = (
            json.loads(content) if ct.startswith("application/json") else content.decode()
        )
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


def admin() -> AdminServer:
    """The launched runtime's admin server."""
    server = _rt().admin
    assert isinstance(server, AdminServer)
    return server


def start_admin(token: str | None = None, host: str = "127.0.0.1", **options: Any) -> Api:
    """Start the runtime's admin server on ``host`` (any free port) and a client for it."""
    _rt().start_admin(host, 0, **options)
    return Api(admin().port, token)


def wait_status(api: Api, wf_id: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    """Poll the admin API until ``wf_id`` has status ``wanted``; return its row."""

    def reached() -> dict[str, Any] | None:
        wf = api.get(f"/workflows/{wf_id}")
        return wf if wf["status"] == wanted else None

    return wait_until(reached, timeout, f"{wf_id} to become {wanted}", every=0.05)


def paused_queue_with_work(api: Api, queue: str, wf_id: str) -> Queue:
    """A declared queue, paused, holding one ENQUEUED workflow ``wf_id``."""
    q = Queue(queue)

    @DBOS.workflow(name=f"noop_{queue}")
    def noop() -> None:
        return None

    rt = _rt()
    assert rt.engine.run(set_queue_limits(rt.sysdb, queue, paused=True))
    with SetWorkflowID(wf_id):
        q.enqueue(noop)
    assert api.get(f"/workflows/{wf_id}")["status"] == "ENQUEUED"
    return q
