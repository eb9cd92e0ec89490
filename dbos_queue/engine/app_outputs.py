"""Dropping the application-database checkpoints of steps a rewind re-runs.

A transaction step's output is kept twice: in the system database's
``operation_outputs`` and in the application database (``dbos.transaction_outputs``
for ``@DBOS.transaction``, ``<schema>.datasource_outputs`` for a datasource), which a
replay reads when the first is missing. ``rewind_workflow`` deletes the first from its
``start_step`` on, so, as DBOS 3.4 does for its datasources, the second goes too before
it: otherwise the re-run step would replay its old output instead of running.
A fork needs nothing: its new id has no checkpoints of its own.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from psycopg import sql as pgsql

from dbos_queue.db import sql as _sql
from dbos_queue.engine import transaction as _transaction

# Every datasource made in this process (DBOS's registry.datasources), held weakly.
_datasources: weakref.WeakSet[Any] = weakref.WeakSet()


def register(datasource: Any) -> None:
    """Remember a datasource, so a rewind clears its checkpoints."""
    _datasources.add(datasource)


def forget_all() -> None:
    """Forget every datasource (``DBOS.destroy(destroy_registry=True)``)."""
    _datasources.clear()


def present(rt: Any) -> bool:
    """Whether a rewind by ``rt`` has application-database checkpoints to clear."""
    return _transaction.app_pool(rt) is not None or len(_datasources) > 0


def _libpq_url(datasource: Any) -> str:
    """A datasource's database as a libpq URL (its engine's, without the driver)."""
    url = datasource.engine.url.set(drivername="postgresql")
    return str(url.render_as_string(hide_password=False))


def clear_from(rt: Any, workflow_id: str, start_step: int) -> None:
    """Delete the workflow's application-database checkpoints from ``start_step`` on
    (blocking: run it off the engine loop)."""
    pool = _transaction.app_pool(rt)
    if pool is not None:
        with pool.connection() as conn:
            conn.execute(_sql.APP_TX_OUTPUTS_DELETE_FROM, (workflow_id, start_step))
    for ds in list(_datasources):
        statement = pgsql.SQL(_sql.DATASOURCE_OUTPUTS_DELETE_FROM).format(  # type: ignore[arg-type]
            schema=pgsql.Identifier(ds.schema)
        )
        with psycopg.connect(_libpq_url(ds), autocommit=True, connect_timeout=10) as conn:
            try:
                conn.execute(statement, (workflow_id, start_step))
            except psycopg.errors.UndefinedTable:
                continue  # never migrated: it holds no checkpoints
