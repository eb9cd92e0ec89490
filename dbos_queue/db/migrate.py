"""Forward-only schema migrations, applied under a transaction-level advisory lock.

The SQL files live in ``migrations/`` at the repository root and are shipped
inside the wheel as ``dbos_queue/migrations``. Each file ``NNNN_name.sql`` is
applied once, in order, in one transaction together with its row in
``dbos.dbos_migrations``; many processes may call :func:`migrate` at once.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from dbos_queue.db import sql as _sql
from dbos_queue.db.rows import ROW_FACTORY, Row
from dbos_queue.model.pgurl import database_name, maintenance_url

_FILE_RE = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


def migrations_dir() -> Path:
    """The folder holding the SQL files: inside the wheel, or the repository's."""
    packaged = resources.files("dbos_queue") / "migrations"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[2] / "migrations"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("dbos_queue migrations folder not found; the install is broken")


def available() -> list[tuple[int, Path]]:
    """All migration files, in version order."""
    out: list[tuple[int, Path]] = []
    for p in migrations_dir().iterdir():
        m = _FILE_RE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_version() -> int:
    """The number of the newest migration this install ships (the schema it expects)."""
    return available()[-1][0]


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (race-safe).

    Asked on the maintenance database first: through PgBouncer a connection to a missing
    database hangs until its timeout instead of failing with "does not exist" (and makes
    the pooler back off logging in to it). Without access to the maintenance database,
    connecting to ``url`` itself decides.
    """
    name = database_name(url)
    try:
        with _connect(maintenance_url(url)) as conn:
            row: Row | None = conn.execute(_sql.DATABASE_EXISTS, (name,)).fetchone()
            if row is not None and row.found:
                return
            _create(conn, name)
            return
    except psycopg.OperationalError:
        pass  # no maintenance database for us: try the database itself
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=10) as conn:
        _create(conn, name)


def _create(conn: psycopg.Connection[Any], name: str) -> None:
    try:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
        pass  # created by a concurrent launch


def prepare(url: str, *, pooled: bool) -> list[int]:
    """``ensure_database`` and ``migrate`` for a launch; returns the versions applied.

    Connected straight to Postgres (``pooled=False``), one session decides it when the
    database exists and its schema is current, as at every launch but the first: a
    fleet of 16 launching together paid a maintenance-database session and a second
    session each for this (issue 12's launch probe). A missing database is then a
    "does not exist" error, and only that case asks the maintenance database. Through
    a pooler (``pooled=True``) a missing database hangs instead of failing, so the
    maintenance database is asked first, as ``ensure_database`` does.
    """
    if pooled:
        ensure_database(url)
        return migrate(url)
    try:
        with _connect(url) as conn:
            if _current(conn):
                return []
    except psycopg.OperationalError:
        # Missing ("does not exist"), or a pooler nobody told us about timing out on a
        # missing database: the maintenance database decides (and an unreachable
        # server raises from there).
        ensure_database(url)
    return _migrate_locked(url)


def _connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection for the one-statement questions asked before migrating."""
    return psycopg.connect(
        url, autocommit=True, connect_timeout=10, prepare_threshold=None, row_factory=ROW_FACTORY
    )


def _current(conn: psycopg.Connection[Any]) -> bool:
    """Whether every shipped migration is recorded as applied (asked without the lock)."""
    try:
        rows: list[Row] = conn.execute(_sql.MIGRATIONS_APPLIED).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return False
    return {v for v, _ in available()} <= {r.version for r in rows}


def migrate(url: str) -> list[int]:
    """Apply every pending migration; returns the versions applied by this call."""
    # Asked first without the lock: a fleet launching together would otherwise take
    # turns behind it (16 workers waited 35 ms each, issue 12) only to find the schema
    # current. Anything missing (or no table yet) is decided under the lock below.
    with _connect(url) as conn:
        if _current(conn):
            return []
    return _migrate_locked(url)


def _migrate_locked(url: str) -> list[int]:
    applied_now: list[int] = []
    # One transaction: the lock is transaction-scoped, so this also holds through PgBouncer
    # in transaction pooling mode (a session lock would stay on a pooled server connection).
    with psycopg.connect(
        url, connect_timeout=10, prepare_threshold=None, row_factory=ROW_FACTORY
    ) as conn:
        with conn.transaction():
            conn.execute(_sql.MIGRATION_LOCK)
            conn.execute(_sql.MIGRATIONS_TABLE)
            applied: list[Row] = conn.execute(_sql.MIGRATIONS_APPLIED).fetchall()
            done = {r.version for r in applied}
            for version, path in available():
                if version in done:
                    continue
                conn.execute(path.read_text())  # type: ignore[arg-type]  # trusted file shipped with the package
                conn.execute(_sql.MIGRATION_RECORD, (version,))
                applied_now.append(version)
    return applied_now


def current_version(url: str) -> int:
    """Highest applied version, 0 for an empty database."""
    with psycopg.connect(url, connect_timeout=10, row_factory=ROW_FACTORY) as conn:
        try:
            row: Row | None = conn.execute(_sql.MIGRATIONS_CURRENT).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row.version) if row and row.version is not None else 0
