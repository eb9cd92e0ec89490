"""A statement that found no ``dbos`` schema (or an older one): say so, and what to do.

Postgres answers ``relation "dbos.queues" does not exist``, which names neither the
cause (nothing created or migrated the system database: a ``DBOSClient`` never does)
nor the fix. The calls that hand a statement's error back to the user (``Engine.run``,
``Engine.arun``, a client thread's own connection) turn it into
``DBOSSchemaMissingError``; code inside the engine still sees Postgres's own error.
"""

from __future__ import annotations

import psycopg

from dbos_queue.error import DBOSSchemaMissingError

_MISSING = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedColumn,
)
_OURS = ('"dbos.', 'schema "dbos"', "function dbos.", 'relation "dbos"')


def schema_missing(exc: BaseException) -> DBOSSchemaMissingError | None:
    """The error to raise instead of ``exc`` when ``exc`` says an object of the ``dbos``
    schema is missing; None for every other error."""
    if not isinstance(exc, _MISSING):
        return None
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if not any(mark in text for mark in _OURS):
        return None
    return DBOSSchemaMissingError(text)
