"""DBOS's portable JSON: plain JSON that any language can write and read.

Values are JSON (datetimes as RFC 3339 UTC strings, dates as ISO dates, Decimals as
fixed-point strings, tuples and sets as arrays); anything else is refused. Workflow
inputs are ``{"positionalArgs": [...], "namedArgs": {...}}`` and errors are
``{"name", "message", "code", "data"}``, read back as :class:`PortableWorkflowError`.
This is the format the SQL producer function ``dbos.enqueue_workflow`` writes.
"""

from __future__ import annotations

import inspect
import json
import math
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from dbos_queue.error import DBOSSerializationError
from dbos_queue.model.serialization.base import PORTABLE_FORMAT, PortableWorkflowError, Serializer

_CODE_ATTRS = ("code", "error_code", "errno", "status", "status_code")
_DATA_ATTRS = ("data", "details", "payload", "extra", "meta", "metadata")


def _rfc3339(dt: datetime) -> str:
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def portableify(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON data; DBOSSerializationError (a TypeError) when it has none."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DBOSSerializationError(
                f"Cannot serialize {where} as portable JSON: {value!r} is not a JSON number"
            )
        return value
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (list, tuple, set, frozenset)):
        items = cast("Iterable[Any]", value)
        return [portableify(v, f"{where}[{i}]") for i, v in enumerate(items)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in cast("Mapping[Any, Any]", value).items():
            if not isinstance(k, str):
                raise DBOSSerializationError(
                    f"Cannot serialize {where} as portable JSON: key {k!r} is not a string"
                )
            out[k] = portableify(v, f"{where}[{k!r}]")
        return out
    raise DBOSSerializationError(
        f"Cannot serialize {where} as portable JSON: type {type(value).__name__} has no "
        "JSON form; pass JSON values (str, int, float, bool, None, list, dict, datetime, "
        "date, Decimal) or use the native format"
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps_value(value: Any, where: str = "value") -> str:
    """The portable JSON text of ``value``."""
    return _dumps(portableify(value, where))


class DBOSPortableJSONSerializer(Serializer):
    """DBOS's portable JSON serializer: ``json.loads`` to read, portable JSON to write."""

    def name(self) -> str:
        """``portable_json``, DBOS's name for this format."""
        return PORTABLE_FORMAT

    def serialize(self, data: Any) -> str:
        """Plain JSON any language can read; refuses values that have no JSON form."""
        return dumps_value(data)

    def deserialize(self, serialized_data: str | None) -> Any:
        """Parse the JSON as it is (dates stay strings); None stays None."""
        return None if serialized_data is None else json.loads(serialized_data)


PORTABLE = DBOSPortableJSONSerializer()


def dumps_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Workflow inputs in portable form (DBOS's key order)."""
    named = portableify(dict(kwargs), "kwargs")
    positional = [portableify(a, f"args[{i}]") for i, a in enumerate(args)]
    return _dumps({"namedArgs": named, "positionalArgs": positional})


def is_portable_args(text: str | None) -> bool:
    """Whether stored inputs are in portable form (both writers start with one of these keys)."""
    return text is not None and (
        text.startswith('{"namedArgs"') or text.startswith('{"positionalArgs"')
    )


def loads_args(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` from portable inputs; missing or null parts are empty."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise DBOSSerializationError(
            "Stored portable workflow inputs must be a JSON object with positionalArgs and "
            f"namedArgs, got {type(value).__name__}"
        )
    parts = cast("dict[str, Any]", value)
    args: Any = parts.get("positionalArgs") or []
    kwargs: Any = parts.get("namedArgs") or {}
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise DBOSSerializationError(
            "Stored portable workflow inputs need positionalArgs as an array and namedArgs "
            "as an object"
        )
    return tuple(cast("list[Any]", args)), dict(cast("dict[str, Any]", kwargs))


def _first_attr(err: Any, names: tuple[str, ...]) -> tuple[bool, Any]:
    for attr in names:
        try:
            return True, getattr(err, attr)
        except Exception:
            continue
    return False, None


def error_data(err: BaseException) -> dict[str, Any]:
    """The portable payload of an error: name, message, code and data (best effort)."""
    try:
        message = str(err)
    except Exception:
        message = f"<unprintable {type(err).__name__}>"
    out: dict[str, Any] = {"name": type(err).__name__, "message": message}
    found, code = _first_attr(err, _CODE_ATTRS)
    out["code"] = code if found and (code is None or isinstance(code, (int, str))) else None
    for attr in _DATA_ATTRS:
        try:
            v = getattr(err, attr)
        except Exception:
            continue
        if callable(v):
            continue
        try:
            out["data"] = portableify(v)
        except Exception:  # never fail to record an error: keep its text instead
            out["data"] = str(v)
        break
    return out


def dumps_exception(err: BaseException) -> str:
    """An error in portable form; never raises."""
    try:
        return _dumps(error_data(err))
    except Exception:
        return _dumps({"name": type(err).__name__, "message": repr(err), "code": None})


def loads_exception(text: str) -> PortableWorkflowError:
    """A stored portable error as a PortableWorkflowError."""
    value = json.loads(text)
    if not isinstance(value, dict):
        return PortableWorkflowError(str(value), "Error")
    data = cast("dict[str, Any]", value)
    return PortableWorkflowError(
        str(data.get("message", "")),
        str(data.get("name", "Error")),
        data.get("code"),
        data.get("data"),
    )


def _coerce(value: Any, hint: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if hint is datetime:
            return datetime.fromisoformat(value)
        if hint is date:
            return datetime.fromisoformat(value).date()
    except (ValueError, OverflowError, TypeError):
        return value
    return value


def coerce_to_hints(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], skip_first: bool
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Turn portable date strings back into ``datetime``/``date`` where ``func``'s hints ask."""
    hints: dict[str, Any]
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = getattr(func, "__annotations__", {})
    if not hints:
        return args, kwargs
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return args, kwargs
    if skip_first:
        params = params[1:]
    new_args = tuple(
        _coerce(v, hints.get(params[i].name)) if i < len(params) else v for i, v in enumerate(args)
    )
    return new_args, {k: _coerce(v, hints.get(k)) for k, v in kwargs.items()}
