"""``DBOSClient``'s application-version methods (DBOS 3.4.0's), for deploy tooling.

A client acts for ``application_name`` (its constructor keyword): it sees that
application's versions and unclaimed ones; without one, every version.
"""

from __future__ import annotations

from dbos_queue.db import versions as _versions
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.model.versions import VersionInfo


class ClientVersions:
    """Mixed into ``DBOSClient``: list, read and promote application versions."""

    engine: Engine
    sysdb: SystemDatabase

    def _version_app(self, application_name: str | None = None) -> str | None:
        if application_name is not None:
            return application_name
        return getattr(self, "application_name", None)

    def list_application_versions(self) -> list[VersionInfo]:
        """The versions recorded in the system database, newest first."""
        return self.engine.run(_versions.list_versions(self.sysdb, self._version_app()))

    def get_latest_application_version(self) -> VersionInfo:
        """The latest version; raises DBOSException when none was ever recorded."""
        return self.engine.run(_versions.latest(self.sysdb, self._version_app()))

    def set_latest_application_version(
        self, version_name: str, *, application_name: str | None = None
    ) -> None:
        """Make ``version_name`` the latest: workers of it then also run unversioned work."""
        app = self._version_app(application_name)
        self.engine.run(_versions.set_latest(self.sysdb, version_name, app))

    async def list_application_versions_async(self) -> list[VersionInfo]:
        """Async form of ``list_application_versions``."""
        return await self.engine.arun(_versions.list_versions(self.sysdb, self._version_app()))

    async def get_latest_application_version_async(self) -> VersionInfo:
        """Async form of ``get_latest_application_version``."""
        return await self.engine.arun(_versions.latest(self.sysdb, self._version_app()))

    async def set_latest_application_version_async(
        self, version_name: str, *, application_name: str | None = None
    ) -> None:
        """Async form of ``set_latest_application_version``."""
        app = self._version_app(application_name)
        await self.engine.arun(_versions.set_latest(self.sysdb, version_name, app))
