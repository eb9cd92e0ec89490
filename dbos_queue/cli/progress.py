"""A tiny, dependency-free progress bar for long command-line operations.

On a terminal the bar is redrawn in place with ``\\r`` (at most every
``min_interval`` seconds) and finished with a newline. When the stream is not a
terminal (a pipe, a log file, CI) nothing is drawn while working and one summary
line is written when the operation ends. ``enabled=False`` (``--json``) writes
nothing at all, so machine output on stdout and stderr stays clean.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


class Progress:
    """``with Progress(total, "cancel") as bar: ... bar.advance(n) ...``"""

    def __init__(
        self,
        total: int | None,
        label: str,
        *,
        stream: IO[str] | None = None,
        enabled: bool = True,
        width: int = 30,
        min_interval: float = 0.1,
        unit: str = "",
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and _isatty(self.stream)
        self.width = width
        self.min_interval = min_interval
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_len = 0
        self._last_text = ""
        self._closed = False

    # --- updates -------------------------------------------------------------------

    def update(self, done: int, total: int | None = None) -> None:
        """Set the absolute count (and optionally a new total)."""
        self.done = done
        if total is not None:
            self.total = total
        self._maybe_draw()

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def _maybe_draw(self) -> None:
        if not self.tty or self._closed:
            return
        now = time.monotonic()
        if now - self._last_draw >= self.min_interval or (
            self.total is not None and self.done >= self.total
        ):
            self._last_draw = now
            self._draw(self.render())

    def _draw(self, text: str) -> None:
        if text == self._last_text:
            return
        self._last_text = text
        pad = max(0, self._last_len - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._last_len = len(text)

    # --- text ----------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _rate(self) -> str:
        elapsed = self.elapsed
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return f"{rate:,.0f}{self.unit}/s"

    def render(self) -> str:
        """The one-line bar as it would be drawn now."""
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        stats = f"{count} {self.elapsed:.1f}s {self._rate()}"
        if not self.total:
            return f"{self.label} {stats}"
        frac = min(1.0, max(0.0, self.done / self.total))
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        return f"{self.label} [{bar}] {frac * 100:3.0f}% {stats}"

    def summary(self) -> str:
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        return f"{self.label}: {count} in {self.elapsed:.1f}s ({self._rate()})"

    # --- end -----------------------------------------------------------------------

    def close(self, message: str | None = None) -> None:
        """Finish the bar (terminal) or write the one summary line (anything else)."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self.tty:
            self._draw(self.render())
            self.stream.write("\n")
            if message:
                self.stream.write(message + "\n")
        else:
            self.stream.write((message or self.summary()) + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None and self.tty and not self._closed:
            self._closed = True  # leave the partial bar; move past it
            self.stream.write("\n")
            self.stream.flush()
            return
        self.close()
