"""Every DML statement dbos_queue runs, as named constants.

DDL lives in ``migrations/``. Statements take positional ``%s`` parameters in
the order their comment gives. Writes on a workflow that a process executes are
*fenced*: they name the ``owner_xid`` token the writer was given when it started
or claimed the workflow, and touch nothing when another execution owns it now.
"""

from __future__ import annotations

# --- migrations -------------------------------------------------------------

# One lock id for the whole schema; transaction-scoped so PgBouncer in
# transaction mode cannot leak it.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(4735032143901385)"
MIGRATIONS_TABLE = (
    "CREATE SCHEMA IF NOT EXISTS dbos;"
    " CREATE TABLE IF NOT EXISTS dbos.dbos_migrations (version bigint PRIMARY KEY)"
)
MIGRATIONS_APPLIED = "SELECT version FROM dbos.dbos_migrations"
MIGRATION_RECORD = "INSERT INTO dbos.dbos_migrations (version) VALUES (%s)"
MIGRATIONS_CURRENT = "SELECT max(version) FROM dbos.dbos_migrations"
