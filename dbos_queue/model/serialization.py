"""How workflow inputs, outputs, events, messages and errors are stored as text.

The default format ("json") is tagged JSON. Plain JSON values are stored as they
are, so rows written by SQL or non-Python producers read back as ordinary values.
Other supported types become an object whose ``"$dbq"`` key names the type, e.g.
``{"$dbq": "tuple", "v": [1, 2]}``. A dict with non-str keys, or whose keys
include ``"$dbq"``, is stored as ``{"$dbq": "map", "v": [[k, v], ...]}`` so user
data is never mistaken for a tag; unknown tag names read back as plain dicts.

Reading never runs code the application did not choose: classes (dataclass,
pydantic model, Enum, NamedTuple, exception) are looked up only in modules already
in ``sys.modules``, never imported by a name read from a row. When the class is
missing a dataclass/pydantic value reads back as a dict of its fields, an Enum
member as its value, a NamedTuple as a tuple, an exception as
:class:`PortableWorkflowError`. Classes defined inside functions (``<locals>`` in
the qualname) cannot be looked up, so they always take that fallback. Pydantic
private attributes are not stored.

Pickle is opt-in (``configure("pickle")``): its text starts with ``"pickle:"`` and
other processes refuse to read it. A custom :class:`Serializer` writes; on reading,
text that parses as JSON goes to the JSON reader and the rest to the custom one.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import pickle
import sys
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from dbos_queue.error import DBOSConfigError, DBOSSerializationError

TAG = "$dbq"  # "$" cannot start an identifier, so field and kwarg names never collide
PICKLE_PREFIX = "pickle:"
# Ints beyond 64 bits are stored as hex strings: other languages' JSON readers lose
# precision on them, and Python refuses to parse very long decimal literals.
_INT_LIMIT = 1 << 63
_SUPPORTED = (
    "convert it to a supported type (JSON values, tuple, set, bytes, datetime, Decimal, "
    "UUID, dataclass, pydantic model) or opt in to pickle with serializer='pickle' "
    "in the DBOS config"
)


class Serializer(ABC):
    """Turns values into text and back; subclass it to plug in your own format."""

    @abstractmethod
    def serialize(self, data: Any) -> str:
        """Return the text stored for ``data``."""

    @abstractmethod
    def deserialize(self, serialized_data: str) -> Any:
        """Return the value stored as ``serialized_data``."""

    def name(self) -> str:
        """Name of the format."""
        return "custom_serializer"


class PortableWorkflowError(Exception):
    """Stands in for a stored exception whose class this process has not imported."""

    def __init__(self, message: str = "", original_type: str = ""):
        super().__init__(message)
        self.message = message
        self.original_type = original_type  # "module.qualname" of the original class

    def __str__(self) -> str:
        return self.message


class _Refused(Exception):
    """An unsupported value; ``path`` collects (kind, key) segments while unwinding."""

    def __init__(self, value: Any):
        self.value = value
        self.path: list[tuple[str, Any]] = []


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"  # ":" splits module from qualname


def _find_class(path: str) -> Any:
    """The class at ``module:qualname`` if its module is already imported, else None."""
    module, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _is_plain(v: Any) -> bool:
    """True when json.dumps stores ``v`` losslessly with no tags (the fast path)."""
    t = type(v)
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
    t = type(v)  # exact types: subclasses (IntEnum, OrderedDict...) must not pass as JSON
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


def _enc_items(items: Any) -> list:
    return [_child(x, "[]", i) for i, x in enumerate(items)]


def _enc_dict(d: dict) -> dict:
    if all(type(k) is str for k in d):
        return _escape_keys({k: _child(x, "[]", k) for k, x in d.items()})
    pairs = [[_child(k, "key", i), _child(x, "[]", k)] for i, (k, x) in enumerate(d.items())]
    return {TAG: "map", "v": pairs}


def _escape_keys(d: dict) -> dict:
    """An encoded str-keyed dict, stored as pairs if one of its keys is the tag."""
    return {TAG: "map", "v": [[k, x] for k, x in d.items()]} if TAG in d else d


def _enc_fields(v: Any, names: Any) -> dict:
    return _escape_keys({n: _child(getattr(v, n), ".", n) for n in names})


def _enc_clock(tag: str, v: datetime | time) -> dict:
    # The zone name is kept besides the offset so wall time, zone and fold come back exactly.
    out: dict = {TAG: tag, "v": v.isoformat()}
    if isinstance(v.tzinfo, ZoneInfo) and v.tzinfo.key:
        out["tz"] = v.tzinfo.key
    if v.fold:
        out["fold"] = 1
    return out


def _enc_object(v: Any) -> Any:
    """Values of application classes (looked up again on reading); refuses the rest."""
    cls = type(v)
    if isinstance(v, BaseException):
        return _enc_exc(v)
    if isinstance(v, Enum):
        return {TAG: "enum", "c": _class_path(cls), "v": _child(v.value, ".", "value")}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        names = [f.name for f in dataclasses.fields(v)]
        return {TAG: "dataclass", "c": _class_path(cls), "v": _enc_fields(v, names)}
    if isinstance(v, tuple) and hasattr(cls, "_fields"):
        return {TAG: "namedtuple", "c": _class_path(cls), "v": _enc_items(v)}
    pydantic = sys.modules.get("pydantic")  # never import pydantic just to check
    if pydantic is not None and isinstance(v, pydantic.BaseModel):
        fields = _enc_fields(v, list(cls.model_fields) + list(v.model_extra or ()))
        return {
            TAG: "pydantic",
            "c": _class_path(cls),
            "v": fields,
            "set": sorted(v.model_fields_set),
        }
    raise _Refused(v)


def _b64(v: bytes | bytearray) -> str:
    return base64.b64encode(v).decode("ascii")


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    tuple: lambda v: {TAG: "tuple", "v": _enc_items(v)},
    set: lambda v: {TAG: "set", "v": _enc_items(v)},
    frozenset: lambda v: {TAG: "frozenset", "v": _enc_items(v)},
    bytes: lambda v: {TAG: "bytes", "v": _b64(v)},
    bytearray: lambda v: {TAG: "bytearray", "v": _b64(v)},
    datetime: lambda v: _enc_clock("datetime", v),
    date: lambda v: {TAG: "date", "v": v.isoformat()},
    time: lambda v: _enc_clock("time", v),
    timedelta: lambda v: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
}

_tls = threading.local()  # ids of exceptions being encoded on this thread: cuts cycles


def _safe_str(f: Callable[[Any], str], v: Any) -> str:
    try:
        return f(v)
    except Exception:
        return f"<unprintable {_type_name(type(v))}>"


def _try_enc(v: Any) -> tuple[bool, Any]:
    try:
        return True, _enc(v)
    except Exception:  # _Refused, or RecursionError on a cyclic value
        return False, None


def _enc_exc(exc: BaseException) -> Any:
    """Class path, args, str() and the __dict__ entries that encode; never raises."""
    active = _tls.__dict__.setdefault("active", set())
    if id(exc) in active:
        return _safe_str(repr, exc)
    active.add(id(exc))
    try:
        args = []
        for a in exc.args:
            ok, enc = _try_enc(a)
            args.append(enc if ok else _safe_str(repr, a))
        attrs = {}
        for k, x in list(vars(exc).items()):
            ok, enc = _try_enc(x)
            if ok:  # attributes that cannot be stored are dropped
                attrs[k] = enc
        return {
            TAG: "exception",
            "c": _class_path(type(exc)),
            "args": args,
            "str": _safe_str(str, exc),
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
            f"Cannot serialize {loc}: type {_type_name(type(r.value))} is not supported "
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


def _hashables(kind: Callable, items: Any) -> Any:
    # A value whose class went missing reads back as a dict, which cannot be a set
    # element or dict key: return the items as a list rather than fail the whole read.
    try:
        return kind(items)
    except TypeError:
        return list(items)


def _dec_clock(d: dict, parse: Callable[[str], Any]) -> Any:
    v = parse(d["v"])
    if "tz" in d:
        try:
            v = v.replace(tzinfo=ZoneInfo(d["tz"]))
        except (KeyError, ValueError):  # zone unknown here: keep the stored offset
            pass
    return v.replace(fold=1) if d.get("fold") else v


def _dec_class(d: dict, accept: Callable[[type], bool], make: Callable, fallback: Callable):
    """Rebuild with the application's class when found and accepted, else ``fallback``."""
    cls = _find_class(d["c"])
    if cls is not None and accept(cls):
        try:
            return make(cls, d)
        except Exception:
            pass
    return fallback(d["v"])


