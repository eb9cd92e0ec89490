"""The default format's writer: tagged JSON.

Plain JSON values are stored as they are, so rows written by SQL or non-Python
producers read back as ordinary values. Other supported types become an object
whose ``"$dbq"`` key names the type, e.g. ``{"$dbq": "tuple", "v": [1, 2]}``. A
dict with non-str keys, or whose keys include ``"$dbq"``, is stored as
``{"$dbq": "map", "v": [[k, v], ...]}`` so user data is never mistaken for a tag.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from zoneinfo import ZoneInfo

from dbos_queue.error import DBOSSerializationError
from dbos_queue.model.serialization.base import TAG, b64, class_path, safe_str, type_name

_INT_LIMIT = 1 << 63
# ``type`` typed for values of unknown type (typeshed's gives type[Unknown] for Any);
# a plain alias, so the hot path pays no extra call.
_type_of: Callable[[Any], type[Any]] = type
_SUPPORTED = (
    "convert it to a supported type (JSON values, tuple, set, bytes, datetime, Decimal, "
    "UUID, dataclass, pydantic model) or opt in to pickle with serializer='pickle' "
    "in the DBOS config"
)


class _Refused(Exception):
    """An unsupported value; ``path`` collects (kind, key) segments while unwinding."""

    def __init__(self, value: Any):
        self.value = value
        self.path: list[tuple[str, Any]] = []


def _is_plain(v: Any) -> bool:
    """True when json.dumps stores ``v`` losslessly with no tags (the fast path)."""
    t = _type_of(v)
    if t is str or t is bool or v is None:
        return True
    if t is int:
        return -_INT_LIMIT < v < _INT_LIMIT
    if t is float:
        return v - v == 0.0  # false for nan and +-inf
    if t is list:  # explicit loops: measurably faster than all() over a generator
        for x in v:
            if not _is_plain(x):
                return False
        return True
    if t is dict:
        if TAG in v:
            return False
        for k, x in v.items():
            if type(k) is not str or not _is_plain(x):
                return False
        return True
    return False


def _enc(v: Any) -> Any:
    t = _type_of(v)  # exact types: subclasses (IntEnum, OrderedDict...) must not pass as JSON
    if t is str or t is bool or v is None:
        return v
    if t is int:
        return v if -_INT_LIMIT < v < _INT_LIMIT else {TAG: "int", "v": hex(v)}
    if t is float:
        return v if v - v == 0.0 else {TAG: "float", "v": repr(v)}
    if t is list:
        return _enc_items(v)
    if t is dict:
        return _enc_dict(v)
    enc = _ENCODERS.get(t)
    return enc(v) if enc is not None else _enc_object(v)


def _child(x: Any, kind: str, key: Any) -> Any:
    # The location is recorded only on failure: the success path builds no strings.
    try:
        return _enc(x)
    except _Refused as r:
        r.path.append((kind, key))
        raise


def _enc_items(items: Any) -> list[Any]:
    return [_child(x, "[]", i) for i, x in enumerate(items)]


def _enc_dict(d: dict[Any, Any]) -> dict[str, Any]:
    if all(type(k) is str for k in d):
        return _escape_keys({k: _child(x, "[]", k) for k, x in d.items()})
    pairs = [[_child(k, "key", i), _child(x, "[]", k)] for i, (k, x) in enumerate(d.items())]
    return {TAG: "map", "v": pairs}


def _escape_keys(d: dict[str, Any]) -> dict[str, Any]:
    """An encoded str-keyed dict, stored as pairs if one of its keys is the tag."""
    return {TAG: "map", "v": [[k, x] for k, x in d.items()]} if TAG in d else d


def _enc_fields(v: Any, names: Any) -> dict[str, Any]:
    return _escape_keys({n: _child(getattr(v, n), ".", n) for n in names})


def _enc_clock(tag: str, v: datetime | time) -> dict[str, Any]:
    # The zone name is kept besides the offset so wall time, zone and fold come back exactly.
    out: dict[str, Any] = {TAG: tag, "v": v.isoformat()}
    if isinstance(v.tzinfo, ZoneInfo) and v.tzinfo.key:
        out["tz"] = v.tzinfo.key
    if v.fold:
        out["fold"] = 1
    return out


def _enc_object(v: Any) -> Any:
    """Values of application classes (looked up again on reading); refuses the rest."""
    cls = _type_of(v)
    if isinstance(v, BaseException):
        return _enc_exc(v)
    if isinstance(v, Enum):
        return {TAG: "enum", "c": class_path(cls), "v": _child(v.value, ".", "value")}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        names = [f.name for f in dataclasses.fields(v)]
        return {TAG: "dataclass", "c": class_path(cls), "v": _enc_fields(v, names)}
    if isinstance(v, tuple) and hasattr(cls, "_fields"):
        return {TAG: "namedtuple", "c": class_path(cls), "v": _enc_items(v)}
    pydantic = sys.modules.get("pydantic")  # never import pydantic just to check
    if pydantic is not None and isinstance(v, pydantic.BaseModel):
        model = cast(Any, v)  # pydantic is found at run time, so its types are not known here
        fields = _enc_fields(model, list(cls.model_fields) + list(model.model_extra or ()))
        return {
            TAG: "pydantic",
            "c": class_path(cls),
            "v": fields,
            "set": sorted(model.model_fields_set),
        }
    raise _Refused(v)


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    tuple: lambda v: {TAG: "tuple", "v": _enc_items(v)},
    set: lambda v: {TAG: "set", "v": _enc_items(v)},
    frozenset: lambda v: {TAG: "frozenset", "v": _enc_items(v)},
    bytes: lambda v: {TAG: "bytes", "v": b64(v)},
    bytearray: lambda v: {TAG: "bytearray", "v": b64(v)},
    datetime: lambda v: _enc_clock("datetime", v),
    date: lambda v: {TAG: "date", "v": v.isoformat()},
    time: lambda v: _enc_clock("time", v),
    timedelta: lambda v: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
}

_tls = threading.local()  # ids of exceptions being encoded on this thread: cuts cycles


def _try_enc(v: Any) -> tuple[bool, Any]:
    try:
        return True, _enc(v)
    except Exception:  # _Refused, or RecursionError on a cyclic value
        return False, None


def _enc_exc(exc: BaseException) -> Any:
    """Class path, args, str() and the __dict__ entries that encode; never raises."""
    active = cast("set[int]", _tls.__dict__.setdefault("active", set()))
    if id(exc) in active:
        return safe_str(repr, exc)
    active.add(id(exc))
    try:
        args: list[Any] = []
        for a in exc.args:
            ok, enc = _try_enc(a)
            args.append(enc if ok else safe_str(repr, a))
        attrs: dict[str, Any] = {}
        for k, x in list(vars(exc).items()):
            ok, enc = _try_enc(x)
            if ok:  # attributes that cannot be stored are dropped
                attrs[k] = enc
        return {
            TAG: "exception",
            "c": class_path(type(exc)),
            "args": args,
            "str": safe_str(str, exc),
            "dict": _escape_keys(attrs),
        }
    finally:
        active.discard(id(exc))


_SEGMENTS: dict[str, Callable[[Any], str]] = {
    "[]": lambda k: f"[{json.dumps(k) if type(k) is str else repr(k)}]",
    ".": lambda k: f".{k}",
    "key": lambda k: f".keys()[{k}]",
}


def _encode(value: Any, where: str) -> Any:
    """``value`` as JSON-ready data, or DBOSSerializationError naming the location."""
    try:
        return value if _is_plain(value) else _enc(value)
    except _Refused as r:
        loc = where + "".join(_SEGMENTS[kind](key) for kind, key in reversed(r.path))
        raise DBOSSerializationError(
            f"Cannot serialize {loc}: type {type_name(_type_of(r.value))} is not supported "
            f"by the default 'json' serializer; {_SUPPORTED}."
        ) from None
    except RecursionError:
        raise DBOSSerializationError(
            f"Cannot serialize {where}: it is nested too deeply or contains a reference cycle"
        ) from None


# One shared encoder: json.dumps with non-default options builds a new one per call.
# ensure_ascii (the default) writes NUL and lone surrogates as escapes, which a
# Postgres text column accepts.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def dumps_value(value: Any, where: str = "value") -> str:
    """The tagged JSON text of ``value``; DBOSSerializationError names what cannot be stored."""
    return _dumps(_encode(value, where))


def dumps_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Workflow inputs as ``{"args": [...], "kwargs": {...}}``, each argument named on error."""
    enc_args = [_encode(a, f"args[{i}]") for i, a in enumerate(args)]
    enc_kwargs = {k: _encode(x, f"kwargs[{k!r}]") for k, x in kwargs.items()}
    return _dumps({"args": enc_args, "kwargs": _escape_keys(enc_kwargs)})


def dumps_many_args(arguments: Iterable[Sequence[Any]]) -> list[str]:
    """``dumps_args(tuple(a), {})`` for each positional-argument tuple, in order: a tuple
    of plain values (most bulk enqueues) is written without walking it twice."""
    out: list[str] = []
    for a in arguments:
        args = list(a)
        if _is_plain(args):
            out.append('{"args":' + _dumps(args) + ',"kwargs":{}}')
        else:
            out.append(dumps_args(tuple(args), {}))
    return out


def dumps_exception(exc: BaseException) -> str:
    """The tagged JSON text of an error; never raises (unstorable parts become repr strings)."""
    try:
        return _dumps(_enc_exc(exc))
    except Exception:
        return _dumps(
            {
                TAG: "exception",
                "c": class_path(type(exc)),
                "args": [],
                "str": safe_str(repr, exc),
                "dict": {},
            }
        )
