"""One cached autocommit psycopg connection per URL for the durable-state checks
(the completion poll runs every 10 ms and must not open a backend each time)."""

from __future__ import annotations

from typing import Any

_CONNS: dict[str, Any] = {}


def conn(url: str) -> Any:
    """The cached connection for ``url`` (reconnects if it was closed)."""
    import psycopg

    c = _CONNS.get(url)
    if c is None or c.closed:
        c = _CONNS[url] = psycopg.connect(url, autocommit=True)
    return c


def scalar(url: str, sql: str) -> Any:
    """First column of the first row of ``sql``."""
    return conn(url).execute(sql).fetchone()[0]
