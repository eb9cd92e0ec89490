"""Application versions in ``dbos.application_versions`` (0011), one coroutine per statement.

Which version a worker runs decides what it dequeues and recovers (``_sql.RUNS_HERE``):
workflows of its own version, plus those without one while it runs the latest version.
"""

from __future__ import annotations

import uuid

from dbos_queue.db import sql as _sql
from dbos_queue.db.sysdb import SystemDatabase, now_ms
from dbos_queue.error import DBOSException
from dbos_queue.model.versions import VersionInfo, version_from_row


async def register(sysdb: SystemDatabase, version: str, app: str | None) -> None:
    """Record that ``version`` launched (a new version becomes the latest)."""
    params = {"id": str(uuid.uuid4()), "name": version, "app": app}
    await sysdb.execute(_sql.REGISTER_VERSION, params)


async def list_versions(sysdb: SystemDatabase, app: str | None) -> list[VersionInfo]:
    """The versions ``app`` sees (its own and unclaimed ones), newest first."""
    return [version_from_row(r) for r in await sysdb.fetchall(_sql.LIST_VERSIONS, {"app": app})]


async def latest_or_none(sysdb: SystemDatabase, app: str | None) -> VersionInfo | None:
    """The latest version ``app`` sees, or None."""
    row = await sysdb.fetchone(_sql.LATEST_VERSION, {"app": app})
    return None if row is None else version_from_row(row)


async def latest(sysdb: SystemDatabase, app: str | None) -> VersionInfo:
    """The latest version ``app`` sees; DBOSException when none ever launched."""
    info = await latest_or_none(sysdb, app)
    if info is None:
        raise DBOSException(
            "No application versions found"
            + (f" for application {app!r}" if app else "")
            + ": no DBOS application has launched against this system database yet, or its "
            "version name is recorded for another application sharing this database (give "
            "each application its own application_version)"
        )
    return info


async def set_latest(sysdb: SystemDatabase, version: str, app: str | None) -> None:
    """Make ``version`` the latest by stamping it now."""
    params = {"name": version, "app": app, "now": now_ms()}
    if await sysdb.fetchone(_sql.SET_LATEST_VERSION, params) is not None:
        return
    row = await sysdb.fetchone(_sql.GET_VERSION, (version,))
    if row is None:
        raise DBOSException(
            f"Application version {version!r} does not exist: a version is recorded when an "
            "application launches with it (see list_application_versions())"
        )
    raise DBOSException(
        f"Application version {version!r} is registered by application "
        f"{row.application_name!r}, not {app!r}: act as that application "
        "(application_name=...) to promote it"
    )
