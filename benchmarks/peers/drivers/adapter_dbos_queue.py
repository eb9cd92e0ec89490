"""dbos_queue adapter: public API only (``DBOS``, ``DBOS.register_queue``, ``DBOSClient``).

Library defaults otherwise (LISTEN/NOTIFY wake-up with its own polling fallback).
Producer: ``DBOSClient``; single = ``DBOSClient.enqueue`` (own transaction), bulk =
``DBOSClient.enqueue_many`` (one statement).
"""

from __future__ import annotations

from typing import Any

from dbos_queue import DBOS, DBOSClient

from .dbos_family import QUEUE, DbosFamilyAdapter, define_workflows

define_workflows(DBOS)


class DbosQueueAdapter(DbosFamilyAdapter):
    name = "dbos_queue"
    default_poll = 1.0

    def dbos(self) -> Any:
        return DBOS

    def configure(self, a: Any) -> dict[str, Any]:
        out = super().configure(a)
        out.update(
            bulk_enqueue="DBOSClient.enqueue_many (one statement)",
            single_enqueue="DBOSClient.enqueue (own transaction)",
        )
        return out

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"dbos_queue": version("dbos-queue"), "psycopg": version("psycopg")}

    def register_in_worker(self) -> None:
        DBOS.register_queue(QUEUE, polling_interval_sec=self.poll, worker_concurrency=self.wc)

    def setup_in_child(self, url: str) -> None:
        DBOS(config=self.config(url, "bench-setup"))
        self.register_in_worker()
        DBOS.launch()
        DBOS.destroy()

    def producer(self, url: str) -> _Producer:
        return _Producer(self, url)


class _Producer:
    def __init__(self, adapter: DbosQueueAdapter, url: str) -> None:
        self.opts: Any = adapter.enqueue_options()
        self.url = url

    def __enter__(self) -> _Producer:
        self.client = DBOSClient(system_database_url=self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.destroy()

    def enqueue(self, seq: int, t_enq: float) -> None:
        self.client.enqueue(self.opts, seq, t_enq)

    def enqueue_bulk(self, items: list[tuple[int, float]]) -> dict[str, Any]:
        self.client.enqueue_many(self.opts, items)
        return {"method": "DBOSClient.enqueue_many", "batch": len(items), "transactions": 1}


ADAPTER = DbosQueueAdapter()