def _make_dataclass(cls: type, d: dict) -> Any:
    # Like pickle: restore the stored state without re-running __init__/__post_init__.
    obj = cls.__new__(cls)
    for k, x in d["v"].items():
        object.__setattr__(obj, k, x)
    return obj


def _is_model_class(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def _make_model(cls: Any, d: dict) -> Any:
    # The values already have their exact types, so no re-validation.
    return cls.model_construct(_fields_set=set(d.get("set", d["v"])), **d["v"])


def _rebuild_exc(cls: type, args: tuple, attrs: dict) -> BaseException:
    try:
        exc = cls(*args)
    except Exception:  # an __init__ that does not take its own args
        exc = cls.__new__(cls)
        exc.args = args
    exc.__dict__.update(attrs)  # also fixes what an __init__ fed with args got wrong
    return exc


def _dec_exc(d: dict) -> BaseException:
    args, attrs, text = tuple(d.get("args", ())), d.get("dict", {}), d.get("str", "")
    cls = _find_class(d["c"])
    if cls is not None and issubclass(cls, BaseException):
        try:
            return _rebuild_exc(cls, args, attrs)
        except Exception:
            pass
    err = PortableWorkflowError(text, d["c"].replace(":", "."))
    err.__dict__.update({k: x for k, x in attrs.items() if k not in err.__dict__})
    return err


_DECODERS: dict[str, Callable[[dict], Any]] = {
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
        d, lambda c: issubclass(c, tuple) and hasattr(c, "_fields"), lambda c, d: c(*d["v"]), tuple
    ),
    "dataclass": lambda d: _dec_class(d, dataclasses.is_dataclass, _make_dataclass, dict),
    "pydantic": lambda d: _dec_class(d, _is_model_class, _make_model, dict),
    "exception": _dec_exc,
}


