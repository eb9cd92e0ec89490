"""Names every format shares: the ``Serializer`` base, format names, portable errors."""

from __future__ import annotations

import base64
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum
from typing import Any, cast

TAG = "$dbq"  # "$" cannot start an identifier, so field and kwarg names never collide
PICKLE_PREFIX = "pickle:"

# Names stored in the ``serialization`` column (DBOS's names where DBOS has the format).
JSON_FORMAT = "json"  # dbos_queue's tagged JSON, the default
PICKLE_FORMAT = "pickle"  # dbos_queue's opt-in pickle ("pickle:" + base64)
DBOS_PICKLE_FORMAT = "py_pickle"  # DBOS Python's default: bare base64 pickle
PORTABLE_FORMAT = "portable_json"  # DBOS's cross-language format: plain JSON


class Serializer(ABC):
    """Turns values into text and back; subclass it to plug in your own format."""

    @abstractmethod
    def serialize(self, data: Any) -> str:
        """Return the text stored for ``data``."""

    @abstractmethod
    def deserialize(self, serialized_data: str) -> Any:
        """Return the value stored as ``serialized_data``."""

    def name(self) -> str:
        """Name of the format (stored with each value in the ``serialization`` column)."""
        return "custom_serializer"


class WorkflowSerializationFormat(str, Enum):  # noqa: UP042  # StrEnum refuses the None member
    """Which format a workflow's inputs, output and error are stored in (DBOS's enum).

    ``PORTABLE`` is plain JSON any language can read and write (DBOS's portable JSON);
    ``NATIVE`` is this process's Python format; ``DEFAULT`` leaves the choice to the
    context: a workflow's inputs (a child's too) take the configured serializer, an
    event, message or stream value the calling workflow's format (else the configured
    serializer). Passing None means the same as ``DEFAULT``.
    """

    PORTABLE = "portable"
    NATIVE = "native"
    # Spelt as DBOS spells it: the str mixin makes the value str(None), "None", in DBOS too.
    DEFAULT = None  # type: ignore[assignment]


class PortableWorkflowError(Exception):
    """An error in portable form: what a non-Python producer (or a missing class) left.

    ``name`` is the error's type name, ``message`` its text, ``code`` and ``data`` the
    optional portable details (DBOS's fields). A stored exception whose class this
    process has not imported reads back as one of these, ``name`` being the class's
    ``module.qualname``.
    """

    def __init__(
        self, message: str, name: str, code: int | str | None = None, data: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.code = code
        self.data = data

    @property
    def original_type(self) -> str:
        """The original error's type name (same as ``name``)."""
        return self.name

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"PortableWorkflowError(message={self.message!r}, name={self.name!r}, "
            f"code={self.code!r}, data={self.data!r})"
        )


def type_name(cls: type) -> str:
    """``module.qualname`` of a class (what error messages show)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def class_path(cls: type) -> str:
    """``module:qualname`` ("``:``" splits module from qualname) as stored in tags."""
    return f"{cls.__module__}:{cls.__qualname__}"


def find_class(path: str) -> Any:
    """The class at ``module:qualname`` if its module is already imported, else None."""
    module, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def b64(v: bytes | bytearray) -> str:
    """Base64 text of bytes."""
    return base64.b64encode(v).decode("ascii")


def safe_str(f: Callable[[Any], str], v: Any) -> str:
    """``f(v)`` (str or repr), or a placeholder when that raises."""
    try:
        return f(v)
    except Exception:
        return f"<unprintable {type_name(cast('type[Any]', type(v)))}>"
