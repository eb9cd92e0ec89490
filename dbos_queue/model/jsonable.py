"""One conversion of deserialized workflow values into plain JSON types.

Used by the admin API, the dashboard and the command line's ``--json`` output:
inputs, outputs and step results may hold datetimes, bytes, Decimals, UUIDs,
dataclasses, pydantic models, exceptions or deep structures.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, cast

MAX_DEPTH = 50


def exc_text(exc: BaseException) -> str:
    """``Type: message`` (or just ``Type``) for an exception."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_json(exc: BaseException | None) -> dict[str, str] | None:
    """``{"type", "message"}`` for an exception, None for None."""
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": str(exc)}


def _scalar(value: Any) -> tuple[bool, Any]:
    """(handled, JSON value) for values that need no recursion."""
    if value is None or isinstance(value, (bool, int, str)):
        return True, value
    if isinstance(value, float):
        return True, value if math.isfinite(value) else str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return True, value.isoformat()
    if isinstance(value, _dt.timedelta):
        return True, value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return True, base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Decimal, uuid.UUID)):
        return True, str(value)
    return False, None


def jsonable(
    value: Any, *, exception: Callable[[BaseException], Any] = exc_text, depth: int = 0
) -> Any:
    """A JSON-ready copy of ``value``; ``exception`` renders exceptions (default: text)."""
    if depth > MAX_DEPTH:
        return repr(value)
    handled, out = _scalar(value)
    if handled:
        return out

    def again(v: Any) -> Any:
        return jsonable(v, exception=exception, depth=depth + 1)

    if isinstance(value, dict):
        mapping = cast("dict[Any, Any]", value)
        return {str(k): again(v) for k, v in mapping.items()}
    if isinstance(value, (list, tuple)):
        return [again(v) for v in cast("list[Any]", value)]
    if isinstance(value, (set, frozenset)):
        items = [again(v) for v in cast("set[Any]", value)]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, BaseException):
        return exception(value)
    return _structured(value, again)


def _structured(value: Any, again: Callable[[Any], Any]) -> Any:
    """Enums, dataclasses and pydantic models by their fields; anything else as text."""
    if isinstance(value, Enum):
        return again(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: again(getattr(value, f.name, None)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        try:
            return again(dump(mode="json"))
        except Exception:  # a model that cannot dump itself is shown as text
            pass
    return str(value)
