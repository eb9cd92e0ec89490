"""Values on the command line: parsing arguments, and printing results as JSON or text."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import re
import uuid
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, cast

STATUSES = (
    "DELAYED",
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
)


NOT_GIVEN: Any = object()  # an option left out (unlike "none", which clears a limit)


class UsageError(ValueError):
    """Bad arguments found after parsing: reported with exit code 2."""


# --- values for output ----------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: datetimes, exceptions, UUIDs, Decimals as strings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in cast(dict[Any, Any], value).items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in cast(list[Any], value)]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v) for v in cast(set[Any], value)]
        try:
            return sorted(items)
        except TypeError:
            return items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return _jsonable_leaf(value)


def _jsonable_leaf(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, BaseException):
        return exc_text(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        try:
            return jsonable(dump(mode="json"))
        except Exception:
            pass
    return str(value)


def exc_text(exc: BaseException) -> str:
    """``Type: message`` (or just the type when the message is empty)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as UTC ISO-8601 text (second precision), for tables."""
    if ms is None:
        return None
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: Any, width: int = 48) -> str | None:
    """A value as compact JSON text, cut to ``width`` characters for a table cell."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(jsonable(value), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def status_dict(st: Any) -> dict[str, Any]:
    """A WorkflowStatus as a JSON-ready dict (DBOS's field names)."""
    return {f.name: jsonable(getattr(st, f.name)) for f in dataclasses.fields(st)}


# --- parsing ------------------------------------------------------------------------------


def parse_json_arg(text: str | None, flag: str, kind: type) -> Any:
    """A JSON array (``kind=list``) or object (``kind=dict``) given on the command line."""
    if text is None:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        want = "array, e.g. '[1, \"a\"]'" if kind is list else "object, e.g. '{\"k\": 1}'"
        raise UsageError(f"{flag} must be a JSON {want}; got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    for kind, name in (
        (dict, "an object"),
        (list, "an array"),
        (str, "a string"),
        ((int, float), "a number"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s``, ``500ms``, ``2w`` or plain seconds, as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if m is None or m.group(2) not in ("", *_UNITS):
        raise UsageError(f"expected a duration like 7d, 12h, 30m, 45s or seconds; got {text!r}")
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1)


def parse_time(text: str | None, flag: str) -> str | None:
    """An ISO-8601 time, checked (and passed on as given)."""
    if text is None:
        return None
    try:
        _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} takes an ISO-8601 time such as 2025-01-31T12:00:00Z; got {text!r}"
        ) from None
    return text


def parse_statuses(values: Sequence[str] | None, allowed: Sequence[str] = STATUSES) -> list[str]:
    """``--status A,B --status c`` as ``["A", "B", "C"]``; an unknown one is a UsageError."""
    out: list[str] = []
    for text in values or ():
        for part in text.split(","):
            s = part.strip().upper()
            if s not in allowed:
                raise UsageError(
                    f"unknown status {part.strip()!r} (choose from {', '.join(allowed)})"
                )
            out.append(s)
    return out


def parse_limit(text: str | None, flag: str) -> Any:
    """A queue limit: a positive integer, or none/unlimited/off to clear it."""
    if text is None:
        return NOT_GIVEN
    if text.lower() in ("none", "unlimited", "off"):
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{flag} takes a whole number or 'none', got {text!r}") from None


def parse_rate(text: str | None) -> Any:
    """A rate limit ``LIMIT/SECONDS`` (``100/1``, ``100/1s``), or none to clear it."""
    if text is None:
        return NOT_GIVEN
    if text.lower() in ("none", "unlimited", "off"):
        return None
    try:
        limit, _, period = text.partition("/")
        return {"limit": int(limit), "period": float(period.rstrip("s") or 1)}
    except ValueError:
        raise UsageError(f"--rate takes LIMIT/SECONDS (e.g. 100/1), got {text!r}") from None
