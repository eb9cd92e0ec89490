"""The launched state of a process: engine, system database, lease, executions.

``Runtime`` builds and wires the process (construction), launches it and starts its
background tasks, and tears it down; executing workflow bodies is its base class,
``api.execution.WorkflowRunner``.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
from typing import TYPE_CHECKING, Any

from dbos_queue.api import drain as _drain
from dbos_queue.api import recovery as _recovery
from dbos_queue.api.execution import WorkflowRunner
from dbos_queue.api.lease import LeaseKeeper
from dbos_queue.db import migrate as _migrate
from dbos_queue.db.loop import Engine
from dbos_queue.db.notify import personal_channel
from dbos_queue.db.sysdb import SystemDatabase, now_ms
from dbos_queue.engine.context import Lease, WorkflowContext
from dbos_queue.engine.events import EventBus
from dbos_queue.engine.registry import Registry
from dbos_queue.engine.threads import WorkflowThreads
from dbos_queue.model.engine_kwargs import with_connect_args
from dbos_queue.model.ids import new_workflow_id

if TYPE_CHECKING:
    from dbos_queue.ops.admin.server import AdminServer

logger = logging.getLogger("dbos_queue")


def system_prepare_threshold(configured: int | None) -> int | None:
    """The worker's system pool prepares every statement at its first execution while
    prepared statements are on at all (DESIGN-NOTES 23): it runs a dozen single statements
    of its own over and over, and with psycopg's 5 each new backend planned each of them
    eleven times. ``None`` (the PgBouncer switch) stays off; user-facing connections (the
    application datasource, ``DBOSClient``) keep the configured value."""
    return None if configured is None else 0


class Runtime(WorkflowRunner):
    """One per launched ``DBOS`` instance."""

    records_steps = True  # its handles' status reads are DBOS.getStatus steps (api/handles.py)

    def __init__(self, settings: Any, registry: Registry, url: str, app_version: str) -> None:
        self.settings = settings
        self.registry = registry
        self.url = url
        self.app_version = app_version
        self.executor_id: str = settings.executor_id
        self.process_id = secrets.token_hex(8)
        self.hostname = socket.gethostname()
        self.logger = logger
        self._owner_seq = itertools.count(1)
        # DBOS's SQLAlchemy keywords, as they apply to our pool (model/engine_kwargs.py)
        kwargs: dict[str, Any] = settings.db_engine_kwargs or {}
        listen_url = settings.listen_database_url
        self.engine = Engine(
            with_connect_args(url, kwargs),
            pool_size=settings.sys_db_pool_size or 20,
            prepare_threshold=system_prepare_threshold(settings.prepare_threshold),
            poll_fallback_sec=settings.notification_listener_polling_interval_sec or 1.0,
            listen_url=with_connect_args(listen_url, kwargs) if listen_url else None,
            listen=settings.use_listen_notify,
            # A worker opens LISTEN once it knows its listening duty (queue/wakeup.py).
            defer_listen=bool(settings.max_listening_workers),
            pool_timeout=float(kwargs.get("pool_timeout") or 30.0),
            max_lifetime=float(max(0, kwargs.get("pool_recycle") or 0)) or None,
            grow_on_demand=True,
        )
        self.sysdb = SystemDatabase(self.engine)
        self.lease_ms = int(settings.executor_lease_sec * 1000)
        self.threads = WorkflowThreads(settings.max_executor_threads or 64, "dbos-wf")
        self.running: dict[str, Any] = {}  # workflow id -> its Future (or context) here
        self.local: dict[str, WorkflowContext] = {}  # workflow id -> context executing here
        from dbos_queue.queue.claim import QueueService

        self.queues = QueueService(self)
        self.events = EventBus()
        self.lease_lost = False
        self.lease = Lease(settings.executor_lease_sec)
        self.lease_keeper = LeaseKeeper(self)
        self.draining = False  # drain began: claim and take over nothing more
        self.handing_back = False  # drain released its rows: start nothing more
        self.drained: list[str] | None = None  # what the (one) drain handed back
        self._announced = 0  # how many workflow names dbos.executors lists for us
        self.admin: AdminServer | None = None  # the admin server, once started

    # --- declarations made after launch (engine.registry.DeclarationListener) ---------

    def queue_declared(self, queue: Any) -> None:
        """A queue declared after launch: store its settings now (registry hook)."""
        self.engine.run(self.queues.declare(queue.settings, queue.on_conflict))

    def schedules_changed(self) -> None:
        """A schedule decorated after launch: let the scheduler pick it up (registry hook)."""
        from dbos_queue.queue import schedules

        schedules.declared_after_launch(self)

    # --- ids -----------------------------------------------------------------------

    def new_owner(self) -> str:
        """A fresh execution token of this process (which execution owns a workflow)."""
        return f"{self.process_id}:{next(self._owner_seq):x}"

    def new_workflow_id(self) -> str:
        """A fresh workflow id (a UUID, as DBOS's)."""
        return new_workflow_id()

    # --- lifecycle -----------------------------------------------------------------

    def launch(self) -> None:
        """Migrate (if configured), start the engine, register this executor and its version,
        start the heartbeat."""
        if self.settings.run_migrations:
            listen_url = self.settings.listen_database_url
            _migrate.prepare(self.url, pooled=bool(listen_url) and listen_url != self.url)
        if self.settings.use_listen_notify:  # LISTEN on our own channel from the start
            self.engine.personal_channel = personal_channel(self.process_id)
        self.engine.start()
        self.engine.run(self._register())
        self.engine.run(self._register_version())
        self.engine.spawn_threadsafe(self._heartbeat_forever(), "heartbeat")
        self.engine.hooks["cancel"].append(self._on_cancel)
        # While no NOTIFY can say "cancelled" (use_listen_notify: false, off listening
        # duty, or the LISTEN connection reconnecting), look instead.
        from dbos_queue.api.cancel_poll import poll_cancellations_forever

        interval = self.settings.notification_listener_polling_interval_sec
        self.engine.spawn_threadsafe(poll_cancellations_forever(self, interval), "cancel-poll")

    async def _register_version(self) -> None:
        """Record this application version (a new one becomes the latest), as DBOS does."""
        from dbos_queue.db import versions as _versions

        app = getattr(self.settings, "name", None)
        await _versions.register(self.sysdb, self.app_version, app)
        latest = await _versions.latest_or_none(self.sysdb, app)
        if latest is None:
            # The name is recorded for another application sharing this system database
            # (version names are unique in it): this one has no version row of its own,
            # and runs as its latest (queue/version_gate.py), as before any was recorded.
            logger.warning(
                "application version %r is recorded for another application in this system "
                "database; %r has no version of its own there and runs as its latest. Give "
                "each application its own application_version (or its own system database)",
                self.app_version,
                app,
            )
            return
        if latest["version_name"] != self.app_version:
            logger.warning(
                "Current version %r is not the latest version. Latest version is %r: this "
                "process runs only workflows of its own version",
                self.app_version,
                latest["version_name"],
            )

    def start_background(self) -> None:
        """Start dequeuing and serving (after the facade knows this runtime)."""
        for q in list(self.registry.queues.values()):
            self.engine.run(self.queues.declare(q.settings, q.on_conflict))
        self.engine.run(self.queues.start(list(self.registry.queues)))
        from dbos_queue.ops.metrics import Metrics

        self.metrics = Metrics(self)
        from dbos_queue.queue import schedules as _scheduler

        self.engine.run(_scheduler.start(self))
        self.admin = None
        if self.settings.run_admin_server:
            self.start_admin(self.settings.admin_host, self.settings.admin_port)

    def start_admin(self, host: str, port: int, **options: Any) -> None:
        """Serve the admin API on ``host``:``port`` (options: ``AdminServer``'s keywords)."""
        from dbos_queue.ops.admin.server import AdminServer

        if self.admin is not None:
            self.admin.stop()  # one server per runtime
            self.admin = None
        try:
            admin = AdminServer(self, host, port, self.settings.admin_token, **options)
            admin.start()
        except (OSError, RuntimeError) as exc:
            logger.warning("admin server not started on %s:%d: %s", host, port, exc)
            return
        self.admin = admin

    def recover_executors(self, executor_ids: list[str]) -> list[str]:
        """Recover the named executors' workflows now, without waiting for lease expiry."""
        return _recovery.recover_executors(self, executor_ids)

    async def _register(self) -> None:
        now = now_ms()
        await self.sysdb.register_executor(
            process_id=self.process_id,
            executor_id=self.executor_id,
            hostname=self.hostname,
            pid=os.getpid(),
            app_version=self.app_version,
            now=now,
            lease_ms=self.lease_ms,
        )
        self.lease.renewed(now)
        await self._announce_workflows()
        await self._expire_dead_local_processes()

    async def _announce_workflows(self) -> None:
        """Tell the fleet which workflows this process runs (for mixed fleets)."""
        from dbos_queue.queue.unrunnable import announce_workflows

        self._announced = len(self.registry.workflows)
        await announce_workflows(self)

    async def _expire_dead_local_processes(self) -> None:
        await _recovery.expire_dead_local_processes(self)

    async def _heartbeat_forever(self) -> None:
        interval = self.settings.heartbeat_interval_sec or self.settings.executor_lease_sec / 3
        await self.lease_keeper.forever(interval, before_beat=self._announce_if_changed)

    async def _announce_if_changed(self) -> None:
        if len(self.registry.workflows) != self._announced:
            await self._announce_workflows()  # some were decorated after launch

    async def confirm_lease(self) -> None:
        """Renew the lease before a step when it looks stale (engine.host.Host)."""
        await self.lease_keeper.confirm()

    def drain(self, timeout: float) -> list[str]:
        """Stop claiming, wait up to ``timeout`` s for running work, hand back the rest
        once no step of it runs here any more (api/drain.py)."""
        return _drain.drain(self, timeout)

    def destroy(self, timeout: float = 0.0) -> None:
        """Drain (up to ``timeout`` s), then tear down: nothing runs steps on a dead runtime."""
        try:
            self.drain(timeout)
        except Exception as exc:
            logger.warning("drain at destroy failed (%s); its workflows wait for takeover", exc)
        # Whatever still runs here (or began during the drain) stops at its next step.
        reason = "DBOS.destroy() shut down the runtime it ran under"
        _drain.stop_local(self, reason, list(self.local.values()), handed_back=True)
        try:
            self.engine.run(self.lease_keeper.retire(), timeout=10)
        except Exception:
            logger.debug("unregistering at destroy failed", exc_info=True)
        if self.admin is not None:
            self.admin.stop()
        self.engine.stop()
        self.threads.shutdown(wait=False, cancel_futures=True)

    # --- recovery ------------------------------------------------------------------

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Take over and resume the PENDING workflows of dead processes of these executors."""
        return _recovery.recover(self, executor_ids)
