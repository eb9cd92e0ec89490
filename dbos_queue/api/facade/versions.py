"""The ``DBOS`` facade: application versions (``dbos.application_versions``).

Every launching process records its version; the newest one is the latest. A
process dequeues and recovers only its own version's workflows, and, while it runs
the latest version, the workflows enqueued without a version (by a ``DBOSClient`` or
the SQL producer). ``set_latest_application_version`` moves that role (a rollback).
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.invoke import require_runtime
from dbos_queue.db import versions as _versions
from dbos_queue.model.versions import VersionInfo
from dbos_queue.queue import version_gate as _version_gate


def _app(rt: Any) -> str | None:
    return getattr(rt.settings, "name", None)


class Versions:
    """``DBOS`` class methods: list, read and promote application versions."""

    @classmethod
    def list_application_versions(cls) -> list[VersionInfo]:
        """Every version this application has launched with (and unclaimed ones), newest
        first."""
        rt = require_runtime()
        return rt.engine.run(_versions.list_versions(rt.sysdb, _app(rt)))

    @classmethod
    def get_latest_application_version(cls) -> VersionInfo:
        """The latest version; raises DBOSException when none was ever recorded."""
        rt = require_runtime()
        return rt.engine.run(_versions.latest(rt.sysdb, _app(rt)))

    @classmethod
    def set_latest_application_version(
        cls, version_name: str, *, application_name: str | None = None
    ) -> None:
        """Make ``version_name`` the latest (its timestamp becomes now)."""
        rt = require_runtime()
        app = application_name if application_name is not None else _app(rt)
        rt.engine.run(_versions.set_latest(rt.sysdb, version_name, app))
        _version_gate.forget(rt)  # this process's claims see it at once

    @classmethod
    async def list_application_versions_async(cls) -> list[VersionInfo]:
        """Async form of ``list_application_versions``."""
        rt = require_runtime()
        return await rt.engine.arun(_versions.list_versions(rt.sysdb, _app(rt)))

    @classmethod
    async def get_latest_application_version_async(cls) -> VersionInfo:
        """Async form of ``get_latest_application_version``."""
        rt = require_runtime()
        return await rt.engine.arun(_versions.latest(rt.sysdb, _app(rt)))

    @classmethod
    async def set_latest_application_version_async(
        cls, version_name: str, *, application_name: str | None = None
    ) -> None:
        """Async form of ``set_latest_application_version``."""
        rt = require_runtime()
        app = application_name if application_name is not None else _app(rt)
        await rt.engine.arun(_versions.set_latest(rt.sysdb, version_name, app))
        _version_gate.forget(rt)
