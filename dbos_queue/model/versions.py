"""Application versions as the API returns them (DBOS's ``VersionInfo``)."""

from __future__ import annotations

from typing import TypedDict

from dbos_queue.model.records import Row


class VersionInfo(TypedDict):
    """One row of ``dbos.application_versions``."""

    version_id: str
    version_name: str
    version_timestamp: int  # epoch ms; the highest is the latest version
    created_at: int  # epoch ms of the first launch of this version
    application_name: str | None  # owning application (DBOSConfig "name"); None: unclaimed


def version_from_row(row: Row) -> VersionInfo:
    """A VersionInfo from a row of ``_sql.VERSION_COLUMNS``."""
    return VersionInfo(
        version_id=row.version_id,
        version_name=row.version_name,
        version_timestamp=row.version_timestamp,
        created_at=row.created_at,
        application_name=row.application_name,
    )
