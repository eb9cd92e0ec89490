"""Opt-in pickle: only for rows this application trusts."""

from __future__ import annotations

import base64
import pickle
from typing import Any

from dbos_queue.error import DBOSSerializationError
from dbos_queue.model.serialization.base import PICKLE_FORMAT, PICKLE_PREFIX, Serializer, b64


class PickleSerializer(Serializer):
    """Opt-in pickle. Unpickling runs code named by the data: only read trusted rows."""

    def name(self) -> str:
        """``pickle``: the format name stored with values this serializer writes."""
        return PICKLE_FORMAT

    def serialize(self, data: Any) -> str:
        """Pickle ``data`` into prefixed base64 text, so readers can tell it from JSON."""
        return PICKLE_PREFIX + b64(pickle.dumps(data))

    def deserialize(self, serialized_data: str) -> Any:
        """Unpickle our prefixed text or DBOS's bare base64 pickle (trusted rows only)."""
        # Without the prefix it is DBOS's own format: bare base64 pickle.
        return pickle.loads(base64.b64decode(serialized_data.removeprefix(PICKLE_PREFIX)))


def pickle_refused() -> DBOSSerializationError:
    """The error for a pickled row in a process that has not opted in to pickle."""
    return DBOSSerializationError(
        "Stored value is in pickle format, which this process does not read because "
        "unpickling can run arbitrary code. If the data is trusted, enable it with "
        "serializer='pickle' in the DBOS config."
    )
