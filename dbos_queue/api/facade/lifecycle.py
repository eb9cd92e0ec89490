"""The ``DBOS`` facade: configure, launch, destroy."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.base import FacadeState, configured_settings
from dbos_queue.api.facade.tracing import destroy_tracing, launch_tracing
from dbos_queue.api.runtime import Runtime
from dbos_queue.engine import app_outputs as _app_outputs
from dbos_queue.engine import transaction as _transaction
from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException, DBOSInitializationError
from dbos_queue.model.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Lifecycle:
    """``DBOS`` class methods: configure, launch, destroy."""

    @classmethod
    def _settings(cls) -> Settings:
        return configured_settings()

    @staticmethod
    def migrate(
        system_database_url: str,
        *,
        schema: str = "dbos",
        application_role: str | None = None,
        sharding: bool = False,
    ) -> None:
        """Create or migrate the system database (run it as a privileged role), and with
        ``application_role`` grant that role the use of the system schema."""
        from dbos_queue.api.migrations import migrate_system_database

        migrate_system_database(
            system_database_url,
            schema=schema,
            application_role=application_role,
            sharding=sharding,
        )

    @classmethod
    def system_database_url(cls) -> str:
        """The configured system database's URL (the embedded Postgres's when none is set)."""
        from dbos_queue.db.embedded import server_url

        return cls._settings().system_database_url or server_url()

    @classmethod
    def launch(cls) -> None:
        """Connect, migrate, register this process, and resume its unfinished workflows."""
        if registry.process is not None:
            return
        settings = cls._settings()
        _configure_logging(settings.log_level)
        url = cls.system_database_url()
        rt = Runtime(settings, registry, url, settings.application_version or _app_version())
        if FacadeState.pending_listen is not None:
            rt.queues.listen = list(FacadeState.pending_listen)
        launch_tracing(rt)
        try:
            rt.launch()
        except Exception as exc:
            rt.engine.stop()
            raise _launch_error(exc, url) from exc
        _transaction.launch(rt, settings.application_database_url)
        registry.attach(rt)
        rt.start_background()
        try:
            recovered = rt.recover([rt.executor_id])
        except Exception as exc:  # the takeover scan (every lease/2 s) covers the same rows
            logger.warning("launch-time recovery failed (%s); the takeover scan retries it", exc)
            recovered = []
        if recovered:
            logger.info("recovering %d workflow(s): %s", len(recovered), recovered)

    @classmethod
    def destroy(
        cls, *, destroy_registry: bool = False, workflow_completion_timeout_sec: float = 0
    ) -> None:
        """Drain (waiting up to ``workflow_completion_timeout_sec`` for running workflows,
        then handing the rest back once none of their steps runs here), then shut down.
        A workflow thread that outlives this stops at its next step or sleep."""
        rt = registry.process
        if rt is not None:
            assert isinstance(rt, Runtime)
            rt.destroy(workflow_completion_timeout_sec)  # drains before anything is torn down
            registry.detach()
            _transaction.shutdown(rt)
            destroy_tracing()
        if FacadeState.instance is not None:
            FacadeState.instance._initialized = False
        FacadeState.instance = None
        if destroy_registry:
            registry.clear()
            _app_outputs.forget_all()  # DBOS's registry holds its datasources too
            FacadeState.pending_listen = None

    @classmethod
    def reset_system_database(
        cls,
        *,
        system_database_url: str | None = None,
        schema: str | None = None,
        truncate: bool = False,
    ) -> None:
        """Destroy the system database (for tests; never while launched), or with
        ``truncate=True`` empty its tables and keep the migrated schema (much faster).

        ``system_database_url`` defaults to the configured one, ``schema`` (what
        ``truncate`` empties) to the configured ``dbos_system_schema``. Without a
        configured ``DBOS`` and without ``system_database_url`` nothing happens but a
        warning, as in DBOS.
        """
        import psycopg

        from dbos_queue.db import reset as _reset

        if registry.process is not None:
            raise _ResetWhileLaunchedError(
                "The system database cannot be reset after DBOS is launched: call "
                "reset_system_database() before DBOS.launch() (it is a destructive "
                "operation for test environments)"
            )
        settings = _settings_or_none()
        if settings is not None:
            url = (
                system_database_url
                if system_database_url is not None
                else cls.system_database_url()
            )
            schema = schema if schema is not None else settings.dbos_system_schema
        elif system_database_url is not None:
            url = system_database_url
        else:
            logger.warning(
                "reset_system_database has no effect: DBOS is not configured and no "
                "system_database_url was given"
            )
            return
        if truncate:
            _reset.empty_schema(url, schema or "dbos")
            return
        try:
            _reset.drop_database(url)
        except psycopg.OperationalError as exc:
            raise _launch_error(exc, url) from exc


class _ResetWhileLaunchedError(DBOSException, AssertionError):
    """``reset_system_database`` after ``launch``: a DBOSException here, and the
    AssertionError DBOS raises."""


def _settings_or_none() -> Settings | None:
    """The configured instance's settings, or None before ``DBOS(config=...)``."""
    try:
        return configured_settings()
    except DBOSInitializationError:
        return None


def _configure_logging(level: str) -> None:
    """Give the dbos_queue logger a console handler unless the application set one up."""
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s dbos_queue: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)


def _app_version() -> str:
    """A hash of the registered workflows' source, like DBOS's default application version."""
    h = hashlib.sha256()
    for name in sorted(registry.workflows):
        func = registry.workflows[name].func
        try:
            h.update(inspect.getsource(func).encode())
        except (OSError, TypeError):
            h.update(name.encode())
    return h.hexdigest()[:32]


def _launch_error(exc: Exception, url: str) -> Exception:
    import psycopg

    from dbos_queue.model.pgurl import redact

    if isinstance(exc, psycopg.OperationalError):
        from dbos_queue.error import DBOSDatabaseUnavailableError

        return DBOSDatabaseUnavailableError(
            f"Cannot connect to the system database at {redact(url)}: {str(exc).strip()}. "
            "Check that Postgres is running and the URL is right (system_database_url in the "
            "config, DBOS_SYSTEM_DATABASE_URL, or dbos-config.yaml), or unset them all to use "
            "the embedded Postgres."
        )
    return exc
