"""How workflow inputs, outputs, events, messages and errors are stored as text.

Formats (the name each one is stored under in a row's ``serialization`` column):

* ``"json"`` (the default): tagged JSON (``tagged_encode`` / ``tagged_decode``). Plain
  JSON values are stored as they are; other supported types become an object whose
  ``"$dbq"`` key names the type. Reading never imports a module named by a row.
* ``"portable_json"``: DBOS's cross-language plain JSON (``portable``), chosen per
  workflow with ``@DBOS.workflow(serialization_type=WorkflowSerializationFormat.PORTABLE)``
  or ``EnqueueOptions["serialization_type"]``, and written by the SQL producer
  function ``dbos.enqueue_workflow``. A workflow whose inputs are portable stores its
  output and error portably too, so a non-Python reader can use them.
* ``"pickle"``: opt-in (``configure("pickle")``); its text starts with ``"pickle:"`` and
  other processes refuse to read it. DBOS's own rows (``"py_pickle"``: bare base64
  pickle) are read the same way.
* a custom :class:`Serializer` writes; on reading, text that parses as JSON goes to
  the JSON reader and the rest to the custom one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

from dbos_queue.error import DBOSConfigError, DBOSSerializationError
from dbos_queue.model.serialization import portable as _portable
from dbos_queue.model.serialization import tagged_encode as _enc
from dbos_queue.model.serialization.base import (
    DBOS_PICKLE_FORMAT,
    JSON_FORMAT,
    PICKLE_FORMAT,
    PICKLE_PREFIX,
    PORTABLE_FORMAT,
    TAG,
    PortableWorkflowError,
    Serializer,
    WorkflowSerializationFormat,
)
from dbos_queue.model.serialization.pickled import PickleSerializer, pickle_refused
from dbos_queue.model.serialization.portable import DBOSPortableJSONSerializer, is_portable_args
from dbos_queue.model.serialization.tagged_decode import SafeJSONSerializer, loads

_SAFE = SafeJSONSerializer()
# (writer, pickle readable), replaced as one tuple so readers never see half an update.
_state: tuple[Serializer, bool] = (_SAFE, False)


def configure(spec: str | Serializer | None) -> None:
    """Choose the format: None/"json" (default), "pickle", or a Serializer instance."""
    global _state
    if spec is None or spec == JSON_FORMAT:
        _state = (_SAFE, False)
    elif spec in (PICKLE_FORMAT, DBOS_PICKLE_FORMAT):
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


def current_format() -> str:
    """The name of the configured writer's format."""
    return _state[0].name()


def format_for(serialization_type: Any, inherited: str | None = None) -> str | None:
    """The format name a value is written in: PORTABLE, NATIVE, or (DEFAULT/None) the
    ``inherited`` one (an event's, message's or stream value's calling workflow's format;
    a workflow's inputs inherit nothing); None means the configured serializer."""
    if serialization_type is None or serialization_type == WorkflowSerializationFormat.DEFAULT:
        return inherited
    kind = WorkflowSerializationFormat(serialization_type)
    if kind is WorkflowSerializationFormat.PORTABLE:
        return PORTABLE_FORMAT
    writer = _state[0]
    # NATIVE is this process's Python format: the configured one, unless that is portable.
    return JSON_FORMAT if writer.name() == PORTABLE_FORMAT else writer.name()


def args_format(text: str | None) -> str | None:
    """``"portable_json"`` when stored inputs are portable (how a run learns its format)."""
    return PORTABLE_FORMAT if is_portable_args(text) else None


def _writer(serialization: str | None) -> Serializer:
    writer = _state[0]
    if serialization is None:
        serialization = writer.name()
    if serialization == PORTABLE_FORMAT:  # DBOS's layout (positionalArgs...), whoever configured
        return _portable.PORTABLE
    if serialization == writer.name():
        return writer
    if serialization == JSON_FORMAT:
        return _SAFE
    if serialization in (PICKLE_FORMAT, DBOS_PICKLE_FORMAT):
        return PickleSerializer()
    raise DBOSSerializationError(
        f"Serialization {serialization!r} is not available in this process (its "
        f"serializer writes {writer.name()!r})"
    )


