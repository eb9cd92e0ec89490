"""The queue demo's live view (Rich): progress, queue depth, per-worker counts, throughput."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dbos_queue.cli.demo_app import CONCURRENCY
from dbos_queue.cli.demo_stats import Snapshot


@dataclass
class WorkerRow:
    """One worker as the view shows it."""

    name: str  # w1, w2, w3
    executor: str
    pid: int
    state: str = "running"


@dataclass
class View:
    """State of the display; ``render()`` turns it into a Rich renderable."""

    queue: str
    total: int
    workers: list[WorkerRow]
    enqueued: int = 0
    snap: Snapshot = field(default_factory=Snapshot)
    taken: dict[str, int] = field(default_factory=dict[str, int])  # executor -> taken over
    started: float = field(default_factory=time.monotonic)
    _window: deque[tuple[float, int]] = field(  # (time, done) of the last few reads
        default_factory=lambda: deque[tuple[float, int]](maxlen=40)
    )

    def __post_init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]finished"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            expand=True,
        )
        self.task = self.bar.add_task("finished", total=self.total)

    def update(self, snap: Snapshot, enqueued: int) -> None:
        """New counts from the database (and the producer's progress)."""
        self.snap, self.enqueued = snap, enqueued
        self._window.append((time.monotonic(), snap.done))
        self.bar.update(self.task, completed=snap.done)

    def throughput(self) -> float:
        """Workflows finished per second over the last few seconds."""
        if len(self._window) < 2:
            return 0.0
        (t0, d0), (t1, d1) = self._window[0], self._window[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    def _workers_table(self) -> Table:
        table = Table(expand=True, show_edge=False)
        for col in ("worker", "pid", "state", "running", "finished", "took over"):
            table.add_column(col, justify="left" if col in ("worker", "state") else "right")
        for w in self.workers:
            style = "red" if w.state != "running" else ""
            table.add_row(
                w.name,
                str(w.pid),
                w.state,
                str(self.snap.running.get(w.executor, 0)),
                str(self.snap.finished.get(w.executor, 0)),
                str(self.taken.get(w.executor, 0) or ""),
                style=style,
            )
        return table

    def render(self) -> RenderableType:
        """The whole panel."""
        s = self.snap
        running = sum(s.running.values())
        header = Table.grid(padding=(0, 3))
        header.add_row(
            f"producer enqueued [bold]{self.enqueued}[/]/{self.total}",
            f"queue depth [bold]{s.depth}[/]",
        )
        header.add_row(
            f"running [bold]{running}[/]/{CONCURRENCY} (global concurrency)",
            f"throughput [bold]{self.throughput():.0f}[/] workflows/s",
        )
        return Panel(
            Group(header, self.bar, self._workers_table()),
            title=f"dbos-queue demo: queue {self.queue}",
            border_style="blue",
        )
