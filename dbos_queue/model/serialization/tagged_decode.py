"""The default format's reader: tagged JSON back into Python values.

Reading never runs code the application did not choose: classes (dataclass,
pydantic model, Enum, NamedTuple, exception) are looked up only in modules already
in ``sys.modules``, never imported by a name read from a row. When the class is
missing a dataclass/pydantic value reads back as a dict of its fields, an Enum
member as its value, a NamedTuple as a tuple, an exception as
:class:`PortableWorkflowError`. Unknown tag names read back as plain dicts.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from zoneinfo import ZoneInfo

from dbos_queue.error import DBOSSerializationError
from dbos_queue.model.serialization.base import (
    JSON_FORMAT,
    PICKLE_PREFIX,
    TAG,
    PortableWorkflowError,
    Serializer,
    find_class,
)
from dbos_queue.model.serialization.pickled import pickle_refused
from dbos_queue.model.serialization.tagged_encode import dumps_value

_Tagged = dict[str, Any]  # one decoded JSON object (tag name, payload, details)


def _hashables(kind: Callable[[Any], Any], items: Any) -> Any:
    # A value whose class went missing reads back as a dict, which cannot be a set
    # element or dict key: return the items as a list rather than fail the whole read.
    try:
        return kind(items)
    except TypeError:
        return list(items)


def _dec_clock(d: _Tagged, parse: Callable[[str], Any]) -> Any:
    v = parse(d["v"])
    if "tz" in d:
        try:
            v = v.replace(tzinfo=ZoneInfo(d["tz"]))
        except (KeyError, ValueError):  # zone unknown here: keep the stored offset
            pass
    return v.replace(fold=1) if d.get("fold") else v


def _dec_class(
    d: _Tagged,
    accept: Callable[[type], bool],
    make: Callable[[Any, _Tagged], Any],
    fallback: Callable[[Any], Any],
) -> Any:
    """Rebuild with the application's class when found and accepted, else ``fallback``."""
    cls = find_class(d["c"])
    if cls is not None and accept(cls):
        try:
            return make(cls, d)
        except Exception:
            pass
    return fallback(d["v"])


def _make_dataclass(cls: type, d: _Tagged) -> Any:
    # Like pickle: restore the stored state without re-running __init__/__post_init__.
    obj = cast(Any, cls).__new__(cls)
    fields = cast(_Tagged, d["v"])
    for k, x in fields.items():
        object.__setattr__(obj, k, x)
    return obj


def _is_model_class(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def _make_model(cls: Any, d: _Tagged) -> Any:
    # The values already have their exact types, so no re-validation.
    return cls.model_construct(_fields_set=set(d.get("set", d["v"])), **d["v"])


def _rebuild_exc(
    cls: type[BaseException], args: tuple[Any, ...], attrs: dict[str, Any]
) -> BaseException:
    try:
        exc = cls(*args)
    except Exception:  # an __init__ that does not take its own args
        exc = cls.__new__(cls)
        exc.args = args
    exc.__dict__.update(attrs)  # also fixes what an __init__ fed with args got wrong
    return exc


def _dec_exc(d: _Tagged) -> BaseException:
    args, attrs, text = tuple(d.get("args", ())), d.get("dict", {}), d.get("str", "")
    cls = find_class(d["c"])
    if cls is not None and issubclass(cls, BaseException):
        try:
            return _rebuild_exc(cls, args, attrs)
        except Exception:
            pass
    err = PortableWorkflowError(text, d["c"].replace(":", "."))
    # The original's attributes come along (a ``code`` or ``data`` it had included).
    err.__dict__.update({k: x for k, x in attrs.items() if k not in ("message", "name")})
    return err


_DECODERS: dict[str, Callable[[_Tagged], Any]] = {
    "tuple": lambda d: tuple(d["v"]),
    "set": lambda d: _hashables(set, d["v"]),
    "frozenset": lambda d: _hashables(frozenset, d["v"]),
    "map": lambda d: _hashables(dict, [tuple(p) for p in d["v"]]),
    "bytes": lambda d: base64.b64decode(d["v"]),
    "bytearray": lambda d: bytearray(base64.b64decode(d["v"])),
    "int": lambda d: int(d["v"], 16),
    "float": lambda d: float(d["v"]),
    "datetime": lambda d: _dec_clock(d, datetime.fromisoformat),
    "date": lambda d: date.fromisoformat(d["v"]),
    "time": lambda d: _dec_clock(d, time.fromisoformat),
    "timedelta": lambda d: timedelta(*d["v"]),
    "decimal": lambda d: Decimal(d["v"]),
    "uuid": lambda d: uuid.UUID(d["v"]),
    "enum": lambda d: _dec_class(
        d, lambda c: issubclass(c, Enum), lambda c, d: c(d["v"]), lambda v: v
    ),
    "namedtuple": lambda d: _dec_class(
        d,
        lambda c: issubclass(c, tuple) and hasattr(cast(Any, c), "_fields"),
        lambda c, d: c(*d["v"]),
        lambda v: tuple(v),
    ),
    "dataclass": lambda d: _dec_class(d, dataclasses.is_dataclass, _make_dataclass, dict),
    "pydantic": lambda d: _dec_class(d, _is_model_class, _make_model, dict),
    "exception": _dec_exc,
}


def _hook(d: _Tagged) -> Any:
    # json calls this bottom-up, so a tagged object's contents are already decoded.
    tag = d.get(TAG)
    dec = _DECODERS.get(tag) if type(tag) is str else None
    return d if dec is None else dec(d)


def _loads(text: str) -> Any:
    """Parse the JSON format; JSONDecodeError when ``text`` is not JSON at all."""
    if TAG not in text:  # no tags: skip the per-object hook
        return json.loads(text)
    try:
        return json.loads(text, object_hook=_hook)
    except json.JSONDecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise DBOSSerializationError(f"Stored value is corrupt: {e!r}") from e


class SafeJSONSerializer(Serializer):
    """The default tagged JSON; reading it never runs code the application did not choose."""

    def name(self) -> str:
        """``json``: the default format's stored name."""
        return JSON_FORMAT

    def serialize(self, data: Any) -> str:
        """Tagged JSON of ``data``; DBOSSerializationError names a part it cannot store."""
        return dumps_value(data)

    def deserialize(self, serialized_data: str) -> Any:
        """Read tagged or plain JSON back; pickled text is refused rather than run."""
        if serialized_data.startswith(PICKLE_PREFIX):
            raise pickle_refused()
        try:
            return _loads(serialized_data)
        except json.JSONDecodeError as e:
            raise DBOSSerializationError(f"Stored value is not valid JSON: {e}") from e


def loads(text: str) -> Any:
    """Parse tagged JSON (plain JSON included); JSONDecodeError when it is not JSON."""
    return _loads(text)
