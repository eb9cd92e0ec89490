"""``DBOSClient``: enqueue, inspect and message workflows without the app's code.

A producer only needs the queue and workflow names. The client has its own
small engine (pool + LISTEN) but registers no executor and claims nothing. Its methods
are in mixins, one module each: enqueueing (``client_enqueue``), management
(``client_ops``), listings and queues (``client_lists``), messages (``client_messages``),
schedules and versions.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.api.client_enqueue import ClientEnqueue, EnqueueOptions
from dbos_queue.api.client_lists import ClientListing, ClientQueues
from dbos_queue.api.client_messages import ClientMessaging
from dbos_queue.api.client_ops import ClientManagement
from dbos_queue.api.client_schedules import ClientSchedules
from dbos_queue.api.client_setup import FROM_ENV, client_setup
from dbos_queue.api.client_versions import ClientVersions
from dbos_queue.api.handles import as_host
from dbos_queue.db.loop import Engine
from dbos_queue.db.sysdb import SystemDatabase
from dbos_queue.db.threadconn import ThreadConnections
from dbos_queue.engine import core as _core
from dbos_queue.model.status import WorkflowStatus, status_from_row

__all__ = ["DBOSClient", "EnqueueOptions"]


class DBOSClient(
    ClientEnqueue,  # enqueue by name: one, many, in the caller's transaction
    ClientVersions,
    ClientManagement,  # DBOS parity part A: cancel/resume/fork/rewind/delete/delay/attributes
    ClientListing,  # list_workflows / list_queued_workflows / list_workflow_steps
    ClientQueues,  # register/retrieve/list/delete queues
    ClientMessaging,  # send (+ in a transaction, bulk), events, streams
    ClientSchedules,  # the schedule API by workflow name
):
    """A producer/inspector connected to the system database."""

    def __init__(
        self,
        system_database_url: str | None = None,
        *,
        system_database_engine: Any = None,
        dbos_system_schema: str | None = "dbos",
        serializer: Any = None,
        system_database_pool_size: int | None = None,
        system_database_polling_concurrency: int | None = None,
        use_listen_notify: bool = False,
        application_name: str | None = None,
        lazy: bool = False,
        retry_connection_errors: bool = True,
        observability_query_timeout_sec: float | None = None,
        sys_db_idle_transaction_timeout_sec: float | None = None,
        sharding: bool = False,
        prepare_threshold: int | str | None = FROM_ENV,
        listen_database_url: str | None = None,
        database_url: str | None = None,
        pool_size: int | None = None,
    ) -> None:
        """Connect to the system database (DBOS 3.4.0's keywords, and a few of ours).

        ``system_database_url`` (positional too), else ``system_database_engine`` (an
        SQLAlchemy engine: only its URL is used, the client opens its own small pool),
        else ``DBOS_SYSTEM_DATABASE_URL`` / ``dbos-config.yaml``, else the embedded
        Postgres. ``use_listen_notify`` (default False, as in DBOS) opens a LISTEN
        connection (to ``listen_database_url`` or ``DBOS_QUEUE_LISTEN_DATABASE_URL`` when
        given) so waits wake at once; without it they poll, fast at first, then every
        second. ``prepare_threshold`` (ours) is the PgBouncer switch: None or "off" for
        no server-side prepared statements; by default ``DBOS_QUEUE_PREPARE_THRESHOLD``,
        else psycopg's 5. ``lazy`` connects at first use. ``retry_connection_errors=False``
        raises on a lost connection instead of retrying for up to a minute.
        ``system_database_polling_concurrency``, ``observability_query_timeout_sec`` and
        ``sys_db_idle_transaction_timeout_sec`` are accepted and not applied (no session
        settings on pooled connections); ``application_name`` is kept as
        ``self.application_name``. ``database_url`` and ``pool_size`` are older names of
        ``system_database_url`` and ``system_database_pool_size``.
        """
        setup = client_setup(dict(locals()))
        self.url = setup.url
        self.application_name = application_name
        self.engine = Engine(
            setup.url,
            pool_size=setup.pool_size,
            prepare_threshold=setup.prepare_threshold,
            listen_url=setup.listen_url,
            listen=use_listen_notify,
        )
        self.sysdb = SystemDatabase(self.engine, retry_for_sec=setup.retry_for_sec)
        self._queue_rows: dict[str, tuple[float, bool]] = {}  # name -> (when, partitioned)
        # Sync enqueues send their INIT from the caller's thread (db/threadconn.py).
        self._threads = ThreadConnections(setup.url, setup.prepare_threshold, setup.retry_for_sec)
        try:
            self.engine.start(wait=not lazy)
        except BaseException:
            self.engine.stop()  # an unreachable database leaves no engine thread behind
            raise

    def destroy(self) -> None:
        """Close the client's connections and stop its engine thread."""
        self._threads.close()
        self.engine.stop()

    def __enter__(self) -> DBOSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # --- inspect (the DBOS 3.4.0 methods are in the mixins: client_ops, client_lists,
    # client_messages, client_schedules; enqueueing in client_enqueue) -----------------

    def get_workflow(self, workflow_id: str) -> WorkflowStatus | None:
        """The workflow's status, or None for an unknown id."""
        row = self.engine.run(self.sysdb.get_status_row(workflow_id))
        return status_from_row(row) if row is not None else None

    def get_result(self, workflow_id: str, timeout: float | None = None) -> Any:
        """Wait for the workflow to end (up to ``timeout`` s); its output, or its error raised."""
        return self.engine.run(_core.await_result(as_host(self), workflow_id, timeout))
