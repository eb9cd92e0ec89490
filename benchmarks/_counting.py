"""Counting what a benchmark costs: client statements, server transactions, CPU time."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import pq

from dbos_queue.db import sql as _sql

# Statement text -> the name of its constant in dbos_queue._sql, to label the counts.
_LABELS = {v: k for k, v in vars(_sql).items() if k.isupper() and isinstance(v, str)}


def _label(query: Any) -> str:
    if isinstance(query, str):
        return _LABELS.get(query) or " ".join(query.split())[:40]
    return type(query).__name__


def _if_in_tx(conn: Any, label: str) -> str | None:
    return None if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE else label


class StatementCounter:
    """Count client round trips made through psycopg while active, by statement.

    Patches, for the duration of the ``with`` block, every psycopg entry point that
    sends one request and waits for its answer: ``Cursor.execute``/``executemany``
    (``Connection.execute`` goes through the cursor, so it is not counted twice), the
    BEGIN and COMMIT/ROLLBACK of ``conn.transaction()`` blocks, and ``commit()``/
    ``rollback()`` when a transaction is open; sync and async alike. (A statement's first
    server-side PREPARE, once per pooled connection, is not counted separately.)
    """

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._saved: list[tuple[type, str, Any]] = []

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _add(self, label: str) -> None:
        with self._lock:
            self.counts[label] += 1

    def _patch(
        self, cls: type, attr: str, label: Callable[[tuple], str | None], is_async: bool
    ) -> None:
        orig = getattr(cls, attr)
        self._saved.append((cls, attr, orig))
        add = self._add
        wrapper: Callable[..., Any]
        if is_async:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                name = label(args)
                if name is not None:
                    add(name)
                return await orig(*args, **kwargs)

            wrapper = async_wrapper
        else:

            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                name = label(args)
                if name is not None:
                    add(name)
                return orig(*args, **kwargs)

            wrapper = sync_wrapper

        setattr(cls, attr, wrapper)

    def __enter__(self) -> StatementCounter:
        stmt = lambda a: _label(a[1])  # noqa: E731 - (self, query, ...)
        for cls, is_async in ((psycopg.AsyncCursor, True), (psycopg.Cursor, False)):
            self._patch(cls, "execute", stmt, is_async)
            self._patch(cls, "executemany", lambda a: "executemany " + _label(a[1]), is_async)
        for cls, is_async in ((psycopg.AsyncConnection, True), (psycopg.Connection, False)):
            # An autocommit connection (or any idle one) sends nothing on commit/rollback;
            # psycopg_pool calls commit() every time a connection goes back to the pool.
            self._patch(cls, "commit", lambda a: _if_in_tx(a[0], "COMMIT"), is_async)
            self._patch(cls, "rollback", lambda a: _if_in_tx(a[0], "ROLLBACK"), is_async)
        self._patch(psycopg.AsyncTransaction, "__aenter__", lambda a: "BEGIN", True)
        self._patch(
            psycopg.AsyncTransaction,
            "__aexit__",
            lambda a: "COMMIT" if a[1] is None else "ROLLBACK",
            True,
        )
        self._patch(psycopg.Transaction, "__enter__", lambda a: "BEGIN", False)
        self._patch(
            psycopg.Transaction,
            "__exit__",
            lambda a: "COMMIT" if a[1] is None else "ROLLBACK",
            False,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        for cls, attr, orig in reversed(self._saved):
            setattr(cls, attr, orig)
        self._saved.clear()


class ServerStats:
    """Server-side counters of one database, read from another database on the same server.

    ``pg_stat_database.xact_commit`` counts committed transactions in the benchmark
    database; a backend reports its counts at most once a second while busy and for
    sure when it exits, so read them only after every connection to it is closed
    (:meth:`wait_idle`). WAL fsyncs (``pg_stat_io``, PostgreSQL 18+) are server-wide.
    """

    def __init__(self, admin_url: str, dbname: str) -> None:
        self.admin_url, self.dbname = admin_url, dbname

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no backend is connected to the database; False on timeout."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.dbname,)
                ).fetchone()
                if row is not None and row[0] == 0:
                    return True
                time.sleep(0.05)
        return False

    def snapshot(self) -> dict[str, int | None]:
        """Current xact_commit, xact_rollback and (when available) WAL fsync counts."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
                (self.dbname,),
            ).fetchone()
            out: dict[str, int | None] = {
                "xact_commit": row[0] if row else None,
                "xact_rollback": row[1] if row else None,
            }
            try:
                r = conn.execute(
                    "SELECT sum(fsyncs)::bigint FROM pg_stat_io WHERE object = 'wal'"
                ).fetchone()
                out["wal_fsyncs"] = r[0] if r else None
            except psycopg.Error:
                out["wal_fsyncs"] = None
        return out


@contextlib.contextmanager
def cpu_time(
    server_pid: int | None, threads: dict[str, int] | None = None
) -> Iterator[dict[str, float | None]]:
    """Measure CPU seconds used over the block by this process (``client_cpu_s``), by the
    named threads of it (``threads``: name -> native thread id; ``<name>_cpu_s``) and, if
    ``server_pid`` is given, by that Postgres server (the postmaster and its children);
    ``machine_busy_s`` is the CPU time every process of the machine used (/proc/stat)."""
    threads = threads or {}
    out: dict[str, float | None] = {"client_cpu_s": None, "server_cpu_s": None}
    before, tbefore, mbefore = _server_cpu(server_pid), _thread_cpu(), _machine_busy()
    t0 = time.process_time()
    try:
        yield out
    finally:
        out["client_cpu_s"] = time.process_time() - t0
        after, tafter, mafter = _server_cpu(server_pid), _thread_cpu(), _machine_busy()
        if mbefore is not None and mafter is not None:
            out["machine_busy_s"] = mafter - mbefore
        if before is not None and after is not None:
            out["server_cpu_s"] = sum(v - before.get(pid, 0.0) for pid, v in after.items())
        for name, tid in threads.items():
            if tid in tafter:
                out[f"{name}_cpu_s"] = tafter[tid] - tbefore.get(tid, 0.0)


def _machine_busy() -> float | None:
    """CPU seconds spent not idle by the whole machine since boot (Linux only)."""
    try:
        import os

        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _thread_cpu() -> dict[int, float]:
    try:
        import psutil

        return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}
    except Exception:
        return {}


def _server_cpu(pid: int | None) -> dict[int, float] | None:
    if pid is None:
        return None
    try:
        import psutil

        root = psutil.Process(pid)
        out = {}
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out
    except Exception:
        return None
