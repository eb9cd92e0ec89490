"""Granting an application role the use of the system schema (``DBOS.migrate``).

The migrations run as a privileged role; the application may then connect as a
less privileged one, which needs these grants on the ``dbos`` schema (including
the objects later migrations create, through default privileges).
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from dbos_queue.db import sql as _sql

logger = logging.getLogger("dbos_queue")


def grant_system_schema(url: str, role: str) -> None:
    """Give ``role`` the use of every table, sequence and function of the ``dbos`` schema."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10, prepare_threshold=None) as conn:
        for template in _sql.SYSTEM_SCHEMA_GRANTS:
            statement = sql.SQL(template).format(role=sql.Identifier(role))
            logger.info("%s", statement.as_string(conn))
            conn.execute(statement)