def _hook(d: dict) -> Any:
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
        return "json"

    def serialize(self, data: Any) -> str:
        return _dumps(_encode(data, "value"))

    def deserialize(self, serialized_data: str) -> Any:
        if serialized_data.startswith(PICKLE_PREFIX):
            raise _pickle_refused()
        try:
            return _loads(serialized_data)
        except json.JSONDecodeError as e:
            raise DBOSSerializationError(f"Stored value is not valid JSON: {e}") from e


class PickleSerializer(Serializer):
    """Opt-in pickle. Unpickling runs code named by the data: only read trusted rows."""

    def name(self) -> str:
        return "pickle"

    def serialize(self, data: Any) -> str:
        return PICKLE_PREFIX + _b64(pickle.dumps(data))

    def deserialize(self, serialized_data: str) -> Any:
        # Without the prefix it is DBOS's own format: bare base64 pickle.
        return pickle.loads(base64.b64decode(serialized_data.removeprefix(PICKLE_PREFIX)))


def _pickle_refused() -> DBOSSerializationError:
    return DBOSSerializationError(
        "Stored value is in pickle format, which this process does not read because "
        "unpickling can run arbitrary code. If the data is trusted, enable it with "
        "serializer='pickle' in the DBOS config."
    )


_SAFE = SafeJSONSerializer()
# (writer, pickle readable), replaced as one tuple so readers never see half an update.
_state: tuple[Serializer, bool] = (_SAFE, False)


def configure(spec: str | Serializer | None) -> None:
    """Choose the format: None/"json" (default), "pickle", or a Serializer instance."""
    global _state
    if spec is None or spec == "json":
        _state = (_SAFE, False)
    elif spec in ("pickle", "py_pickle"):
        _state = (PickleSerializer(), True)
    elif isinstance(spec, Serializer):
        _state = (spec, isinstance(spec, PickleSerializer))
    else:
        raise DBOSConfigError(
            f"Unknown serializer {spec!r}: use 'json' (the default), 'pickle', "
            "or an instance of a Serializer subclass"
        )


