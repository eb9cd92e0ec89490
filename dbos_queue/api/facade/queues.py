"""The ``DBOS`` facade: declaring and retrieving queues."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dbos_queue.api.facade.base import FacadeState
from dbos_queue.api.invoke import (
    _rt,
)
from dbos_queue.engine.registry import registry
from dbos_queue.error import (
    DBOSException,
)

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("dbos_queue")


class Queues:
    """``DBOS`` class methods: declaring and retrieving queues."""

    @classmethod
    def register_queue(
        cls,
        name: str,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        partition_concurrency: int | None = None,
        partition_worker_concurrency: int | None = None,
        partition_limiter: dict[str, Any] | None = None,
        limiter: dict[str, Any] | None = None,
        polling_interval_sec: float = 1.0,
        concurrency: int | None = None,
        **_ignored: Any,
    ) -> Any:
        """Declare (or update) a database-backed queue; the DBOS 3.x spelling of ``Queue``."""
        from dbos_queue.api.queue import Queue

        return Queue(
            name,
            concurrency,
            limiter,
            worker_concurrency=worker_concurrency,
            global_concurrency=global_concurrency,
            partition_concurrency=partition_concurrency,
            partition_worker_concurrency=partition_worker_concurrency,
            partition_limiter=partition_limiter,
            polling_interval_sec=polling_interval_sec,
            priority_enabled=True,
        )

    @classmethod
    def retrieve_queue(cls, name: str) -> Any:
        """The queue named ``name`` as declared here or stored in the database, else None."""
        from dbos_queue.api.queue import queue_from_row
        from dbos_queue.db import sql as _sql

        if name in registry.queues:
            return registry.queues[name]
        rt = registry.process
        if rt is None:
            return None
        row = _rt().engine.run(_rt().sysdb.fetchone(_sql.GET_QUEUE, (name,)))
        return queue_from_row(row) if row is not None else None

    @classmethod
    def listen_queues(cls, queues: list[Any]) -> None:
        """Dequeue only from these queues in this process (call before launch)."""
        if registry.process is not None:
            raise DBOSException("DBOS.listen_queues must be called before DBOS.launch()")
        FacadeState.pending_listen = [q if isinstance(q, str) else q.name for q in queues]
