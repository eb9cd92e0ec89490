"""The ``DBOS`` facade: the psycopg connection of the running transaction.

``DBOS.sql_session`` (in ``decorators``) is, as in DBOS, a SQLAlchemy ``Session``;
``DBOS.pg_connection`` is dbos_queue's own name for the same transaction's psycopg
connection (``execute("... %s", (value,))``), for code that writes plain SQL.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.facade.base import classproperty
from dbos_queue.engine import transaction as _transaction


class Transactions:
    """``DBOS`` class members: the running transaction's psycopg connection."""

    @classproperty
    def pg_connection(cls) -> Any:
        """The psycopg connection of the running ``@DBOS.transaction`` (or sync datasource
        transaction): its statements commit with the function's and its checkpoint."""
        return _transaction.current_connection()
