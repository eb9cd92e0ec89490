"""Errors of setup and of the calls around workflows: initialization, configuration,
serialization, queue declarations, observability queries, authorization.
"""

from __future__ import annotations

from typing import Any

from dbos_queue.error.base import DBOSErrorCode, DBOSException


class DBOSInitializationError(DBOSException):
    """DBOS could not start: bad configuration, unreachable database, wrong call order."""

    def __init__(self, message: str):
        super().__init__(message, DBOSErrorCode.InitializationError.value)


class DBOSConfigError(DBOSInitializationError):
    """A configuration value or key is wrong; the message says which and what to do."""


class DBOSDatabaseUnavailableError(DBOSInitializationError):
    """The system database could not be reached."""


class DBOSSchemaMissingError(DBOSException):
    """The system database lacks the ``dbos`` schema, or holds an older one: nothing has
    created or migrated it yet (a ``DBOSClient`` never does; ``DBOS.launch()`` does)."""

    def __init__(self, detail: str):
        super().__init__(
            f"The system database has no dbos schema, or an older one ({detail}). A client "
            "never creates it: launch a DBOS application on this database once "
            "(DBOS.launch() creates and migrates it), or run `dbos-queue migrate --db-url URL`."
        )


class DBOSSerializationError(DBOSException, TypeError):
    """A value cannot be stored: its type is not supported by the configured format."""

    def __init__(self, message: str):
        DBOSException.__init__(self, message, DBOSErrorCode.SerializationError.value)


class DBOSQueueSettingsError(DBOSException, ValueError):
    """Invalid queue settings. A ``ValueError``, as DBOS raises, and a ``DBOSException``."""


class DBOSQueueNotDeclaredError(DBOSException, LookupError):
    """An enqueue named a queue that no worker declared and ``dbos.queues`` does not hold;
    nothing was written (nothing would ever run it)."""

    def __init__(self, queue_name: str):
        self.queue_name = queue_name
        super().__init__(
            f"Queue {queue_name!r} is not declared by any worker; nothing was enqueued. "
            f"Declare it with Queue({queue_name!r}) or DBOS.register_queue({queue_name!r}) in "
            "the application whose workers run it (a launched worker stores it in dbos.queues; "
            "`dbos-queue queue list` shows the stored queues), then enqueue again."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.queue_name,))


class DBOSQueryTimeoutError(DBOSException):
    """An observability query ran past its statement timeout and was cancelled."""

    def __init__(self, timeout_seconds: float | str):
        self.timeout_seconds = timeout_seconds
        super().__init__(
            f"This query was cancelled after exceeding its {timeout_seconds:g}s statement timeout."
            if isinstance(timeout_seconds, (int, float))
            else str(timeout_seconds),  # older callers passed the message itself
            DBOSErrorCode.QueryTimeout.value,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.timeout_seconds,))


class DBOSNotAuthorizedError(DBOSException):
    """The caller lacks a role the workflow or step requires (HTTP 403)."""

    def __init__(self, msg: str):
        super().__init__(msg, DBOSErrorCode.NotAuthorized.value)
        self.status_code = 403