def current() -> Serializer:
    """The serializer used for writing."""
    return _state[0]


def serialize(value: Any, where: str = "value") -> str:
    """Store ``value`` as text; ``where`` names it in error messages (e.g. ``output``)."""
    writer = _state[0]
    if writer is _SAFE:
        return _dumps(_encode(value, where))
    try:
        return writer.serialize(value)
    except DBOSSerializationError:
        raise
    except Exception as e:
        raise DBOSSerializationError(
            f"Cannot serialize {where} with the {writer.name()!r} serializer: {e!r}"
        ) from e


def deserialize(text: str | None) -> Any:
    """The value stored as ``text`` (None stays None)."""
    if text is None:
        return None
    writer, pickle_ok = _state
    custom = None if writer is _SAFE or pickle_ok else writer
    # Base64 of a protocol 2+ pickle starts with "gA": rows written by DBOS itself.
    if text.startswith(PICKLE_PREFIX) or (text.startswith("gA") and custom is None):
        if not pickle_ok:
            raise _pickle_refused()
        try:
            return writer.deserialize(text)
        except Exception as e:
            raise DBOSSerializationError(f"Cannot unpickle stored value: {e!r}") from e
    try:
        return _loads(text)
    except json.JSONDecodeError as e:
        if custom is not None:
            return custom.deserialize(text)
        raise DBOSSerializationError(f"Stored value is not valid JSON: {e}") from e


def serialize_args(args: tuple, kwargs: dict) -> str:
    """Store workflow inputs as ``{"args": [...], "kwargs": {...}}``."""
    if _state[0] is not _SAFE:
        return serialize({"args": tuple(args), "kwargs": dict(kwargs)}, "inputs")
    enc_args = [_encode(a, f"args[{i}]") for i, a in enumerate(args)]
    enc_kwargs = {k: _encode(x, f"kwargs[{k!r}]") for k, x in kwargs.items()}
    return _dumps({"args": enc_args, "kwargs": _escape_keys(enc_kwargs)})


def deserialize_args(text: str | None) -> tuple[tuple, dict]:
    """Workflow inputs as ``(args, kwargs)``; a bare JSON list is taken as the args."""
    value = deserialize(text)
    if value is None:
        return (), {}
    if isinstance(value, (list, tuple)):
        return tuple(value), {}
    if isinstance(value, dict):
        # positionalArgs/namedArgs: DBOS's portable JSON, written by other-language clients.
        args = value.get("args", value.get("positionalArgs", ()))
        kwargs = value.get("kwargs", value.get("namedArgs", {}))
        if isinstance(args, (list, tuple)) and isinstance(kwargs, dict):
            return tuple(args), dict(kwargs)
    raise DBOSSerializationError(
        "Stored workflow inputs are not of the form {'args': [...], 'kwargs': {...}}: "
        f"got {type(value).__name__}"
    )


def serialize_exception(exc: BaseException) -> str:
    """Store an error; never raises (parts that cannot be stored degrade to repr strings)."""
    writer = _state[0]
    if writer is not _SAFE:
        try:
            text = writer.serialize(exc)
            # Exceptions whose __init__ does not accept their own args pickle fine but
            # fail to unpickle: check now, while the JSON form can still be used.
            writer.deserialize(text)
            return text
        except Exception:
            pass
    try:
        return _dumps(_enc_exc(exc))
    except Exception:
        return _dumps(
            {
                TAG: "exception",
                "c": _class_path(type(exc)),
                "args": [],
                "str": _safe_str(repr, exc),
                "dict": {},
            }
        )


def deserialize_exception(text: str | None) -> BaseException | None:
    """The stored error; a stored non-exception comes back as a PortableWorkflowError."""
    value = deserialize(text)
    if value is None or isinstance(value, BaseException):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        # The portable error shape other DBOS clients write: {"name", "message", ...}.
        return PortableWorkflowError(value["message"], str(value.get("name", "")))
    return PortableWorkflowError(str(value), "")
