"""Rows by name: every statement's result rows are named tuples whose fields are the
statement's column names (``row.workflow_uuid``, ``row.status``), through psycopg's
``namedtuple_row`` factory. Connections the package opens get it as their default;
on a connection somebody else owns (the caller's transaction, ``DBOS.pg_connection``)
our statements run on a cursor of their own with it, and the owner's default is left
alone.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg.rows import namedtuple_row

from dbos_queue.model.records import Row

__all__ = ["ROW_FACTORY", "Row", "named_cursor", "run", "run_async"]

ROW_FACTORY: Final = namedtuple_row


def named_cursor(conn: Any) -> Any:
    """A cursor on a psycopg connection (sync or async) whose rows are named tuples."""
    return conn.cursor(row_factory=namedtuple_row)


def run(conn: Any, query: Any, params: Any = None) -> Any:
    """Execute on a sync psycopg connection owned elsewhere; the cursor, with named rows."""
    return named_cursor(conn).execute(query, params)


async def run_async(conn: Any, query: Any, params: Any = None) -> Any:
    """Execute on an async psycopg connection owned elsewhere; the cursor, with named rows."""
    return await named_cursor(conn).execute(query, params)
