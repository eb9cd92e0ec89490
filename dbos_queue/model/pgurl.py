"""Small helpers to read and rewrite Postgres connection URLs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg.conninfo


def _is_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def normalize(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+psycopg://`` too; return a libpq URL."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def database_name(url: str) -> str:
    """The database a URL connects to (``postgres`` when it names none, as libpq does)."""
    url = normalize(url)
    return str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "postgres")


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    url = normalize(url)
    if _is_url(url):
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def maintenance_url(url: str) -> str:
    """URL of the ``postgres`` database on the same server, for CREATE/DROP DATABASE."""
    return with_database(url, "postgres")


def with_params(url: str, **params: str) -> str:
    """The same URL with connection parameters added or replaced (URL or key=value form)."""
    url = normalize(url)
    if _is_url(url):
        parts = urlsplit(url)
        q = dict(parse_qsl(parts.query))
        q.update(params)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))
    return psycopg.conninfo.make_conninfo(url, **params)


def redact(url: str) -> str:
    """The URL with any password replaced, safe to print or log."""
    url = normalize(url)
    if _is_url(url):
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
            return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return url
    d = psycopg.conninfo.conninfo_to_dict(url)
    if "password" in d:
        d["password"] = "***"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in d.items()})
