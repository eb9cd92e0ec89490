"""DBOS Transact adapter (dbos==3.4.0).

The queue is declared once with ``DBOS.register_queue(..., on_conflict="always_update")``
and read from the database by the workers. Producer: ``DBOSClient``; single =
``DBOSClient.enqueue`` (own transaction); bulk = ``DBOSClient.enqueue_in_transaction``
for every job inside one SQLAlchemy transaction (DBOS has no multi-row enqueue call).
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, DBOSClient

from .dbos_family import APP, QUEUE, DbosFamilyAdapter, define_workflows

define_workflows(DBOS)


def _sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


class DbosAdapter(DbosFamilyAdapter):
    name = "dbos"
    default_poll = 1.0

    def dbos(self) -> Any:
        return DBOS

    def configure(self, a: Any) -> dict[str, Any]:
        out = super().configure(a)
        out.update(
            bulk_enqueue="DBOSClient.enqueue_in_transaction x N, one transaction",
            single_enqueue="DBOSClient.enqueue (own transaction)",
        )
        return out

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {
            "dbos": version("dbos"),
            "sqlalchemy": version("sqlalchemy"),
            "psycopg": version("psycopg"),
        }

    def setup_in_child(self, url: str) -> None:
        DBOS(config=self.config(url, "bench-setup"))
        DBOS.launch()
        DBOS.register_queue(
            QUEUE,
            polling_interval_sec=self.poll,
            worker_concurrency=self.wc,
            on_conflict="always_update",
        )
        DBOS.destroy()

    def producer(self, url: str) -> _Producer:
        return _Producer(self, url)


class _Producer:
    def __init__(self, adapter: DbosAdapter, url: str) -> None:
        self.opts: Any = adapter.enqueue_options()
        self.url = url

    def __enter__(self) -> _Producer:
        import sqlalchemy as sa

        self.client = DBOSClient(system_database_url=self.url, application_name=APP)
        # connected now so that the timed bulk call does not include connection setup
        self.eng = sa.create_engine(_sa_url(self.url))
        with self.eng.connect():
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        self.eng.dispose()
        self.client.destroy()

    def enqueue(self, seq: int, t_enq: float) -> None:
        self.client.enqueue(self.opts, seq, t_enq)

    def enqueue_bulk(self, items: list[tuple[int, float]]) -> dict[str, Any]:
        with self.eng.begin() as conn:
            for seq, t in items:
                self.client.enqueue_in_transaction(conn, self.opts, seq, t)
        return {
            "method": "DBOSClient.enqueue_in_transaction",
            "batch": len(items),
            "transactions": 1,
        }


ADAPTER = DbosAdapter()
