"""Workflow ids: UUIDs whose leading bits are the time they were made (RFC 9562, version 7).

An id made now sorts after the ids made before it, so the primary key of
``dbos.workflow_status`` receives every new row, and every claim's and completion's
lookup, at its right-hand edge, in pages that stay cached, instead of at a random leaf of
an index that outgrows memory with the history (10 million finished rows: W4 in
benchmarks/RESULTS.md). They are still UUIDs, as DBOS's ids; nothing reads meaning into
them.
"""

from __future__ import annotations

import os
import time

_RAND_B = (1 << 62) - 1


def uuid7(now_ms: int | None = None) -> str:
    """A fresh version-7 UUID string (48 bits of milliseconds, 74 random bits)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits: 12 for rand_a, 62 for rand_b
    value = (
        ((ms & 0xFFFF_FFFF_FFFF) << 80)
        | (0x7 << 76)
        | ((rand >> 68) << 64)
        | (0b10 << 62)
        | (rand & _RAND_B)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_workflow_id() -> str:
    """The id of a workflow started or enqueued without one."""
    return uuid7()
