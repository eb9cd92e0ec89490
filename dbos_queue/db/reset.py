"""Resetting a system database (``DBOS.reset_system_database``): drop it, or empty it.

Dropping removes the whole database (``DROP DATABASE ... WITH (FORCE)``, asked on the
server's maintenance database), as DBOS does; the next launch or migrate creates it
again. Emptying (``truncate=True``) deletes every row of the schema's tables but the
migration records, so the schema stays migrated; it is best effort, as in DBOS: a
database that is absent or unreachable is logged, not raised.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from dbos_queue.db import sql as _sql
from dbos_queue.model.pgurl import database_name, maintenance_url, normalize

logger = logging.getLogger("dbos_queue")

# Kept when emptying: clearing a version table would re-run the migrations it records.
_KEPT = ("dbos_migrations", "dbos_datasource_migrations")
# Rows migration 0010 seeds (a fleet-wide duty's turn): emptied in place, not deleted.
_RESET_IN_PLACE = "maintenance"


def drop_database(url: str) -> None:
    """Drop the database ``url`` names (nothing when it does not exist).

    Without access to the maintenance database, or when ``url`` names that database
    itself, the dbos schema is dropped instead: what the next launch recreates.
    """
    url = normalize(url)
    name = database_name(url)
    maintenance = maintenance_url(url)
    if name != database_name(maintenance):
        try:
            conn = psycopg.connect(maintenance, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            logger.warning("cannot reach the maintenance database (%s); dropping the schema", exc)
        else:
            with conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            return
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(_sql.DROP_SYSTEM_SCHEMA)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise


def empty_schema(url: str, schema: str) -> None:
    """Delete the rows of every table in ``schema`` but the migration records; warn, not
    raise, when the database cannot be reached or holds no table there."""
    url = normalize(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            _evict_others(conn)
            with conn.transaction():
                _delete_rows(conn, schema)
    except psycopg.Error as exc:
        logger.warning("could not empty system database %s: %s", database_name(url), exc)


def _evict_others(conn: psycopg.Connection[Any]) -> None:
    """End the database's other sessions (as DROP DATABASE ... WITH (FORCE) would), so a
    lock one holds cannot block the deletes; best effort (a role may not signal)."""
    try:
        conn.execute(_sql.TERMINATE_OTHER_BACKENDS)
    except psycopg.Error as exc:
        logger.warning("could not end the other connections before emptying: %s", exc)


def _delete_rows(conn: psycopg.Connection[Any], schema: str) -> None:
    tables = [
        str(row[0])
        for row in conn.execute(_sql.SCHEMA_TABLES, (schema,)).fetchall()
        if row[0] not in _KEPT
    ]
    if not tables:
        logger.warning(
            'found no tables to empty in schema "%s"; if the system database uses another '
            "schema, pass it to reset_system_database(schema=...)",
            schema,
        )
    for table in tables:
        target = sql.Identifier(schema, table)
        if table == _RESET_IN_PLACE:
            conn.execute(sql.SQL(_sql.MAINTENANCE_RESET).format(target))
        else:
            conn.execute(sql.SQL("DELETE FROM {}").format(target))
