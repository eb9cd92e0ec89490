"""Pytest plugin: a real PgBouncer in transaction pooling mode in front of the suite's Postgres.

``pgbouncer`` (session) starts Debian's ``pgbouncer`` (installed with
``.ci/install_pgbouncer.sh`` when missing, as the dashboard test installs Chromium)
listening on 127.0.0.1 on a free port, forwarding every database name to the suite's
server: the embedded one's Unix socket folder, or the host of
``DBOS_QUEUE_TEST_DATABASE_URL``. ``pgb_url`` is the test's fresh ``db_url`` seen
through the pooler. Transaction pooling means consecutive transactions of one client
connection may run on different server connections, so session state (prepared
statements, LISTEN, SET, session advisory locks) does not survive between them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import psycopg.conninfo
import pytest

from dbos_queue.model.pgurl import database_name

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 300  # a first run may install the package (apt): allow a slow mirror
POOL_SIZE = 40  # server connections per database: a few workers' pools fit


def ensure_pgbouncer() -> str:
    """Path of the pgbouncer binary, installing Debian's package first when missing."""
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )
    if found is None:
        r = subprocess.run(
            ["bash", str(ROOT / ".ci" / "install_pgbouncer.sh")],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        assert r.returncode == 0, f"installing pgbouncer failed:\n{r.stdout}\n{r.stderr}"
        found = "/usr/sbin/pgbouncer"
    assert os.access(found, os.X_OK), f"{found} is not executable"
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(host: str) -> str | None:
    """PgBouncer refuses to run as root: as root, run it as the owner of the socket folder
    (the embedded server's system user, who alone may enter it) or as ``postgres``."""
    if os.geteuid() != 0:
        return None
    if host.startswith("/"):
        return pwd.getpwuid(os.stat(host).st_uid).pw_name
    return "postgres"


class PgBouncer:
    """One running pgbouncer process and how to reach databases through it."""

    def __init__(self, binary: str, server_url: str) -> None:
        info = psycopg.conninfo.conninfo_to_dict(server_url)
        host = str(info.get("host") or "/tmp")
        self.user = str(info.get("user") or "postgres")
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dbosq-pgbouncer-", dir="/tmp"))
        target = f"host={host} port={info.get('port') or 5432} user={self.user}"
        if info.get("password"):
            target += f" password={info['password']}"
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "\n".join([
                "[databases]",
                f"* = {target}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {self.dir / 'users.txt'}",
                "pool_mode = transaction",
                "max_client_conn = 2000",
                f"default_pool_size = {POOL_SIZE}",
                "server_idle_timeout = 10",
                # Hand out server connections in turn: a client's next transaction then
                # really lands elsewhere, so any leaked session state shows at once.
                "server_round_robin = 1",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {self.dir / 'pgbouncer.log'}",
                f"pidfile = {self.dir / 'pgbouncer.pid'}",
                "",
            ])
        )  # fmt: skip
        cmd = [binary]
        user = _run_as(host)
        if user is not None:
            shutil.chown(self.dir, user=user)
            for p in self.dir.iterdir():
                shutil.chown(p, user=user)
            cmd += ["-u", user]
        self.proc = subprocess.Popen(
            [*cmd, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pgbouncer exited: {self.proc.stderr.read()}{self.log()}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)  # nothing to wait on but the socket itself
        raise AssertionError(f"pgbouncer did not listen on {self.port}:\n{self.log()}")

    def url_for(self, direct_url: str) -> str:
        """The URL of ``direct_url``'s database, through this pooler."""
        return f"postgresql://{quote(self.user)}@127.0.0.1:{self.port}/{database_name(direct_url)}"

    def log(self) -> str:
        try:
            return (self.dir / "pgbouncer.log").read_text()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # immediate shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pgbouncer(pg_server_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer (transaction pooling) in front of the session's Postgres."""
    bouncer = PgBouncer(ensure_pgbouncer(), pg_server_url)
    yield bouncer
    bouncer.stop()


@pytest.fixture
def pgb_url(db_url: str, pgbouncer: PgBouncer) -> str:
    """The test's fresh, migrated database, reached through PgBouncer."""
    return pgbouncer.url_for(db_url)
