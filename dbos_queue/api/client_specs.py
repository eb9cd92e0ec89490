"""The specs (``api.twin``) of ``DBOSClient``'s own DBOS 3.4.0 methods: sending,
registering a queue, creating a schedule by workflow name, renaming an application.

Their parameters differ from ``DBOS``'s namesakes (a client's ``send`` takes
``idempotency_key`` by position) or ``DBOS`` has none; the methods both have are in
``api.specs``. A client is no workflow: nothing here is recorded as a step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from dbos_queue.api.handles import as_host
from dbos_queue.api.twin import Op
from dbos_queue.engine import comm as _comm
from dbos_queue.error import DBOSException
from dbos_queue.model import serialization as ser
from dbos_queue.model.records import SendMessage
from dbos_queue.ops import messages as _msgs
from dbos_queue.ops import queues as _queues
from dbos_queue.ops import rename as _rename
from dbos_queue.ops import schedules as _schedules
from dbos_queue.queue.settings import QueueRateLimit

if TYPE_CHECKING:
    from dbos_queue.api.queue import Queue

WorkflowSerializationFormat = ser.WorkflowSerializationFormat


def send(
    destination_id: str,
    message: Any,
    topic: str | None = None,
    idempotency_key: str | None = None,
    *,
    serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    send_to_forks: bool = False,
    shard_key: str | None = None,
) -> Op[None]:
    """Send a message to a workflow (delivered once per ``idempotency_key``), written in
    ``serialization_type``'s format."""
    message = ser.in_format(message, serialization_type)
    return lambda client: _send(
        client, destination_id, message, topic, idempotency_key, send_to_forks
    )


async def _send(
    client: Any, dest: str, message: Any, topic: str | None, key: str | None, to_forks: bool
) -> None:
    if to_forks:
        msgs = [SendMessage(dest, message, topic, key)]
        await _msgs.send_bulk(client, msgs, send_to_forks=True)
    else:
        await _comm.send(as_host(client), None, 0, dest, message, topic, key)


def send_bulk(
    messages: list[SendMessage],
    *,
    serialization_type: Any = WorkflowSerializationFormat.DEFAULT,
    send_to_forks: bool = False,
) -> Op[None]:
    """Send many messages in one transaction (all, or none if a destination is missing)."""
    msgs = checked_in_format(messages, serialization_type)
    return lambda client: _msgs.send_bulk(client, msgs, send_to_forks=send_to_forks)


def checked_in_format(messages: list[SendMessage], serialization_type: Any) -> list[SendMessage]:
    """The messages, checked, marked for ``serialization_type`` (PORTABLE: plain JSON, as
    DBOS writes it; DEFAULT: the configured serializer, a client has no workflow to
    inherit from)."""
    _msgs.check_messages(messages)
    return in_format(list(messages), serialization_type)


def in_format(messages: list[SendMessage], serialization_type: Any) -> list[SendMessage]:
    """The messages marked for ``serialization_type`` (see ``checked_in_format``)."""
    import dataclasses

    out: list[SendMessage] = []
    for m in messages:
        value = ser.in_format(m.message, serialization_type)
        out.append(m if value is m.message else dataclasses.replace(m, message=value))
    return out


def register_queue(
    name: str,
    *,
    global_concurrency: int | None = None,
    partition_concurrency: int | None = None,
    partition_worker_concurrency: int | None = None,
    partition_limiter: QueueRateLimit | None = None,
    limiter: QueueRateLimit | None = None,
    worker_concurrency: int | None = None,
    polling_interval_sec: float = 1.0,
    on_conflict: str = "always_update",
    application_name: str | None = None,
    concurrency: int | None = None,
) -> Op[Queue]:
    """Store a queue's settings (by default overwriting the stored ones); its Queue."""
    limits = {k: v for k, v in locals().items() if k not in _NOT_LIMITS}
    return lambda client: _register(client, name, on_conflict, application_name, limits)


_NOT_LIMITS = ("name", "on_conflict", "application_name")


async def _register(
    client: Any, name: str, on_conflict: str, app: str | None, limits: dict[str, Any]
) -> Queue:
    from dbos_queue.api.queue import queue_from_row
    from dbos_queue.queue.limits import register_queue_row
    from dbos_queue.queue.settings import declared_settings

    if on_conflict not in _queues.CONFLICT_POLICIES:
        raise ValueError(
            f"on_conflict must be one of {_queues.CONFLICT_POLICIES}, got {on_conflict!r}"
        )
    if on_conflict == "update_if_latest_version":  # as DBOS: a client has no version
        raise DBOSException(
            "DBOSClient.register_queue does not support on_conflict='update_if_latest_version': "
            "a client runs no application version. Use 'always_update' or 'never_update'."
        )
    s = declared_settings(name, partition_queue=False, **limits)
    owner = app if app is not None else getattr(client, "application_name", None)
    row = await register_queue_row(
        client.sysdb, s, on_conflict=on_conflict, owner=owner, app_version=None
    )
    return cast("Queue", queue_from_row(row, host=client) if row is not None else None)


def create_schedule(
    *,
    schedule_name: str,
    workflow_name: str,
    schedule: str,
    context: Any = None,
    workflow_class_name: str | None = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
    application_name: str | None = None,
    shard_key: str | None = None,
) -> Op[None]:
    """Store a schedule of the workflow named ``workflow_name`` (a deploy tool can manage
    the schedules of an application it does not import)."""
    options = dict(locals())  # create_named's arguments; application_name: the owner
    return lambda client: _schedules.create_named(_schedules.ClientHost(client), **options)


def rename_application(
    old_name: str | None,
    new_name: str,
    *,
    batch_size: int | None = _rename.DEFAULT_RENAME_BATCH_SIZE,
    adopt_unclaimed_rows: bool = False,
) -> Op[_rename.ApplicationRowCounts]:
    """Give ``new_name`` the rows ``old_name`` owns, and with ``adopt_unclaimed_rows``
    the rows nobody owns (``old_name=None``: only those). Do not run it while the
    renamed application runs. Finished workflows move ``batch_size`` at a time (None:
    in one transaction). Returns the rows moved, by table."""
    return lambda client: _rename.rename_application(
        client,
        old_name,
        new_name,
        batch_size=batch_size,
        adopt_unclaimed_rows=adopt_unclaimed_rows,
    )
