"""Child processes of ``dbos-queue bench`` and ``dbos-queue demo``: workers and a producer.

Each child runs in a session of its own, so a Ctrl-C at the terminal reaches only the
command, which then stops its children itself (SIGTERM, then SIGKILL after a grace
period) and waits for them: none is left running, whatever ended the command.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time


class Child:
    """One child process; stdout is a pipe (read by the command), stderr a temp file."""

    def __init__(self, cmd: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.TemporaryFile(mode="w+", prefix=f"dbos-queue-{name}-")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        """Whether the process has not exited yet."""
        return self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        """The end of its stderr, as ``":\\n..."`` for an error message (or "")."""
        try:
            self.log.seek(0)
            text = self.log.read()[-chars:].strip()
        except (OSError, ValueError):
            return ""
        return f":\n{text}" if text else ""

    def read_line(self, timeout: float) -> str | None:
        """The next stdout line, "" at end of output, None when none came in ``timeout``."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, timeout))
        return self.proc.stdout.readline() if ready else None

    def kill(self) -> None:
        """SIGKILL, and wait until it is gone."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> None:
        """Ask it to stop (a worker drains and hands its work back)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; always reaps the process."""
        self.terminate()
        try:
            self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        finally:
            self.log.close()


def worker(
    app: str, queue: str, executor_id: str, env: dict[str, str], drain_s: float = 10
) -> Child:
    """``dbos-queue worker APP --queue QUEUE`` without an admin server."""
    cmd = [sys.executable, "-m", "dbos_queue.cli", "worker", app, "--queue", queue]
    cmd += ["--no-admin", "--drain-timeout", f"{drain_s:g}", "--executor-id", executor_id]
    return Child(cmd, dict(os.environ, **env), executor_id)


def wait_ready(children: list[Child], timeout: float) -> None:
    """Wait until every worker printed its "ready" line; RuntimeError if one cannot."""
    deadline = time.monotonic() + timeout
    for child in children:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{child.name} (pid {child.pid}) did not start in time")
            line = child.read_line(min(left, 0.5))
            if line is None:
                continue
            if "ready" in line:
                break
            if not line:  # it exited
                child.proc.wait(timeout=10)
                raise RuntimeError(
                    f"{child.name} exited with code {child.proc.returncode}{child.tail()}"
                )


def stop_all(children: list[Child], timeout: float = 30) -> None:
    """SIGTERM every child first (they drain in parallel), then reap each."""
    for child in children:
        child.terminate()
    for child in children:
        child.stop(timeout)
