"""The worker's stop-signal wait (cli/signals.py), in a real process with real signals."""

from __future__ import annotations

import signal
import subprocess
import sys

SCRIPT = """
import signal, sys
from dbos_queue.cli.signals import StopSignals
stop = StopSignals(signal.SIGTERM, signal.SIGINT)
print("ready", flush=True)
print(stop.wait().name, flush=True)
sys.stdin.readline()  # the 'drain': a second signal now must not end the process
print("received", [signal.Signals(s).name for s in stop.received], flush=True)
"""


def test_first_signal_ends_the_wait_and_a_second_one_is_only_recorded():
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "SIGINT"
    proc.send_signal(signal.SIGTERM)  # during the drain: recorded, the process goes on
    out, _ = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    assert "received ['SIGINT', 'SIGTERM']" in out
