"""``DBOS.migrate`` and ``run_dbos_database_migrations``: create or migrate the system
database from a deployment step, with a privileged role, before any process launches.

As in DBOS 3.4.0 they touch the system database only: a datasource's outputs table is
created by ``SQLAlchemyDatasource.migrate`` (or when the datasource is created), and
the DBOS 2.x application database's table when ``DBOS.launch`` opens it.
"""

from __future__ import annotations

from dbos_queue.db import grants as _grants
from dbos_queue.db import migrate as _migrate
from dbos_queue.error import DBOSException


def migrate_system_database(
    system_database_url: str,
    *,
    schema: str = "dbos",
    application_role: str | None = None,
    sharding: bool = False,
) -> None:
    """Create the system database if it is missing, apply every pending migration, and
    with ``application_role`` grant that role the use of the system schema."""
    if system_database_url.startswith("sqlite"):
        raise DBOSException("dbos_queue's system database is Postgres; SQLite is not supported")
    if schema != "dbos":
        raise DBOSException(
            f"schema={schema!r}: dbos_queue keeps its tables in the schema 'dbos'; "
            "leave schema unset"
        )
    if sharding:
        raise DBOSException(
            "sharding=True: dbos_queue's system database is one Postgres database, "
            "not sharded (see docs/compat.md)"
        )
    _migrate.ensure_database(system_database_url)
    _migrate.migrate(system_database_url)
    if application_role:
        _grants.grant_system_schema(system_database_url, application_role)


def run_dbos_database_migrations(
    system_database_url: str,
    *,
    schema: str = "dbos",
    application_role: str | None = None,
    sharding: bool = False,
) -> None:
    """``DBOS.migrate`` for a command line: a failure is printed as "DBOS migrations
    failed: ..." and exits with status 1 (``click.exceptions.Exit``), as in DBOS."""
    import click

    try:
        migrate_system_database(
            system_database_url,
            schema=schema,
            application_role=application_role,
            sharding=sharding,
        )
    except Exception as e:
        click.echo(f"DBOS migrations failed: {e}")
        raise click.exceptions.Exit(code=1) from e
