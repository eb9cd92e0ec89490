"""The wall clock that lease expiry, delays, deadlines and cron ticks read.

Every time the library stores or compares (``*_epoch_ms`` columns, lease expiry,
``delay_until``, deadlines, schedule ticks) comes from ``now_ms()`` here, and the
statements take that ``now`` as a parameter instead of calling Postgres's ``now()``.
So a test can install a ``ManualClock`` and move time forward instead of sleeping:
``with use_clock(ManualClock()) as clock: clock.advance(30)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time in milliseconds since the epoch."""

    def now_ms(self) -> int:
        """The current time, in ms since the epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        """The system time now, in ms since the epoch."""
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = SystemClock().now_ms() if start_ms is None else start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """The time this clock was last set or advanced to."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> int:
        """Move forward by ``seconds``; returns the new time in ms."""
        with self._lock:
            self._now += int(seconds * 1000)
            return self._now


_clock: Clock = SystemClock()


def now_ms() -> int:
    """The current time from the installed clock, in ms since the epoch."""
    return _clock.now_ms()


def now_datetime() -> datetime:
    """The installed clock's time as an aware UTC datetime."""
    return datetime.fromtimestamp(_clock.now_ms() / 1000, UTC)


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` for this process; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Generator[Clock]:
    """Install ``clock`` for the duration of a ``with`` block."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
