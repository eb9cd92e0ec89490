"""Waiting for a stop signal on the main thread without a lock in the handler.

A Python signal handler runs on the main thread between two bytecodes of whatever
it was doing. A handler that takes a lock — ``threading.Event.set``, a logging
call — deadlocks when the main thread it interrupted held that lock: a worker
waiting in ``Event.wait(1.0)`` is, at the instant its timeout ends, re-acquiring
the event's own lock, and a SIGTERM landing then hangs the process for good. So
the handler here only records the signal's number (a list append takes no lock),
and the main thread sleeps in ``select`` on the interpreter's wake-up descriptor,
which the C-level handler writes to: the wait ends at once, with no polling.
"""

from __future__ import annotations

import select
import signal
import socket
from types import FrameType


class StopSignals:
    """Install handlers for ``signums`` now; ``wait()`` returns the first that arrives."""

    def __init__(self, *signums: signal.Signals) -> None:
        self.received: list[int] = []
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        for signum in signums:
            signal.signal(signum, self._record)

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)  # nothing else: see the module's docstring

    def wait(self) -> signal.Signals:
        """Block until one of the signals was received (later ones are recorded too)."""
        try:
            while not self.received:
                select.select([self._read], [], [], 5.0)
                try:
                    self._read.recv(256)
                except BlockingIOError:
                    pass
            return signal.Signals(self.received[0])
        finally:
            signal.set_wakeup_fd(self._previous_fd)
            self._read.close()
            self._write.close()
