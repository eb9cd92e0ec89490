"""Progress bars for long commands (bench, bulk cancel/resume), drawn by Rich on stderr.

On a terminal: a Rich progress bar (description, bar, done/total, rate, elapsed).
Anywhere else (a pipe, a log file, CI): nothing while working, then one summary line,
``cancel: 2/2 in 0.1s (20/s)``. Disabled (``--json``): nothing at all, so machine
output stays clean.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


class RateColumn(TextColumn):
    """Items per second since the start."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Any:
        """The column's text for ``task``: completed items per elapsed second."""
        from rich.text import Text

        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f}/s", style="progress.data.speed")


class Bar:
    """``with Bar(total, "cancel") as bar: ... bar.advance(n) ...``"""

    def __init__(
        self,
        total: int | None,
        label: str,
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        console: Console | None = None,
    ) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.console = console or Console(file=self.stream, highlight=False)
        self.done = 0
        self.started = time.monotonic()
        self.live = enabled and self.console.is_terminal
        self.progress: Progress | None = None
        if self.live:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.task = self.progress.add_task(label, total=total)

    def restart_clock(self) -> None:
        """Count elapsed time (and the rate) from now."""
        self.started = time.monotonic()
        if self.progress is not None:
            self.progress.reset(self.task, total=self.total, completed=self.done)

    def update(self, done: int, total: int | None = None) -> None:
        """Set the absolute count (and optionally a new total)."""
        self.done = done
        if total is not None:
            self.total = total
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=self.total)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more done."""
        self.update(self.done + n)

    def summary(self) -> str:
        """The line written at the end when no bar was drawn."""
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        return f"{self.label}: {count} in {elapsed:.1f}s ({rate:,.0f}/s)"

    def __enter__(self) -> Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()  # leaves the last frame on screen
        elif self.enabled and exc_type is None:
            self.stream.write(self.summary() + "\n")
            self.stream.flush()
