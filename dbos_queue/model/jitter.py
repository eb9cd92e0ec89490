"""Random spread for timers (poll, tick and back-off intervals), from a generator of our own.

The library's timers run on background threads; drawing from the ``random`` module's
shared generator there would move the application's random sequence under it (a seeded
simulation, a property-based test generating data) at moments it cannot predict.
"""

from __future__ import annotations

import random

_rng = random.Random()


def jitter(low: float, high: float) -> float:
    """A uniform factor (or offset) in [low, high] for spreading a timer."""
    return _rng.uniform(low, high)
