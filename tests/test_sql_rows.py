"""Rows are read by name: every statement of db/sql.py that returns rows names each of
its columns once, with a Python identifier (psycopg's namedtuple rows need that, and a
``?column?`` or a second ``count`` would make a caller fall back to positions).

Each statement is prepared on a migrated system database and its result columns are
described by Postgres itself, so a new statement that returns an unnamed expression
fails here, not in production at its first call.
"""

from __future__ import annotations

import collections
import re

import psycopg
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

from dbos_queue.db import sql as _sql

# Statements on the application database, templates composed with psycopg.sql, and
# fragments spliced into other statements: nothing to prepare on the system database.
NOT_SYSTEM = {
    "RUNS_HERE",
    "APP_TX_OUTPUT_GET",
    "APP_TX_OUTPUT_PUT_ONCE",
    "DATASOURCE_OUTPUT_GET",
    "DATASOURCE_OUTPUT_PUT",
    "DEMO_EFFECTS",
    "PROCEDURE_CALL_FUNCTION",
    "PROCEDURE_CALL_FUNCTION_UNRECORDED",
}
# The names Postgres gives an unnamed expression.
GENERIC_NAMES = {"?column?", "exists", "count", "max", "min", "sum", "array_agg", "text", "bool"}


def _statements() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in dir(_sql):
        value = getattr(_sql, name)
        if name.startswith("_") or not isinstance(value, str) or name in NOT_SYSTEM:
            continue
        if re.search(r"\b(SELECT|RETURNING)\b", value, re.IGNORECASE):
            found[name] = value
    return found


def _columns(conn: psycopg.Connection[object], query: str) -> list[str] | None:
    names = re.findall(r"%\((\w+)\)[sb]", query)  # %b: a binary parameter (arrays)
    positional = len(re.findall(r"%[sb]", query))
    params: object = {n: None for n in names} if names else [None] * positional
    pq = PostgresQuery(Transformer(conn))
    pq.convert(query, params)  # type: ignore[arg-type]
    prepared = conn.pgconn.prepare(b"", pq.query)
    if prepared.error_message:
        if b"operator is not unique" in prepared.error_message:
            return None  # untyped arithmetic on parameters: nothing to describe without values
        raise AssertionError(prepared.error_message.decode())
    res = conn.pgconn.describe_prepared(b"")
    return [res.fname(i).decode() for i in range(res.nfields)]  # type: ignore[union-attr]


def test_every_statement_names_its_columns_once(db_url: str) -> None:
    statements = _statements()
    assert len(statements) > 100  # the module's statements were found
    problems: list[str] = []
    described = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name, query in sorted(statements.items()):
            cols = _columns(conn, query)
            if cols is None:
                continue
            described += 1
            dup = sorted(c for c, k in collections.Counter(cols).items() if k > 1)
            generic = sorted(c for c in cols if c in GENERIC_NAMES or not c.isidentifier())
            if dup or generic:
                problems.append(f"{name}: columns {cols} (repeated {dup}, unnamed {generic})")
    assert described > 100
    assert not problems, "give these columns a name with AS:\n" + "\n".join(problems)
