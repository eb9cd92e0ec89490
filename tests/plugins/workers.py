"""Real worker processes (``dbos-queue worker tests.apps.queue_app``) for queue tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(
        self,
        url: str,
        queues: list[str],
        extra_env: dict,
        args: list[str],
        app: str = "tests.apps.queue_app",
        url_env: str = "QUEUE_APP_URL",
    ) -> None:
        env = dict(os.environ, **{url_env: url}, **extra_env)
        cmd = [sys.executable, "-m", "dbos_queue.cli", "worker", app]
        for q in queues:
            cmd += ["--queue", q]
        self.proc = subprocess.Popen(
            [*cmd, "--admin-port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the worker says it is ready
        if "ready" not in line:
            out, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"worker did not start: {line}{out}{err}")
        self.pid = self.proc.pid
        # Drain stderr as it comes: a worker that logs more than a pipe holds (retries while
        # Postgres restarts) would otherwise block in write() and stall its engine thread.
        self._err: list[str] = []
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()
        self.admin_port = int(line.split("admin_port=")[1]) if "admin_port=" in line else None

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line)

    def _stderr(self) -> str:
        self._err_reader.join(timeout=10)
        return "".join(self._err)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            # The worker prints its threads' stacks on SIGUSR1 (cli/worker.py): where is it stuck?
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1)  # no event to await: faulthandler writes straight to stderr
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=10)
            err = self._stderr()
            raise AssertionError(f"worker did not stop within {timeout}s\n{err[-12000:]}") from exc
        return self.proc.returncode, out, self._stderr()


@pytest.fixture
def app_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE runs (workflow_id text, queue text, tag text, pid int,"
            " started double precision, ended double precision)"
        )
        conn.execute("CREATE TABLE step_runs (workflow_id text, step int, pid int)")
    return db_url


@pytest.fixture
def start_worker(app_db: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*queues: str, env: dict | None = None, args: list[str] | None = None) -> Worker:
        w = Worker(app_db, list(queues), env or {}, args or [])
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.communicate(timeout=30)
