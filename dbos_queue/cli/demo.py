"""``dbos-queue demo``: a pool of workers shares a queue and survives a killed worker.

Three worker processes serve one queue with a global concurrency limit; a separate
producer process enqueues the workflows with a ``DBOSClient``. Part-way through, the
busiest worker is killed with SIGKILL. Its workflows stay PENDING until its lease
expires (``executor_lease_sec`` is a few seconds here); then they go back to the
queue and the other workers finish them, from their last recorded steps. The last
line is computed from the database and the demo's side-effect table
(``demo_stats.outcome``). The command stops its processes on any exit (Ctrl-C too).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Generator
from typing import Any

from rich.console import Console
from rich.live import Live

from dbos_queue.cli import demo_stats as stats
from dbos_queue.cli import procs
from dbos_queue.cli.demo_app import CONCURRENCY, LEASE_SECONDS, QUEUE_ENV, RUN_ENV, STEPS, URL_ENV
from dbos_queue.cli.demo_view import View, WorkerRow
from dbos_queue.db import sql as _sql

WORKERS = 3
KILL_AT = 0.3  # fraction of the workflows finished when a worker is killed
START_TIMEOUT = 60.0  # seconds for the workers to say "ready"
STALL_TIMEOUT = 45.0  # fail when nothing finishes for this long (a lease is a few seconds)
POLL = 0.2  # seconds between database reads


class DemoError(Exception):
    """The demo could not go on (a process died, nothing moved): reported, exit 1."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Generator[None]:
    """SIGTERM ends the demo the way Ctrl-C does, through the same cleanup."""

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class QueueDemo:
    """One run: its queue, its processes, its view."""

    def __init__(self, url: str, workflows: int, console: Console) -> None:
        self.url, self.n, self.console = url, workflows, console
        self.conn: Any = None  # the connection the live view reads through
        self.run = uuid.uuid4().hex[:8]
        self.queue = f"dbos-queue-demo-{self.run}"
        self.children: list[procs.Child] = []
        self.workers: list[procs.Child] = []
        self.producer: procs.Child | None = None
        self.victim: procs.Child | None = None
        self.held: set[str] = set()
        self.enqueued = 0
        self.killed_at = 0.0
        self.took_over_at: float | None = None

    # --- processes -----------------------------------------------------------------

    def start(self) -> View:
        """Start the workers, wait until they are ready, then start the producer."""
        env = {URL_ENV: self.url, QUEUE_ENV: self.queue, RUN_ENV: self.run}
        for i in range(1, WORKERS + 1):
            w = procs.worker("dbos_queue.cli.demo_app", self.queue, f"demo-{self.run}-w{i}", env)
            w.name = f"w{i}"
            self.workers.append(w)
            self.children.append(w)
        procs.wait_ready(self.workers, START_TIMEOUT)
        pids = ", ".join(f"{w.name} {w.pid}" for w in self.workers)
        self.say(f"{WORKERS} workers ready on queue {self.queue} (pids {pids})")
        cmd = [sys.executable, "-m", "dbos_queue.cli.demo_app", "produce", self.url]
        self.producer = procs.Child([*cmd, self.queue, str(self.n)], env, "producer")
        self.children.append(self.producer)
        self.say(f"producer started (pid {self.producer.pid}): enqueuing {self.n} workflows")
        rows = [WorkerRow(w.name, self.executor(w), w.pid) for w in self.workers]
        return View(self.queue, self.n, rows)

    def executor(self, w: procs.Child) -> str:
        """The executor id a worker runs under (what workflow_status records)."""
        return f"demo-{self.run}-{w.name}"

    def stop(self) -> None:
        """Stop and reap every process started so far."""
        procs.stop_all(self.children)

    def say(self, text: str) -> None:
        """One event line, printed above the live view."""
        # Never wrapped: one event, one line (a terminal folds it; a script can grep it).
        self.console.print(f"[bold blue]demo[/]: {text}", highlight=False, soft_wrap=True)

    # --- the run -----------------------------------------------------------------------

    def _read_producer(self) -> None:
        p = self.producer
        assert p is not None
        while line := p.read_line(0):  # None: nothing now; "": its output ended
            if line.startswith("enqueued "):
                self.enqueued = int(line.split()[1])
        if p.proc.poll() not in (None, 0):
            raise DemoError(f"the producer exited with code {p.proc.returncode}{p.tail()}")

    def _kill_busiest(self, snap: stats.Snapshot, view: View) -> None:
        busy = [w for w in self.workers if snap.running.get(self.executor(w), 0) > 0]
        if not busy:
            return
        victim = max(busy, key=lambda w: snap.running[self.executor(w)])
        victim.kill()
        self.victim = victim
        self.killed_at = time.monotonic()
        self.held = set(stats.held_by(self.conn, self.queue, self.executor(victim)))
        next(r for r in view.workers if r.pid == victim.pid).state = "killed"
        self.say(
            f"[red]SIGKILL[/] {victim.name} (pid {victim.pid}) holding {len(self.held)} "
            f"workflows; they stay PENDING, and count against the limit, until its "
            f"{LEASE_SECONDS:g}s lease expires"
        )

    def _watch_takeover(self, view: View) -> None:
        assert self.victim is not None
        takers = stats.taken_over(self.conn, self.held, self.executor(self.victim))
        names = {self.executor(w): w.name for w in self.workers}
        view.taken = dict(takers)
        if takers and self.took_over_at is None:
            self.took_over_at = time.monotonic()
            who = ", ".join(f"{names.get(e, e)} {c}" for e, c in takers.most_common())
            self.say(
                f"lease of {self.victim.name} expired {self.took_over_at - self.killed_at:.1f}s "
                f"after the kill: its workflows are back on the queue and being taken over "
                f"({who} so far)"
            )

    def _check_alive(self) -> None:
        for w in self.workers:
            if w is not self.victim and not w.alive():
                raise DemoError(f"{w.name} exited with code {w.proc.returncode}{w.tail()}")

    def loop(self, view: View, live: Live) -> None:
        """Read the queue until every workflow finished; kill a worker on the way."""
        last_done, last_change = -1, time.monotonic()
        while True:
            self._read_producer()
            snap = stats.snapshot(self.conn, self.queue)
            view.update(snap, self.enqueued)
            if self.victim is None and snap.done >= KILL_AT * self.n:
                self._kill_busiest(snap, view)
            elif self.victim is not None:
                self._watch_takeover(view)
            live.update(view.render())
            if snap.done >= self.n and self.enqueued >= self.n:
                return
            if snap.done != last_done:
                last_done, last_change = snap.done, time.monotonic()
            elif time.monotonic() - last_change > STALL_TIMEOUT:
                raise DemoError(f"nothing finished for {STALL_TIMEOUT:g}s ({snap.done}/{self.n})")
            self._check_alive()
            time.sleep(POLL)

    def verdict(self) -> stats.Outcome:
        """The outcome from the database; also says who took over what."""
        victim = self.victim
        killed = int(victim is not None and victim.proc.returncode == -signal.SIGKILL)
        executor = self.executor(victim) if victim is not None else ""
        result = stats.outcome(self.conn, self.queue, self.run, self.n, killed, executor, self.held)
        names = {self.executor(w): w.name for w in self.workers}
        if result.takers:
            who = ", ".join(f"{names.get(e, e)} {c}" for e, c in result.takers.most_common())
            self.say(f"taken over and finished by {who}: {_resumed(result.resumed_at)}")
        return result