class PortableValue:
    """A value to be stored as portable JSON whatever the configured format (a message,
    event or stream value sent with ``serialization_type=PORTABLE``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def in_format(value: Any, serialization_type: Any, inherited: str | None = None) -> Any:
    """``value`` marked for its format: PORTABLE (or, for DEFAULT, a portable workflow's
    own format) wraps it so ``serialize`` writes portable JSON; otherwise unchanged."""
    if format_for(serialization_type, inherited) == PORTABLE_FORMAT:
        return PortableValue(value)
    return value


def serialize(value: Any, where: str = "value", serialization: str | None = None) -> str:
    """Store ``value`` as text; ``where`` names it in error messages (e.g. ``output``)."""
    if type(value) is PortableValue:
        return _portable.dumps_value(value.value, where)
    writer = _writer(serialization)
    if writer is _SAFE:
        return _enc.dumps_value(value, where)
    if writer is _portable.PORTABLE:
        return _portable.dumps_value(value, where)
    try:
        return writer.serialize(value)
    except DBOSSerializationError:
        raise
    except Exception as e:
        raise DBOSSerializationError(
            f"Cannot serialize {where} with the {writer.name()!r} serializer: {e!r}"
        ) from e


def serialize_value(
    value: Any, serialization_type: Any = None, where: str = "value"
) -> tuple[str, str]:
    """``(text, format name)`` for a value written in a WorkflowSerializationFormat."""
    name = format_for(serialization_type) or current_format()
    return serialize(value, where, name), name


def deserialize(text: str | None, serialization: str | None = None) -> Any:
    """The value stored as ``text`` (None stays None); ``serialization`` names its format."""
    if text is None:
        return None
    if serialization == PORTABLE_FORMAT:
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise DBOSSerializationError(f"Stored portable value is not JSON: {e}") from e
    writer, pickle_ok = _state
    custom = None if writer is _SAFE or pickle_ok else writer
    # Base64 of a protocol 2+ pickle starts with "gA": rows written by DBOS itself.
    if text.startswith(PICKLE_PREFIX) or (text.startswith("gA") and custom is None):
        if not pickle_ok:
            raise pickle_refused()
        try:
            return writer.deserialize(text)
        except Exception as e:
            raise DBOSSerializationError(f"Cannot unpickle stored value: {e!r}") from e
    try:
        return loads(text)
    except json.JSONDecodeError as e:
        if custom is not None:
            return custom.deserialize(text)
        raise DBOSSerializationError(f"Stored value is not valid JSON: {e}") from e


def serialize_args(
    args: tuple[Any, ...], kwargs: dict[str, Any], serialization: str | None = None
) -> str:
    """Store workflow inputs: ``{"args", "kwargs"}``, or portable ``{"positionalArgs",
    "namedArgs"}`` when ``serialization`` is ``"portable_json"``."""
    writer = _writer(serialization)
    if writer is _portable.PORTABLE:
        return _portable.dumps_args(tuple(args), dict(kwargs))
    if writer is not _SAFE:
        return serialize({"args": tuple(args), "kwargs": dict(kwargs)}, "inputs", writer.name())
    return _enc.dumps_args(tuple(args), dict(kwargs))


def serialize_many_args(
    arguments: Iterable[Sequence[Any]], serialization: str | None = None
) -> list[str]:
    """``serialize_args(tuple(a), {})`` for each positional-argument tuple (bulk enqueue)."""
    if _writer(serialization) is not _SAFE:
        return [serialize_args(tuple(a), {}, serialization) for a in arguments]
    return _enc.dumps_many_args(arguments)


def deserialize_args(
    text: str | None, serialization: str | None = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Workflow inputs as ``(args, kwargs)``; a bare JSON list is taken as the args."""
    if text is None:
        return (), {}
    if serialization == PORTABLE_FORMAT or is_portable_args(text):
        return _portable.loads_args(text)
    value = deserialize(text, serialization)
    if value is None:
        return (), {}
    if isinstance(value, (list, tuple)):
        return tuple(cast("list[Any] | tuple[Any, ...]", value)), {}
    if isinstance(value, dict):
        parts = cast("dict[str, Any]", value)
        args: Any = parts.get("args", parts.get("positionalArgs", ()))
        kwargs: Any = parts.get("kwargs", parts.get("namedArgs", {}))
        if isinstance(args, (list, tuple)) and isinstance(kwargs, dict):
            return tuple(cast("list[Any]", args)), dict(cast("dict[str, Any]", kwargs))
    raise DBOSSerializationError(
        "Stored workflow inputs are not of the form {'args': [...], 'kwargs': {...}}: "
        f"got {type(cast(object, value)).__name__}"
    )


def serialize_exception(exc: BaseException, serialization: str | None = None) -> str:
    """Store an error; never raises (parts that cannot be stored degrade to repr strings)."""
    if serialization == PORTABLE_FORMAT:
        return _portable.dumps_exception(exc)
    try:
        writer = _writer(serialization)
    except DBOSSerializationError:
        writer = _SAFE
    if writer is _portable.PORTABLE:  # the configured serializer is the portable one
        return _portable.dumps_exception(exc)
    if writer is not _SAFE:
        try:
            text = writer.serialize(exc)
            # Exceptions whose __init__ does not accept their own args pickle fine but
            # fail to unpickle: check now, while the JSON form can still be used.
            writer.deserialize(text)
            return text
        except Exception:
            pass
    return _enc.dumps_exception(exc)


def deserialize_exception(
    text: str | None, serialization: str | None = None
) -> BaseException | None:
    """The stored error; a stored non-exception comes back as a PortableWorkflowError."""
    if text is None:
        return None
    if serialization == PORTABLE_FORMAT:
        return _portable.loads_exception(text)
    value = deserialize(text, serialization)
    if value is None or isinstance(value, BaseException):
        return value
    if isinstance(value, dict):
        # The portable error shape other DBOS clients write: {"name", "message", ...}.
        err = cast("dict[str, Any]", value)
        message = err.get("message")
        if isinstance(message, str):
            return PortableWorkflowError(
                message, str(err.get("name", "")), err.get("code"), err.get("data")
            )
    return PortableWorkflowError(str(cast(object, value)), "")


__all__ = [
    "DBOS_PICKLE_FORMAT",
    "JSON_FORMAT",
    "PICKLE_FORMAT",
    "PICKLE_PREFIX",
    "PORTABLE_FORMAT",
    "TAG",
    "DBOSPortableJSONSerializer",
    "PickleSerializer",
    "PortableValue",
    "PortableWorkflowError",
    "SafeJSONSerializer",
    "Serializer",
    "WorkflowSerializationFormat",
    "args_format",
    "configure",
    "current",
    "current_format",
    "deserialize",
    "deserialize_args",
    "deserialize_exception",
    "format_for",
    "in_format",
    "serialize",
    "serialize_args",
    "serialize_exception",
    "serialize_value",
]


def input_fields(
    args: tuple[Any, ...], kwargs: dict[str, Any], serialization_type: Any = None
) -> dict[str, Any]:
    """INIT_WORKFLOW's ``inputs`` and ``serialization`` for a workflow written from outside
    a workflow (a client, a producer): in ``serialization_type``'s format."""
    fmt = format_for(serialization_type) or current_format()
    return {"inputs": serialize_args(tuple(args), dict(kwargs), fmt), "serialization": fmt}
