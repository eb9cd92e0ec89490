"""Cron strings: validation, time zones and the ticks between two instants."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter

from dbos_queue.error import DBOSException

logger = logging.getLogger("dbos_queue")

F = TypeVar("F", bound=Callable[..., Any])

POLL_SEC = 1.0  # schedule table poll (changes elsewhere also arrive by NOTIFY)
MAX_LATE_SEC = 60.0  # skip policy: a tick later than this is missed
MAX_TICKS_PER_PASS = 100  # catch-up: ticks fired per schedule per transaction
WAKE_PAYLOAD = "__dbos_schedules__"  # on the "queue" channel: re-read the schedules now


def check_cron(cron: Any, what: str, tz: tzinfo | None = None) -> None:
    """Raise DBOSException (with croniter's reason) unless ``cron`` is a usable cron."""
    if not isinstance(cron, str) or not cron.strip():
        raise DBOSException(
            f"Invalid cron schedule {cron!r} for {what}: expected a cron string "
            "such as '*/30 * * * * *' (6 fields, seconds first)"
        )
    try:
        croniter(cron, datetime.now(tz or UTC), second_at_beginning=True).get_next(datetime)
    except Exception as exc:
        raise DBOSException(f"Invalid cron schedule {cron!r} for {what}: {exc}") from None


def zone_of(name: str | None) -> tzinfo:
    """The IANA time zone ``name`` (UTC for None); DBOSException for an unknown name."""
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except Exception:
        raise DBOSException(f"Invalid cron_timezone {name!r}: not an IANA time zone name") from None


def to_ms(t: datetime) -> int:
    """Epoch milliseconds of an aware datetime (how ticks and watermarks are stored)."""
    return round(t.timestamp() * 1000)


def from_ms(ms: int, tz: tzinfo) -> datetime:
    """The aware datetime in ``tz`` of epoch milliseconds ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz)


def cron_ticks(
    cron: str, tz: tzinfo, after_ms: int, until_ms: int, cap: int
) -> tuple[list[datetime], datetime | None]:
    """Ticks in (after, until], at most ``cap``; and the next tick not returned."""
    it = croniter(cron, from_ms(after_ms, tz), second_at_beginning=True)
    out: list[datetime] = []
    while True:
        try:
            t = it.get_next(datetime)
        except Exception:
            return out, None
        if to_ms(t) > until_ms or len(out) >= cap:
            return out, t
        out.append(t)


def tick_workflow_id(schedule_name: str, tick: datetime) -> str:
    """The workflow id of one tick: the same tick fires once, fleet-wide."""
    return f"sched-{schedule_name}-{tick.isoformat()}"