def _resumed(resumed_at: Counter[int]) -> str:
    """``resumed_at`` (first step the taker ran -> workflows) in words."""
    parts: list[str] = []
    for k, count in sorted(resumed_at.items()):
        if k == 1:
            parts.append(f"{count} from step 1 (none recorded yet)")
        elif k > STEPS:
            parts.append(f"{count} with all {STEPS} steps recorded (only the finish left)")
        else:
            parts.append(f"{count} resumed at step {k}")
    return ", ".join(parts)


def _connect(url: str) -> Any:
    import psycopg

    from dbos_queue.db.rows import ROW_FACTORY
    from dbos_queue.model.pgurl import normalize

    # Rows by name (demo_stats reads ``row.status``), as on the package's own connections.
    return psycopg.connect(
        normalize(url), autocommit=True, connect_timeout=10, row_factory=ROW_FACTORY
    )


def run_demo(url: str, workflows: int, keep: bool) -> int:
    """The queue demo on ``url`` (already migrated); returns the exit code."""
    from dbos_queue.model.pgurl import redact

    console = Console(highlight=False)
    console.print(
        f"System database: {redact(url)}\n"
        f"{WORKERS} worker processes share one queue (global concurrency {CONCURRENCY}); a "
        f"separate producer enqueues {workflows} workflows of {STEPS} steps. Part-way "
        f"through, one worker is killed with SIGKILL.",
        soft_wrap=True,
    )
    with _connect(url) as conn:
        conn.execute(_sql.DEMO_CREATE_EFFECTS)
    demo = QueueDemo(url, workflows, console)
    interrupted = False
    with _terminate_as_interrupt():
        try:
            with _connect(url) as conn:
                demo.conn = conn
                return _run(demo, console)
        except KeyboardInterrupt:
            interrupted = True
            return 130
        finally:
            stopped = _clean_up(demo, url, keep)
            if interrupted:
                console.print(f"demo: interrupted; stopped its {stopped} processes")


def _clean_up(demo: QueueDemo, url: str, keep: bool) -> int:
    """Stop (and reap) every process the demo started; drop its rows unless ``keep``."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits too
    try:
        demo.stop()
        if not keep:  # on a fresh connection: an interrupt may have broken the other one
            with _connect(url) as conn:
                conn.execute(_sql.DEMO_DELETE_EFFECTS, (demo.run,))
                conn.execute(_sql.DELETE_QUEUE_WORKFLOWS, (demo.queue,))
                conn.execute(_sql.DELETE_QUEUE, (demo.queue,))
    finally:
        signal.signal(signal.SIGINT, previous)
    return len(demo.children)


def _run(demo: QueueDemo, console: Console) -> int:
    try:
        view = demo.start()
        with Live(view.render(), console=console, refresh_per_second=8) as live:
            demo.loop(view, live)
        if not console.is_terminal:
            console.line()  # Live leaves its last frame without a newline off a terminal
        result = demo.verdict()
    except (DemoError, RuntimeError) as exc:
        console.print(f"demo failed: {exc}", markup=False)
        return 1
    print(result.line(), flush=True)
    return 0 if result.ok else 1
