"""Who may call what on the admin server.

Four kinds of route (``Access``):

- ``probe`` (``GET /dbos-healthz``, ``GET /metrics``): always open.
- ``recovery`` (``POST /dbos-workflow-recovery``, DBOS's): open without a token, as in
  DBOS; needs the token when one is configured.
- ``read`` (listings, a workflow's inputs and outputs, the dashboard, the OpenAPI
  document): open without a token; need the token when one is configured.
- ``write`` (cancel, resume, fork, ``PATCH /queues/...``, the dashboard's buttons):
  need the token when one is configured; without one they are refused (403) unless
  the server listens on a loopback address only.

The token is accepted as ``Authorization: Bearer <token>``, as a ``?token=`` query
parameter, or in the ``dbos_admin_token`` cookie that ``GET /dashboard?token=...``
sets (HttpOnly, SameSite=Strict, then a redirect that drops it from the address
bar). It is compared in constant time and never echoed or logged.

On a token-less loopback server the ``Host`` header must name a loopback host too,
so a web page cannot reach the server through DNS rebinding; and whatever the
configuration, a state-changing request that a browser marks as coming from another
site (``Origin``, ``Sec-Fetch-Site``) is refused.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
from urllib.parse import quote, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

TOKEN_COOKIE = "dbos_admin_token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class Access(enum.StrEnum):
    """How a route is guarded (see the module docstring)."""

    PROBE = "probe"
    RECOVERY = "recovery"
    READ = "read"
    WRITE = "write"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of localhost."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _error(code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=code, headers=headers)


class Guard:
    """Decides, per request, whether a route may run."""

    def __init__(self, token: str | None, bound_host: str, port: int) -> None:
        self._token = token.encode() if token else None
        self.loopback = is_loopback(bound_host)
        self.where = f"{bound_host}:{port}"

    @property
    def has_token(self) -> bool:
        """Whether an admin token is configured."""
        return self._token is not None

    @property
    def writes_open(self) -> bool:
        """Whether a request without a token may change state (token-less loopback)."""
        return self._token is None and self.loopback

    def matches(self, given: str | None) -> bool:
        """``given`` is the token (constant time)."""
        return (
            self._token is not None
            and given is not None
            and hmac.compare_digest(given.encode(), self._token)
        )

    def _presented(self, request: Request, query_token: str | None) -> bool:
        auth = request.headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        bearer = value.strip() if scheme.lower() == "bearer" else None
        cookie = request.cookies.get(TOKEN_COOKIE)
        return (
            self.matches(bearer)
            or self.matches(unquote(cookie) if cookie is not None else None)
            or self.matches(query_token)
        )

    def check(self, request: Request, access: Access, query_token: str | None) -> Response | None:
        """None to go on, else the response that ends the request (nothing has run)."""
        if access is Access.PROBE:
            return None
        if self._token is not None:
            if not self._presented(request, query_token):
                return _error(
                    401,
                    "missing or wrong admin token: send 'Authorization: Bearer <admin_token>' "
                    "(in a browser, open /dashboard?token=<admin_token> once)",
                    {"WWW-Authenticate": 'Bearer realm="dbos-admin"'},
                )
        elif self.loopback:
            host = urlsplit("//" + (request.headers.get("host") or "")).hostname or ""
            if not is_loopback(host):
                return _error(
                    403,
                    "this admin server has no admin_token and listens on loopback only, so it "
                    "answers only requests addressed to a loopback host (127.0.0.1, ::1, "
                    "localhost); set admin_token to serve other names",
                )
        elif access is Access.WRITE:
            return _error(
                403,
                f"refused: this admin server listens on {self.where} without an admin_token, "
                "so routes that change state are off. Set admin_token (environment: "
                "DBOS_QUEUE_ADMIN_TOKEN) and send 'Authorization: Bearer <admin_token>', or "
                "bind admin_host to 127.0.0.1",
            )
        if request.method not in ("GET", "HEAD") and cross_site(request):
            return _error(403, "cross-site request refused")
        return None

    def cookie_handoff(self, request: Request, query_token: str | None) -> Response | None:
        """``GET /dashboard?token=...``: set the cookie and redirect to the URL without it."""
        if self._token is None or not self.matches(query_token):
            return None
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        location = "/dashboard" + (f"?{rest}" if rest else "")
        cookie = (
            f"{TOKEN_COOKIE}={quote(self._token.decode(), safe='')}; Path=/; "
            "HttpOnly; SameSite=Strict"
        )
        return JSONResponse(
            {"location": location},
            status_code=303,
            headers={"Location": location, "Set-Cookie": cookie, "Cache-Control": "no-store"},
        )


def cross_site(request: Request) -> bool:
    """A browser request from another site (CSRF)."""
    if (request.headers.get("sec-fetch-site") or "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != (request.headers.get("host") or "")
