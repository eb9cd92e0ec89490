"""Application versions as the API returns them (DBOS's ``VersionInfo``)."""

from __future__ import annotations

from typing import Any, TypedDict


class VersionInfo(TypedDict):
    """One row of ``dbos.application_versions``."""

    version_id: str
    version_name: str
    version_timestamp: int  # epoch ms; the highest is the latest version
    created_at: int  # epoch ms of the first launch of this version
    application_name: str | None  # owning application (DBOSConfig "name"); None: unclaimed


def version_from_row(row: tuple[Any, ...]) -> VersionInfo:
    """A VersionInfo from ``_sql.VERSION_COLUMNS`` order."""
    return VersionInfo(
        version_id=row[0],
        version_name=row[1],
        version_timestamp=row[2],
        created_at=row[3],
        application_name=row[4],
    )
